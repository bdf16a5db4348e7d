package chaos_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/chaos"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// TestHelperProcess is the child of TestCrash: it hits the point named by
// CHAOS_TEST_HITS times, then prints "survived".
func TestHelperProcess(t *testing.T) {
	if os.Getenv("CHAOS_TEST_CHILD") != "1" {
		t.Skip("child process of TestCrash")
	}
	for range 3 {
		chaos.Point(chaos.AfterUpload)
		os.Stdout.WriteString("hit\n")
	}
	os.Stdout.WriteString("survived\n")
}

// TestHoldHelperProcess is the child of TestHold: it passes the hold point
// three times, printing "passed" after each, then prints "survived".
func TestHoldHelperProcess(t *testing.T) {
	if os.Getenv("CHAOS_TEST_CHILD") != "1" {
		t.Skip("child process of TestHold")
	}
	for range 3 {
		chaos.Hold(chaos.BeforeScan)
		os.Stdout.WriteString("passed\n")
	}
	os.Stdout.WriteString("survived\n")
}

type builds struct{ withTag, without string }

// buildDir holds the binaries TestCrash, TestHold and TestShippedBinaries
// share; TestMain removes it (made on first use: the children are this
// binary too, and a held child dies by SIGKILL).
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBoth builds this package's test binary with and without the chaos
// tag, once per test run.
var buildBoth = sync.OnceValues(func() (builds, error) {
	dir, err := os.MkdirTemp("", "chaos-test")
	if err != nil {
		return builds{}, err
	}
	buildDir = dir
	build := func(tags ...string) (string, error) {
		out := filepath.Join(dir, "chaos"+strings.Join(tags, "")+".test")
		args := append([]string{"test", "-c", "-o", out}, tags...)
		if b, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			return "", errors.New("go " + strings.Join(args, " ") + ": " + err.Error() + "\n" + string(b))
		}
		return out, nil
	}
	var b builds
	if b.withTag, err = build("-tags=chaos"); err != nil {
		return b, err
	}
	b.without, err = build()
	return b, err
})

func binaries(t *testing.T) (withTag, without string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds two test binaries")
	}
	b, err := buildBoth()
	if err != nil {
		t.Fatal(err)
	}
	return b.withTag, b.without
}

// TestCrash builds this package's test binary with and without the chaos
// tag and runs it as a child: only the chaos build dies, by SIGKILL, at the
// named point and on the named hit.
func TestCrash(t *testing.T) {
	withTag, without := binaries(t)
	tests := []struct {
		name     string
		bin      string
		env      []string
		killed   bool
		wantHits int
	}{
		{"default build ignores the variable", without, []string{"CHAOS_CRASH=" + chaos.AfterUpload}, false, 3},
		{"chaos build, no variable", withTag, nil, false, 3},
		{"chaos build, other point", withTag, []string{"CHAOS_CRASH=" + chaos.MidRender}, false, 3},
		{"chaos build, first hit", withTag, []string{"CHAOS_CRASH=" + chaos.AfterUpload}, true, 0},
		{"chaos build, third hit", withTag, []string{"CHAOS_CRASH=" + chaos.AfterUpload, "CHAOS_CRASH_AFTER=3"}, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.bin, "-test.run=^TestHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), append(tc.env, "CHAOS_TEST_CHILD=1")...)
			out, err := cmd.Output()
			hits := strings.Count(string(out), "hit\n")
			var ee *exec.ExitError
			killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
			if killed != tc.killed {
				t.Fatalf("killed by SIGKILL = %v, want %v (err %v); output:\n%s", killed, tc.killed, err, out)
			}
			if hits != tc.wantHits {
				t.Errorf("%d hits before the end, want %d", hits, tc.wantHits)
			}
			if !tc.killed && (err != nil || !strings.Contains(string(out), "survived")) {
				t.Errorf("child failed: %v\n%s", err, out)
			}
			if tc.killed && !strings.Contains(string(ee.Stderr), "chaos: crash point "+chaos.AfterUpload) {
				t.Errorf("no crash line on stderr: %q", ee.Stderr)
			}
		})
	}
}

// TestHold runs the child of both builds: only the chaos build holds, and
// only after the given number of passes; it is then alive and stuck until
// killed.
func TestHold(t *testing.T) {
	withTag, without := binaries(t)
	hold := chaos.EnvHold + "=" + chaos.BeforeScan
	tests := []struct {
		name       string
		bin        string
		env        []string
		holds      bool
		wantPassed int
		wantExit   int // when it does not hold
	}{
		{"default build ignores the variables", without, []string{hold, chaos.EnvHoldAfter + "=1"}, false, 3, 0},
		{"chaos build, no variable", withTag, nil, false, 3, 0},
		{"chaos build, other point", withTag, []string{chaos.EnvHold + "=" + chaos.MidRender}, false, 3, 0},
		{"chaos build, more passes than hits", withTag, []string{hold, chaos.EnvHoldAfter + "=3"}, false, 3, 0},
		{"chaos build, holds at once", withTag, []string{hold}, true, 0, 0},
		{"chaos build, holds after two", withTag, []string{hold, chaos.EnvHoldAfter + "=2"}, true, 2, 0},
		{"chaos build, a typo is fatal", withTag, []string{hold, chaos.EnvHoldAfter + "=two"}, false, 0, 2},
		{"chaos build, negative is fatal", withTag, []string{hold, chaos.EnvHoldAfter + "=-1"}, false, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.bin, "-test.run=^TestHoldHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), append(tc.env, "CHAOS_TEST_CHILD=1")...)
			var stdout, stderr harness.LockedBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if tc.holds {
				// Held: the line is on stderr, and the process is still
				// there a while later, having passed no further.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(stderr.String(), "chaos: hold point "+chaos.BeforeScan) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				select {
				case err := <-done:
					t.Fatalf("exited (%v) instead of holding; stdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
				case <-time.After(300 * time.Millisecond):
				}
				_ = cmd.Process.Kill()
				<-done
				if !strings.Contains(stderr.String(), "chaos: hold point "+chaos.BeforeScan) {
					t.Errorf("no hold line on stderr: %q", stderr.String())
				}
			} else {
				select {
				case err := <-done:
					code := 0
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						code = ee.ExitCode()
					} else if err != nil {
						t.Fatal(err)
					}
					if code != tc.wantExit {
						t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tc.wantExit, stderr.String())
					}
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("held, want it to run through; stderr:\n%s", stderr.String())
				}
				if tc.wantExit == 0 && !strings.Contains(stdout.String(), "survived") {
					t.Errorf("did not survive:\n%s", stdout.String())
				}
			}
			if got := strings.Count(stdout.String(), "passed\n"); got != tc.wantPassed {
				t.Errorf("%d passes, want %d", got, tc.wantPassed)
			}
		})
	}
}

// TestShippedBinaries builds the services as they are shipped (no tag) and
// looks for the lines only the chaos build's points print: neither a crash
// point nor a hold point may be linked into them. The chaos build of this
// package's test binary must have both, or the search proves nothing.
func TestShippedBinaries(t *testing.T) {
	withTag, _ := binaries(t)
	markers := []string{"chaos: crash point ", "chaos: hold point "}
	b, err := os.ReadFile(withTag)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range markers {
		if !bytes.Contains(b, []byte(m)) {
			t.Fatalf("the chaos build has no %q: the search below proves nothing", m)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/scanner", "./cmd/aggregator", "./cmd/trigger")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	for _, name := range []string{"scanner", "aggregator", "trigger"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("shipped %s contains %q: a chaos point is linked in", name, m)
			}
		}
	}
}

// TestDefaultBuildInert: in this (default) build, Point never crashes and
// Hold never holds, whatever the environment says.
func TestDefaultBuildInert(t *testing.T) {
	if chaos.Enabled {
		t.Skip("chaos build")
	}
	t.Setenv(chaos.EnvCrash, chaos.MidRender)
	t.Setenv(chaos.EnvHold, chaos.BeforeScan)
	for range 10 {
		chaos.Point(chaos.MidRender)
		chaos.Hold(chaos.BeforeScan)
	}
}
