// Package testharness is what the two end-to-end suites (test/e2e and the
// chaos suite, test/chaos) share: starting the binaries under test as OS
// processes and stopping or killing them, polling, a Prometheus /metrics
// reader, the services' environment (endpoints by the SDK's
// AWS_ENDPOINT_URL_<SERVICE> variables) and a fake Jira.
//
// It is a normal package, free of build tags, because _test files of two
// packages cannot share code and the chaos suite is built with -tags chaos.
// It is not a test framework: each suite keeps its own checks, resources
// and scenarios; only what is the same logic in both lives here.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is one OS process of a suite: a service, the trigger or awssim.
type Proc struct {
	Name string
	Log  string // the file its stdout and stderr go to
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// Start runs bin with env (added to BaseEnv) and args, its output appended
// to logs/<name>.log, so that a restarted service keeps one log. The
// test's cleanup kills it if still running.
func Start(t testing.TB, logs, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(BaseEnv(), env...)
	return StartCmd(t, logs, name, cmd)
}

// StartCmd is Start for a command the caller made (one run from an
// image's file system: its root, user and environment), with the same log
// and cleanup.
func StartCmd(t testing.TB, logs, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	logPath := filepath.Join(logs, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// BaseEnv keeps a child from reading the developer's AWS profile or asking
// the instance metadata service.
func BaseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + os.TempDir(),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Pid is the process's id.
func (p *Proc) Pid() int {
	return p.cmd.Process.Pid
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (nil while it runs, or after a clean exit).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL (no shutdown, no ack, no deferred function) and waits
// for the process to be gone.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// KilledBySignal reports whether the process ended by SIGKILL (a crash
// point or the test's kill).
func (p *Proc) KilledBySignal() bool {
	if !p.Exited() {
		return false
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Wait waits for the process to exit by itself.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.Name, timeout)
	}
}

// Stop sends SIGTERM and waits for a clean exit (status 0) within timeout;
// after that it kills the process.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return fmt.Errorf("%s had already exited: %v (see %s)", p.Name, p.err, p.Log)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM (see %s)", p.Name, p.err, p.Log)
		}
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM (see %s)", p.Name, timeout, p.Log)
	}
}

// Alive fails the test when p has exited, with the end of its log.
func (p *Proc) Alive(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("%s exited: %v; last lines of %s:\n%s", p.Name, p.err, p.Log, Tail(p.Log, 30))
	}
}

// Tail returns the last n lines of the file at path (or why it cannot).
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitHTTP polls url every interval until it answers 200, failing the test
// when p dies first or timeout passes.
func WaitHTTP(t testing.TB, p *Proc, url string, timeout, interval time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		p.Alive(t)
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not 200 within %s (last: %v); last lines of %s:\n%s", p.Name, url, timeout, err, p.Log, Tail(p.Log, 30))
		}
		time.Sleep(interval)
	}
}

// Poll calls f every interval until it returns true or an error, or
// timeout passes.
func Poll(ctx context.Context, timeout, interval time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-time.After(interval):
		}
	}
}
