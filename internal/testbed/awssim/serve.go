package awssim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options is the command line of cmd/awssim: where the org comes from and
// how the simulator misbehaves.
type Options struct {
	Addr    string
	OrgFile string    // -org; when empty the org is generated from Gen
	Gen     GenConfig // -accounts, -seed, -regions, -rules, -noncompliant, -week
	Sim     Config    // faults, hub account, session ttl; Org is filled in
}

// Run builds the org and the simulator from opts, listens on opts.Addr,
// logs one line when ready (with the address, so a script can find a port
// picked with :0) and serves until ctx ends.
func Run(ctx context.Context, opts Options, log *slog.Logger) error {
	var (
		org *Org
		err error
	)
	start := time.Now()
	if opts.OrgFile != "" && opts.Gen.Week > 1 {
		return errors.New("-week and -org are exclusive: an org file is one week")
	}
	if opts.OrgFile != "" {
		org, err = LoadOrg(opts.OrgFile)
	} else {
		org, err = Generate(opts.Gen)
	}
	if err != nil {
		return err
	}
	cfg := opts.Sim
	cfg.Org = org
	cfg.Logger = log
	sim, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("awssim ready",
		slog.String("addr", ln.Addr().String()),
		slog.String("endpoint", "http://"+ln.Addr().String()),
		slog.String("org_id", org.ID),
		slog.String("management_account_id", org.ManagementAccountID),
		slog.String("hub_account_id", sim.HubAccountID()),
		slog.Int("week", org.Week),
		slog.Int("accounts", len(org.Accounts)),
		slog.Int("denied", len(sim.Org().DeniedAccounts())),
		slog.Int("failing_regions", len(sim.Org().FailingRegions())),
		slog.Int("disabled_regions", len(sim.Org().DisabledRegions())),
		slog.Int("no_recorder", len(sim.Org().NoRecorderRegions())),
		slog.Int("stopped_recorder", len(sim.Org().StoppedRecorderRegions())),
		slog.Duration("startup", time.Since(start)))

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("awssim stopped")
	return nil
}
