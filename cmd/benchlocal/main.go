// Command benchlocal times local mode against the thread-pool peer on the
// same awssim organisation and prints the table and the targets it is held
// to (docs/BENCHMARKS.md, "Local mode against the thread-pool peer").
// See internal/testbed/benchlocal; `make bench-local` builds and runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/testbed/benchlocal"
)

const summary = `benchlocal: local mode against the thread-pool peer, side by side.

Starts bin/awssim (a generated org, 20 ms per call by default), runs
bin/local at -low-concurrency and -high-concurrency and bench/peer/peer.py
at -peer-threads,
each -runs times, checks every run scanned the whole org, and prints wall
time, CPU, awssim's calls and max_in_flight, the limit and the targets.
With -peer=false, local mode alone at -high-concurrency: its calls and its
wall against the limit and against its own latency limit (calls x
-latency / -high-concurrency), in minutes, without python.
Exit status 0 when every run was correct (timings are reported, never
asserted), 1 otherwise, 2 for bad flags.`

func main() {
	fs := flag.NewFlagSet("benchlocal", flag.ContinueOnError)
	var cfg benchlocal.Config
	fs.StringVar(&cfg.AwssimBin, "awssim-bin", "bin/awssim", "built cmd/awssim")
	fs.StringVar(&cfg.LocalBin, "local-bin", "bin/local", "built cmd/local")
	fs.StringVar(&cfg.FloorBin, "floor-bin", "", "built bench/floor: also run it at -high-concurrency and print local mode's CPU per call as a ratio of its (empty: not run)")
	fs.StringVar(&cfg.Python, "peer-python", "/usr/bin/python3", "python with Debian's python3-boto3")
	fs.StringVar(&cfg.PeerPy, "peer-script", "bench/peer/peer.py", "the thread-pool peer")
	fs.StringVar(&cfg.Out, "out", "out/bench-local", "working folder (logs, workbooks, summaries)")
	peer := fs.Bool("peer", true, "also run bench/peer/peer.py and local mode at -low-concurrency (~25 min at 1,000 accounts); false: local mode at -high-concurrency only")
	fs.IntVar(&cfg.Accounts, "accounts", 1000, "generated member accounts (200 for a quick run)")
	fs.Int64Var(&cfg.Seed, "seed", 1, "org generation seed")
	regions := fs.String("regions", "us-east-1,ap-east-1", "comma-separated regions")
	fs.DurationVar(&cfg.Latency, "latency", 20e6, "awssim's mean latency per call")
	fs.IntVar(&cfg.Runs, "runs", 3, "runs per contender (medians reported); 0 with -cpuprofile: the profiled run only")
	fs.IntVar(&cfg.LowConcurrency, "low-concurrency", 20, "local mode's -concurrency against the peer")
	fs.IntVar(&cfg.PeerThreads, "peer-threads", 20, "the peer's threads")
	fs.IntVar(&cfg.HighConcurrency, "high-concurrency", 64, "local mode's -concurrency against the limit")
	fs.IntVar(&cfg.RateWorkers, "rate-workers", 64, "goroutines measuring awssim's zero-latency throughput R")
	fs.DurationVar(&cfg.RateDuration, "rate-duration", 5e9, "window measuring R")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "also profile one in-process local run at -high-concurrency, writing the CPU profile here")
	fs.StringVar(&cfg.Trace, "trace", "", "with -cpuprofile, also write that run's execution trace here")
	fs.DurationVar(&cfg.ProfilePoll, "profile-poll", 0, "with -cpuprofile, local mode's ProgressInterval in the profiled run (an experiment; 0: its default)")
	ctx, stop, logger := cli.Start("benchlocal", summary, fs, os.Args[1:], &cli.Logging{Format: "text", Level: "warn"})
	defer stop()
	cfg.Regions = strings.Split(*regions, ",")
	cfg.NoPeer = !*peer

	res, err := benchlocal.Run(ctx, cfg, os.Stdout, logger)
	if err != nil {
		cli.Exit("benchlocal", err)
	}
	switch {
	case len(res.Targets) == 0:
		fmt.Println("bench-local: profiled run only, no targets")
	case res.AllMet():
		fmt.Println("bench-local: every target met")
	default:
		fmt.Println("bench-local: targets missed (see the table)")
	}
}
