package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain runs main itself when the test binary is started by runMain,
// so the tests exercise the binary without building it.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("CONFIGREPORT_TEST_MAIN_ARGS"); ok {
		os.Args = append([]string{"trigger"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, env []string, args ...string) (int, string, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	dir := t.TempDir()
	cmd.Env = append([]string{
		"CONFIGREPORT_TEST_MAIN_ARGS=" + strings.Join(args, "\x1f"),
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=testsecret", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
	}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String(), el
}

// The trigger pointed at a closed port or a host that does not exist:
// exit 1 within 15 s, the last line naming the endpoint, whether the
// first call is the queue's lookup (a queue given by name) or the walk.
func TestUnreachableEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name, endpoint, queue, want, service string
	}{
		{"closed port, walk", "http://" + addr, "http://" + addr + "/000000000000/scan", addr, "Organizations"},
		{"closed port, queue lookup", "http://" + addr, "scan", addr, "SQS"},
		{"no such host, walk", "http://nonexistent.invalid:1", "http://nonexistent.invalid:1/000000000000/scan", "nonexistent.invalid:1", "Organizations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr, el := runMain(t, []string{"AWS_ENDPOINT_URL=" + tt.endpoint},
				"-regions", "us-east-1", "-scan-queue-url", tt.queue,
				"-results-topic-arn", "arn:aws:sns:us-east-1:000000000000:results", "-report-bucket", "reports")
			if code != 1 || el > 15*time.Second {
				t.Fatalf("exit %d after %s, want 1 within 15s\n%s", code, el, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "trigger: ") || !strings.Contains(last, "cannot reach the "+tt.service+" endpoint "+tt.want+": ") {
				t.Errorf("last line %q does not name the %s endpoint %s", last, tt.service, tt.want)
			}
			for _, l := range lines[:len(lines)-1] {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Errorf("log line %q: %v", l, err)
					continue
				}
				if m["msg"] == "retrying AWS call" && (m["level"] != "WARN" || m["attempt"] == nil) {
					t.Errorf("retry line %q: want warn with its attempt", l)
				}
			}
		})
	}
}
