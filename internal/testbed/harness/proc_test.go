package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records Fatalf instead of failing the real test, so that the
// helpers' failure paths can be checked; run it in its own goroutine.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs fn with a fatalTB and returns what it failed with ("" for
// no failure).
func fatalOf(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func sh(t *testing.T, logs, name, script string, env ...string) *Proc {
	t.Helper()
	return Start(t, logs, name, "/bin/sh", env, "-c", script)
}

func TestProcLifecycle(t *testing.T) {
	logs := t.TempDir()
	for _, tc := range []struct {
		name   string
		script string
		act    func(p *Proc) error
		// wantErr is a substring of the error act returns ("" for nil).
		wantErr    string
		wantKilled bool
	}{
		{"clean exit", "echo hello", func(p *Proc) error { return p.Wait(10 * time.Second) }, "", false},
		{"failed exit", "exit 3", func(p *Proc) error { return p.Wait(10 * time.Second) }, "exit status 3", false},
		{"still running", "sleep 30", func(p *Proc) error { return p.Wait(50 * time.Millisecond) }, "still running after 50ms", false},
		{"clean stop", `trap 'exit 0' TERM; while :; do sleep 0.05; done`, func(p *Proc) error { return p.Stop(10 * time.Second) }, "", false},
		{"stop ignored", `trap '' TERM; while :; do sleep 0.05; done`, func(p *Proc) error { return p.Stop(300 * time.Millisecond) }, "did not exit within 300ms of SIGTERM", true},
		{"stop after exit", "true", func(p *Proc) error {
			_ = p.Wait(10 * time.Second)
			return p.Stop(time.Second)
		}, "had already exited", false},
		{"kill", "sleep 30", func(p *Proc) error { p.Kill(); return nil }, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := sh(t, logs, strings.ReplaceAll(tc.name, " ", "-"), tc.script)
			if tc.name == "clean stop" || tc.name == "stop ignored" {
				time.Sleep(200 * time.Millisecond) // let the shell set its trap
			}
			err := tc.act(p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			}
			if got := p.KilledBySignal(); got != tc.wantKilled {
				t.Errorf("KilledBySignal = %v, want %v (err %v)", got, tc.wantKilled, p.Err())
			}
		})
	}
}

func TestProcErrWhileRunning(t *testing.T) {
	p := sh(t, t.TempDir(), "sleeper", "sleep 30")
	if p.Exited() || p.Err() != nil || p.KilledBySignal() {
		t.Fatalf("running: exited=%v err=%v killed=%v", p.Exited(), p.Err(), p.KilledBySignal())
	}
	p.Kill()
	p.Kill() // a second kill of a gone process is harmless
	if !p.Exited() || p.Err() == nil || !p.KilledBySignal() {
		t.Fatalf("killed: exited=%v err=%v killed=%v", p.Exited(), p.Err(), p.KilledBySignal())
	}
}

// A restarted service keeps one log; the child sees BaseEnv plus its own
// variables and not the parent's AWS settings.
func TestProcLogAndEnv(t *testing.T) {
	t.Setenv("AWS_PROFILE", "developer")
	logs := t.TempDir()
	for i := range 2 {
		p := sh(t, logs, "svc", `echo "run $RUN profile=[$AWS_PROFILE] $AWS_CONFIG_FILE"; echo oops >&2`, fmt.Sprintf("RUN=%d", i))
		if err := p.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(logs, "svc.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := "run 0 profile=[] /dev/null\noops\nrun 1 profile=[] /dev/null\noops\n"
	if string(b) != want {
		t.Errorf("log:\n%s\nwant:\n%s", b, want)
	}
}

func TestStartMissingBinary(t *testing.T) {
	msg := fatalOf(t, func(tb testing.TB) { Start(tb, t.TempDir(), "ghost", "/nonexistent/ghost", nil) })
	if !strings.Contains(msg, "start ghost") {
		t.Errorf("Fatalf %q", msg)
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		n    int
		want string
	}{
		{path, 2, "b\nc"},
		{path, 10, "a\nb\nc"},
		{filepath.Join(t.TempDir(), "none.log"), 2, "no such file"},
	} {
		if got := Tail(tc.path, tc.n); !strings.Contains(got, tc.want) {
			t.Errorf("Tail(%s, %d) = %q, want %q", tc.path, tc.n, got, tc.want)
		}
	}
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	logs := t.TempDir()
	p := sh(t, logs, "up", "sleep 30")
	if msg := fatalOf(t, func(tb testing.TB) { WaitHTTP(tb, p, srv.URL, 10*time.Second, 10*time.Millisecond) }); msg != "" {
		t.Errorf("ready server: %s", msg)
	}
	if calls.Load() != 3 {
		t.Errorf("%d requests, want 3 (two 503s, then 200)", calls.Load())
	}

	never := "http://" + FreeAddr(t)
	if msg := fatalOf(t, func(tb testing.TB) { WaitHTTP(tb, p, never, 100*time.Millisecond, 10*time.Millisecond) }); !strings.Contains(msg, "not 200 within 100ms") {
		t.Errorf("nothing listening: %q", msg)
	}

	// The load harness's way: an error, and a cancelled context ends the
	// wait before its timeout.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := WaitReady(ctx, p, never, time.Hour, 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "not 200") {
		t.Errorf("cancelled: %v", err)
	}

	dead := sh(t, logs, "dead", "echo dying words; exit 1")
	_ = dead.Wait(10 * time.Second)
	if msg := fatalOf(t, func(tb testing.TB) { WaitHTTP(tb, dead, srv.URL, 10*time.Second, 10*time.Millisecond) }); !strings.Contains(msg, "dead exited") || !strings.Contains(msg, "dying words") {
		t.Errorf("dead process: %q", msg)
	}
}

func TestPoll(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		f       func(n int) (bool, error)
		wantErr error
		wantN   int
	}{
		{"true at once", func(int) (bool, error) { return true, nil }, nil, 1},
		{"true third", func(n int) (bool, error) { return n == 3, nil }, nil, 3},
		{"error stops", func(n int) (bool, error) { return false, boom }, boom, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := Poll(context.Background(), 10*time.Second, time.Millisecond, func() (bool, error) { n++; return tc.f(n) })
			if !errors.Is(err, tc.wantErr) || n != tc.wantN {
				t.Errorf("err %v after %d calls, want %v after %d", err, n, tc.wantErr, tc.wantN)
			}
		})
	}
	if err := Poll(context.Background(), 50*time.Millisecond, 10*time.Millisecond, func() (bool, error) { return false, nil }); err == nil || err.Error() != "timed out" {
		t.Errorf("never true: %v", err)
	}
}

// StartCmd runs the command as the caller made it (its directory and its
// environment, not BaseEnv's) with Start's log.
func TestStartCmdKeepsTheCommand(t *testing.T) {
	logs, dir := t.TempDir(), t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", `echo "dir=$(pwd) only=$ONLY home=${HOME:-unset}"`)
	cmd.Dir, cmd.Env = dir, []string{"ONLY=yes"}
	p := StartCmd(t, logs, "cmd", cmd)
	if p.Pid() <= 0 || p.Pid() == os.Getpid() {
		t.Errorf("pid %d", p.Pid())
	}
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := "dir=" + dir + " only=yes home=unset"
	if got := strings.TrimSpace(Tail(p.Log, 1)); got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tscanner\nVmPeak:\t 1000 kB\nVmHWM:\t   38912 kB\nVmRSS:\t 30000 kB\n", 38912 * 1024, true},
		{"Name:\tscanner\nVmRSS:\t 30000 kB\n", 0, false},
		{"VmHWM:\t 12 MB\n", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseVmHWM([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseVmHWM(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// Terminate is how the load harness stops a pod: SIGTERM, then SIGKILL
// after the grace period; it reports whether the kill was needed, and the
// process's peak RSS and CPU time are readable afterwards.
func TestTerminate(t *testing.T) {
	logs := t.TempDir()
	for _, tc := range []struct {
		name       string
		script     string
		wantKilled bool
	}{
		{"sigterm obeyed", `trap 'exit 0' TERM; while :; do sleep 0.05; done`, false},
		{"sigterm ignored", `trap '' TERM; while :; do sleep 0.05; done`, true},
		{"already exited", "exit 0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Spawn(logs, strings.ReplaceAll(tc.name, " ", "-"), Command("/bin/sh", nil, "-c",
				// some CPU first, so that CPUTime has something to count
				`i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; `+tc.script))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Kill)
			if err := Poll(t.Context(), 30*time.Second, 10*time.Millisecond, func() (bool, error) {
				b, _ := os.ReadFile(p.Log)
				return strings.Contains(string(b), "ready"), nil
			}); err != nil {
				t.Fatal(err)
			}
			if tc.name == "already exited" {
				if err := p.Wait(10 * time.Second); err != nil {
					t.Fatal(err)
				}
			} else {
				time.Sleep(100 * time.Millisecond) // the trap is set
				p.SampleRSS()
				if p.PeakRSS() <= 0 {
					t.Errorf("peak RSS %d after a sample of a live process", p.PeakRSS())
				}
			}
			if got := p.Terminate(300 * time.Millisecond); got != tc.wantKilled {
				t.Errorf("Terminate killed = %v, want %v", got, tc.wantKilled)
			}
			if !p.Exited() || p.KilledBySignal() != tc.wantKilled {
				t.Errorf("exited %v, killed by signal %v", p.Exited(), p.KilledBySignal())
			}
			if p.CPUTime() <= 0 {
				t.Errorf("CPU time %s after exit", p.CPUTime())
			}
		})
	}
}
