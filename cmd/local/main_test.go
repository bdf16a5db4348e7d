package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/awssim"
)

// TestMain runs the command itself when re-executed by a test.
func TestMain(m *testing.M) {
	if os.Getenv("LOCAL_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The binary with -out on a full disk (a 512 KiB tmpfs; root only): exit
// status 1 within seconds, and the error is one line naming the file and
// the run to resume, with no log lines before it.
func TestFullDiskExitsWithOneLine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	regions := []string{"us-east-1", "ap-east-1"}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 150, Seed: 3, Regions: regions, Rules: 6})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := awssim.New(awssim.Config{Org: org, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(dir, "out")
	// TestMain hands these to main before the testing flags are parsed.
	cmd := exec.CommandContext(ctx, os.Args[0], "-out", out, "-regions", strings.Join(regions, ","))
	cmd.Env = append(os.Environ(), "LOCAL_TEST_RUN_MAIN=1", "AWS_ENDPOINT_URL="+srv.URL,
		"AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret", "AWS_REGION=us-east-1",
		"AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\nstderr:\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q, want nothing", stdout.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	want := regexp.MustCompile(`^local: disk full writing ` + regexp.QuoteMeta(filepath.Join(out, "dedupe-store.sqlite")) +
		`: database or disk is full \(13\); free some space and rerun with -run-id \S+ to resume$`)
	if !want.MatchString(last) {
		t.Errorf("last line %q, want it to match %s", last, want)
	}
	for _, l := range lines[:len(lines)-1] {
		// Progress lines only: "run <id>: ...".
		if !strings.HasPrefix(l, "run ") {
			t.Errorf("stderr has a line besides progress and the error: %q", l)
		}
	}
}
