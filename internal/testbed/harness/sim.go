package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// SimClientEnv is the environment of a client process of the awssim at
// endpoint: base without its AWS_* variables, then the hub identity
// (awssim's rule: an access key id not starting ASIA), every endpoint at
// awssim, and no shared config files or instance metadata, so nothing on
// the machine changes what is measured.
func SimClientEnv(base []string, endpoint string) []string {
	var env []string
	for _, kv := range base {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_ACCESS_KEY_ID=AKIDHUB",
		"AWS_SECRET_ACCESS_KEY=hubsecret",
		"AWS_REGION="+Region,
		"AWS_DEFAULT_REGION="+Region,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	)
}
