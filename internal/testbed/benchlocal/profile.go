package benchlocal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/local"

	"github.com/cybsecops/configreport/internal/testbed/harness"
)

type profileResult struct {
	Wall, CPU time.Duration
	Path      string
	Timeline  *timeline
}

// profileLocal runs local mode in this process, as cmd/local wires it
// (awsconf.Load from the environment, then local.Run), under the CPU
// profiler: the binary has no profiling flag, and this is the same code.
// The environment is set for the SDK's standard chain, as simEnv does for
// the child runs.
func profileLocal(ctx context.Context, cfg Config, sim *simProc, t truth) (profileResult, error) {
	for _, kv := range harness.SimClientEnv(nil, sim.Endpoint) {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return profileResult{}, err
		}
	}
	regions, err := ident.ParseRegions(strings.Join(cfg.Regions, ","))
	if err != nil {
		return profileResult{}, err
	}
	dir := filepath.Join(cfg.Out, "profiled")
	if err := os.RemoveAll(dir); err != nil {
		return profileResult{}, err
	}
	f, err := os.Create(cfg.CPUProfile)
	if err != nil {
		return profileResult{}, err
	}
	defer f.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tlCtx, tlStop := context.WithCancel(ctx)
	defer tlStop()
	tlDone := make(chan *timeline, 1)
	go func() { tlDone <- sampleTimeline(tlCtx, sim, 250*time.Millisecond) }()
	start, cpu0 := time.Now(), cpuSelf()
	if err := pprof.StartCPUProfile(f); err != nil {
		return profileResult{}, err
	}
	// The execution trace shows the waiting that a CPU profile cannot: a
	// scan bound by latency spends most of its wall time off CPU.
	if cfg.Trace != "" {
		tf, err := os.Create(cfg.Trace)
		if err != nil {
			pprof.StopCPUProfile()
			return profileResult{}, err
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			pprof.StopCPUProfile()
			return profileResult{}, err
		}
		defer trace.Stop()
	}
	hub, err := awsconf.Load(ctx, awsconf.Options{Region: string(regions[0]), Concurrency: cfg.HighConcurrency})
	if err != nil {
		pprof.StopCPUProfile()
		return profileResult{}, err
	}
	res, err := local.Run(ctx, local.Config{Out: dir, Regions: regions, Concurrency: cfg.HighConcurrency,
		ProgressInterval: cfg.ProfilePoll}, hub, io.Discard, quiet)
	pprof.StopCPUProfile()
	p := profileResult{Wall: time.Since(start), CPU: cpuSelf() - cpu0, Path: res.Path}
	tlStop()
	p.Timeline = <-tlDone
	if err != nil {
		return p, fmt.Errorf("local run: %w", err)
	}
	return p, checkWorkbook(res.Path, t)
}
