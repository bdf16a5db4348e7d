package load

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process of the run, its output in logs/<name>.log.
type proc struct {
	name   string
	health string // host:port of its health server (with /debug/pprof when -pprof), if any
	cmd    *exec.Cmd
	log    string
	done   chan struct{}
	err    error // set before done closes

	mu      sync.Mutex
	peakRSS int64 // bytes: the largest VmHWM sampled while alive
}

func startProc(logs, name, bin string, env []string, args ...string) (*proc, error) {
	path := filepath.Join(logs, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: path, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// sampleRSS reads VmHWM (the kernel's peak resident set) while the process
// lives; after exit /proc has nothing, so the harness samples it often.
func (p *proc) sampleRSS() {
	if p.exited() {
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

func (p *proc) PeakRSS() int64 {
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

// terminate sends SIGTERM, then SIGKILL after grace; it returns once the
// process is gone, and whether it had to be killed.
func (p *proc) terminate(grace time.Duration) (killed bool) {
	p.sampleRSS()
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

// kill sends SIGKILL at once.
func (p *proc) kill() {
	p.sampleRSS()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit by itself.
func (p *proc) wait(timeout time.Duration) error {
	if p.exited() { // before the timer: wait(0) on an exited process is its status
		return p.exitErr()
	}
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s (see %s)", p.name, timeout, p.log)
	}
}

func (p *proc) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s: %w (see %s)", p.name, p.err, p.log)
	}
	return nil
}
