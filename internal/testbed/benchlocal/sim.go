package benchlocal

import (
	"context"
	"net/http"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// simProc is an awssim child process listening on a free loopback port
// (Proc is nil for the tests' in-process awssim).
type simProc struct {
	*harness.Proc
	Endpoint string
	Args     []string // every argument but -addr
	client   *http.Client
}

// startSim starts bin path with args on 127.0.0.1:0 and waits (bounded)
// for its ready line; its log is appended to logs/awssim.log.
func startSim(ctx context.Context, logs, path string, args []string) (*simProc, error) {
	p, ep, err := harness.StartSim(ctx, logs, "awssim", path, args, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &simProc{Proc: p, Endpoint: ep, Args: args, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Stop sends SIGTERM and waits (bounded), then kills.
func (p *simProc) Stop() {
	if p.Proc != nil {
		p.Terminate(10 * time.Second)
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
