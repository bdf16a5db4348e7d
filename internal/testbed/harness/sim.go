package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// readyRE finds the endpoint in awssim's ready line (its text log).
var readyRE = regexp.MustCompile(`msg="awssim ready".* endpoint=(http://127\.0\.0\.1:\d+)`)

// simEndpoint finds the endpoint in awssim's log so far.
func simEndpoint(log []byte) (string, bool) {
	m := readyRE.FindSubmatch(log)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// StartSim starts the awssim binary bin with args on a free loopback port
// (the kernel's choice: no race between choosing a port and binding it)
// and waits, at most timeout, for its ready line naming the endpoint. The
// caller stops it (Terminate or Kill). Its log is logs/<name>.log,
// appended to: only the lines written after the start are searched, so a
// second awssim of the same name never reads the first one's endpoint.
func StartSim(ctx context.Context, logs, name, bin string, args []string, timeout time.Duration) (*Proc, string, error) {
	var from int64
	if fi, err := os.Stat(filepath.Join(logs, name+".log")); err == nil {
		from = fi.Size()
	}
	p, err := Spawn(logs, name, Command(bin, nil, append([]string{"-addr", "127.0.0.1:0"}, args...)...))
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(p.Log)
		if int64(len(b)) >= from {
			b = b[from:]
		}
		if ep, ok := simEndpoint(b); ok {
			return p, ep, nil
		}
		if p.Exited() {
			return nil, "", fmt.Errorf("%s exited before ready: %v (see %s)", name, p.Err(), p.Log)
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, "", fmt.Errorf("%s not ready within %s (see %s)", name, timeout, p.Log)
		}
		select {
		case <-ctx.Done():
			p.Kill()
			return nil, "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
