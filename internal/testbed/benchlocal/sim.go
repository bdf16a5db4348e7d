package benchlocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// simProc is an awssim child process listening on a free loopback port.
type simProc struct {
	cmd      *exec.Cmd
	Endpoint string
	Args     []string // every argument but -addr
	done     chan error
	client   *http.Client
}

var endpointRE = regexp.MustCompile(`msg="awssim ready".* endpoint=(http://127\.0\.0\.1:\d+)`)

// parseEndpoint finds the endpoint in awssim's ready line.
func parseEndpoint(line string) (string, bool) {
	m := endpointRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// startSim starts bin path with args on 127.0.0.1:0 and waits (bounded) for
// its ready line. Its log is copied to logw.
func startSim(ctx context.Context, path string, args []string, logw io.Writer) (*simProc, error) {
	cmd := exec.Command(path, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = logw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start awssim: %w", err)
	}
	p := &simProc{cmd: cmd, Args: args, done: make(chan error, 1),
		client: &http.Client{Timeout: 30 * time.Second}}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			if ep, ok := parseEndpoint(sc.Text()); ok && !sent {
				ready <- ep
				sent = true
			}
		}
		// Drain so the child never blocks on a full pipe.
		io.Copy(logw, stderr)
		p.done <- cmd.Wait()
	}()
	select {
	case p.Endpoint = <-ready:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("awssim exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		p.Stop()
		return nil, errors.New("awssim not ready after 30s")
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	}
}

// Stop sends SIGTERM and waits (bounded), then kills.
func (p *simProc) Stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Stats reads awssim's counters.
func (p *simProc) Stats(ctx context.Context) (awssim.Stats, error) {
	return awssim.FetchStats(ctx, p.client, p.Endpoint)
}

// ResetStats zeroes them.
func (p *simProc) ResetStats(ctx context.Context) error {
	return awssim.ResetStats(ctx, p.client, p.Endpoint)
}

// simEnv is the environment of a client of p: the hub identity
// (awssim's rule: an access key id not starting ASIA), no shared config
// files, so nothing on the machine changes what is measured.
func simEnv(base []string, endpoint string) []string {
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
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	)
}
