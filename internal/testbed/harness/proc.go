// Package harness is what the end-to-end suites (test/e2e, test/chaos)
// and the load harness (internal/testbed/load) share: the emulators'
// endpoints, the binaries under test as OS processes (started, stopped,
// killed, measured), the resources CloudFormation makes in production,
// the services' environment (endpoints by the SDK's
// AWS_ENDPOINT_URL_<SERVICE> variables), polling, a Prometheus /metrics
// reader and a fake Jira. What the load harness calls returns errors
// rather than taking a testing.TB.
//
// It is a normal package, free of build tags, because _test files of two
// packages cannot share code and the chaos suite is built with -tags chaos.
// It is not a test framework: each suite keeps its own checks and
// scenarios, and names and sizes its own resources; only what is the same
// logic in several lives here.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is one OS process of a suite or of the load harness: a service,
// the trigger or awssim.
type Proc struct {
	Name string
	Log  string // the file its stdout and stderr go to
	// Health is the host:port of its health server (and /debug/pprof with
	// -pprof), when the caller learnt it; empty otherwise.
	Health string
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // set before done is closed

	mu      sync.Mutex
	peakRSS int64 // bytes: the largest VmHWM sampled while alive
}

// Start runs bin with env (added to BaseEnv) and args, its output appended
// to logs/<name>.log, so that a restarted service keeps one log. The
// test's cleanup kills it if still running.
func Start(t testing.TB, logs, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, logs, name, Command(bin, env, args...))
}

// StartCmd is Start for a command the caller made (one run from an
// image's file system: its root, user and environment), with the same log
// and cleanup.
func StartCmd(t testing.TB, logs, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p, err := Spawn(logs, name, cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.Kill)
	return p
}

// Command is bin with args, in BaseEnv plus env.
func Command(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(BaseEnv(), env...)
	return cmd
}

// Spawn starts cmd with its stdout and stderr appended to logs/<name>.log.
// Nothing stops it but the caller (Start and StartCmd are it for a test):
// the load harness, not a test, stops its processes itself.
func Spawn(logs, name string, cmd *exec.Cmd) (*Proc, error) {
	logPath := filepath.Join(logs, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
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
		p.SampleRSS()
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Terminate sends SIGTERM, then SIGKILL after grace, as Kubernetes stops a
// pod; it returns once the process is gone, and whether it had to be
// killed.
func (p *Proc) Terminate(grace time.Duration) (killed bool) {
	if p.Exited() {
		return false
	}
	p.SampleRSS()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return true
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
	if p.Terminate(timeout) {
		return fmt.Errorf("%s did not exit within %s of SIGTERM (see %s)", p.Name, timeout, p.Log)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited with %v after SIGTERM (see %s)", p.Name, p.err, p.Log)
	}
	return nil
}

// SampleRSS records VmHWM (the kernel's peak resident set) while the
// process lives; after exit /proc has nothing, so a caller wanting the
// peak samples it often (Kill and Terminate sample once more).
func (p *Proc) SampleRSS() {
	if p.Exited() {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return
	}
	if v, ok := parseVmHWM(b); ok {
		p.mu.Lock()
		p.peakRSS = max(p.peakRSS, v)
		p.mu.Unlock()
	}
}

// PeakRSS is the largest VmHWM sampled, in bytes (0 if never sampled).
func (p *Proc) PeakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakRSS
}

// parseVmHWM returns /proc/<pid>/status's VmHWM in bytes.
func parseVmHWM(status []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmHWM:") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, "VmHWM:"))
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n * 1024, err == nil
	}
	return 0, false
}

// CPUTime is the process's user + system CPU over its life, once it
// exited (0 before).
func (p *Proc) CPUTime() time.Duration {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return 0
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
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
	if err := WaitReady(context.Background(), p, url, timeout, interval); err != nil {
		t.Fatalf("%v", err)
	}
}

// WaitReady polls url every interval until it answers 200; the error,
// with the end of p's log, says whether p died first or timeout passed.
func WaitReady(ctx context.Context, p *Proc, url string, timeout, interval time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited: %v; last lines of %s:\n%s", p.Name, p.err, p.Log, Tail(p.Log, 30))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %s not 200 within %s (last: %v); last lines of %s:\n%s", p.Name, url, timeout, err, p.Log, Tail(p.Log, 30))
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
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
