// Command loadtest is `make load`: the trigger, the aggregator and a fleet
// of scanner processes over the emulators and awssim, the scanners scaled by
// the rules of the rendered ScaledObject. See internal/testbed/load.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/testbed/load"
)

const summary = `loadtest: the services under load, scanners autoscaled as KEDA would.

Starts awssim with a generated org, provisions the queues, topic, bucket and
table on the emulators (SQS_ENDPOINT, SNS_ENDPOINT, S3_ENDPOINT,
DYNAMODB_ENDPOINT: run under scripts/with-emulators.sh), runs the aggregator
and the trigger, and scales scanner processes by the ScaledObject read from
-manifest (every time constant divided by -ratio). Prints the figures and,
last, the summary line.

Exit status 0 when the report holds every account exactly once as the
ground truth says, in exactly one object, and the fleet scaled past one
replica and back to zero (timings are printed, never asserted); 1 otherwise;
2 for bad flags.`

func main() {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	var cfg load.Config
	fs.StringVar(&cfg.Bin, "bin", "out/load/bin", "folder of the built awssim, trigger, scanner and aggregator")
	fs.StringVar(&cfg.Manifest, "manifest", "out/deploy/prod.yaml", "rendered prod overlay (make render-deploy)")
	fs.StringVar(&cfg.Out, "out", "out/load", "output folder: logs, workbook, awssim.args, plot")
	fs.IntVar(&cfg.Accounts, "accounts", 1000, "generated member accounts")
	regions := fs.String("regions", "us-east-1,eu-west-1", "comma-separated regions")
	fs.Int64Var(&cfg.Seed, "seed", 10, "org generation seed")
	fs.DurationVar(&cfg.Latency, "latency", 20*time.Millisecond, "awssim's mean latency per call")
	fs.Float64Var(&cfg.ThrottleRPS, "throttle-rps", 2, "awssim's Config calls per second per account-region (0: off)")
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0.01, "awssim's fraction of calls answered 500/503")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "each scanner's -concurrency (prod's CONCURRENCY)")
	fs.IntVar(&cfg.Consumers, "consumers", 0, "each scanner's -consumers, the accounts it scans at once (0: the scanner's default)")
	fs.Float64Var(&cfg.Ratio, "ratio", 60, "the scaling's time constants (ScaledObject, HPA) are divided by this; the termination grace period is kept, as it bounds real scans")
	fs.DurationVar(&cfg.ScanVisibility, "scan-visibility", time.Minute, "the scan queue's visibility timeout: longer than one account's scan here (not shortened by -ratio: scans are real)")
	scenario := fs.String("scenario", "sigterm", "scale-down by sigterm (then SIGKILL after the grace period) or sigkill (at once)")
	fs.DurationVar(&cfg.Timeout, "timeout", 20*time.Minute, "bound of the whole run")
	fs.DurationVar(&cfg.ProfileAt, "profile-at", 0, "take CPU profiles of the aggregator and one scanner this long after the trigger starts (0: none), into <out>/*.pprof")
	fs.DurationVar(&cfg.ProfileFor, "profile-for", 30*time.Second, "length of those profiles")
	fs.BoolVar(&cfg.Floor, "floor", false, "after the report, run <bin>/floor (bench/floor, the plain SDK) against the same awssim at the fleet's concurrency and print the scanners' CPU per call as a ratio of its")
	fs.IntVar(&cfg.SimProcs, "awssim-procs", 1, "the load's awssim's -procs, its GOMAXPROCS (0: every core); R is measured on every core either way")
	fs.StringVar(&cfg.SimCPUProfile, "awssim-cpuprofile", "", "write a CPU profile of the load's awssim over its whole life (with -floor, the floor's run too) to this file (awssim -cpuprofile)")
	ctx, stop, logger := cli.Start("loadtest", summary, fs, os.Args[1:], &cli.Logging{Format: "text", Level: "info"})
	defer stop()
	cfg.Regions = strings.Split(*regions, ",")
	cfg.Scenario = load.Scenario(*scenario)
	cfg.SQS, cfg.SNS = os.Getenv("SQS_ENDPOINT"), os.Getenv("SNS_ENDPOINT")
	cfg.S3, cfg.DynamoDB = os.Getenv("S3_ENDPOINT"), os.Getenv("DYNAMODB_ENDPOINT")

	res, err := load.Run(ctx, cfg, logger)
	if err != nil {
		cli.Exit("loadtest", err)
	}
	res.Print(os.Stdout, cfg)
	broken := res.Invariants()
	if broken != nil {
		fmt.Printf("loadtest: invariants broken: %s\n", cli.OneLine(broken))
	}
	fmt.Println(res.Summary())
	if broken != nil {
		os.Exit(1)
	}
}
