package chaos_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cybsecops/configreport/internal/chaos"
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

// TestCrash builds this package's test binary with and without the chaos
// tag and runs it as a child: only the chaos build dies, by SIGKILL, at the
// named point and on the named hit.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two test binaries")
	}
	dir := t.TempDir()
	build := func(tags ...string) string {
		out := filepath.Join(dir, "chaos"+strings.Join(tags, "")+".test")
		args := append([]string{"test", "-c", "-o", out}, tags...)
		cmd := exec.Command("go", append(args, ".")...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, b)
		}
		return out
	}
	withTag, without := build("-tags=chaos"), build()
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

// TestDefaultBuildInert: in this (default) build, Point never crashes
// whatever the environment says.
func TestDefaultBuildInert(t *testing.T) {
	if chaos.Enabled {
		t.Skip("chaos build")
	}
	t.Setenv(chaos.EnvCrash, chaos.MidRender)
	for range 10 {
		chaos.Point(chaos.MidRender)
	}
}
