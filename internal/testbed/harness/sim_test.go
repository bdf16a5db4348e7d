package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSimEndpoint(t *testing.T) {
	for _, tc := range []struct {
		log, want string
		ok        bool
	}{
		{`time=2026-11-25T13:12:18.309Z level=INFO msg="awssim ready" addr=127.0.0.1:39427 endpoint=http://127.0.0.1:39427 org_id=o-x`, "http://127.0.0.1:39427", true},
		{"time=x level=INFO msg=\"loading\"\ntime=y level=INFO msg=\"awssim ready\" endpoint=http://127.0.0.1:5 org_id=o\n", "http://127.0.0.1:5", true},
		{`time=2026-11-25T13:12:18.309Z level=INFO msg="awssim stopped"`, "", false},
		{`msg="awssim ready" addr=0.0.0.0:1 endpoint=http://0.0.0.0:1`, "", false},
		{`msg="proxy ready" endpoint=http://127.0.0.1:9`, "", false},
	} {
		got, ok := simEndpoint([]byte(tc.log))
		if got != tc.want || ok != tc.ok {
			t.Errorf("simEndpoint(%q) = %q, %v; want %q, %v", tc.log, got, ok, tc.want, tc.ok)
		}
	}
}

// StartSim with a stand-in for the awssim binary: a script that prints the
// ready line, one that exits first, one that never gets ready.
func TestStartSim(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, body, wantEP, wantErr string
	}{
		{"ready", `echo "level=INFO msg=\"awssim ready\" endpoint=http://127.0.0.1:4242 args=$*" >&2; exec sleep 30`, "http://127.0.0.1:4242", ""},
		{"exits", "echo bad flag >&2; exit 2", "", "exited before ready"},
		{"silent", "exec sleep 30", "", "not ready within"},
		// A second awssim of the same name appends to the first one's log:
		// the first one's ready line must not be taken for its own.
		{"stale", "exec sleep 30", "", "not ready within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "stale" {
				old := "level=INFO msg=\"awssim ready\" endpoint=http://127.0.0.1:4343\n"
				if err := os.WriteFile(filepath.Join(dir, "stale.log"), []byte(old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, ep, err := StartSim(context.Background(), dir, tc.name, script(tc.name+".sh", tc.body), []string{"-seed", "1"}, time.Second)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			if ep != tc.wantEP {
				t.Errorf("endpoint %q, want %q", ep, tc.wantEP)
			}
			if b, _ := os.ReadFile(p.Log); !strings.Contains(string(b), "args=-addr 127.0.0.1:0 -seed 1") {
				t.Errorf("log %q: not started on port 0 with the args", b)
			}
		})
	}
}

// TestSimClientEnv: the machine's AWS settings never reach a client of awssim.
func TestSimClientEnv(t *testing.T) {
	env := SimClientEnv([]string{"PATH=/bin", "AWS_PROFILE=prod", "AWS_ENDPOINT_URL=http://elsewhere", "AWS_CA_BUNDLE=/x"}, "http://127.0.0.1:1")
	joined := strings.Join(env, "\n")
	for _, want := range []string{"PATH=/bin", "AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_ACCESS_KEY_ID=AKIDHUB"} {
		if !strings.Contains(joined, want) {
			t.Errorf("env lacks %s:\n%s", want, joined)
		}
	}
	for _, bad := range []string{"AWS_PROFILE", "elsewhere", "AWS_CA_BUNDLE"} {
		if strings.Contains(joined, bad) {
			t.Errorf("env keeps %s:\n%s", bad, joined)
		}
	}
}
