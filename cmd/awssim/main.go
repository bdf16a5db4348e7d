// Command awssim serves a simulated AWS Organizations, STS, Config and EC2
// DescribeRegions for the demo, the integration tests and the benchmarks.
// See internal/testbed/awssim/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

const usage = `awssim: a simulated AWS organisation (Organizations, STS, Config, EC2
DescribeRegions) on one HTTP endpoint, for the demo, tests and benchmarks.
Not AWS, not for production.

Usage:
  awssim -addr 127.0.0.1:4566 [-org FILE.json | -accounts N -seed S]
         [-regions us-east-1,ap-east-1] [-rules 12] [-noncompliant 0.15]
         [-latency 0] [-throttle-rps 0] [-error-rate 0] [-deny 0] [-fail-regions 0]
         [-disabled-regions 0] [-not-recording 0] [-week 1]
         [-hub-account ID] [-session-ttl 1h] [-procs 0] [-cpuprofile FILE]

Point any AWS client at it: aws --endpoint-url http://127.0.0.1:4566 ...,
or AWS_ENDPOINT_URL. Hub keys: any access key id not starting ASIA (e.g.
AWS_ACCESS_KEY_ID=AKIDHUB AWS_SECRET_ACCESS_KEY=hubsecret). GET / answers
200 when ready; GET /_sim/stats counts the calls.

-week N (or WEEK=N) serves the generated org as it stands N-1 weeks after
week 1, derived from the seed and N alone (restart it with -week 2 for the
next Monday's scan). Each week about 10% of NON_COMPLIANT results become
COMPLIANT and about as many new ones appear, ~2% of accounts change Owner,
one account in 200 joins and one in 200 is SUSPENDED, and result times move
7 days on; ids, OUs, rules and fault picks stay. Not with -org (a file is
one week).

Every flag can also come from the environment: the flag's name upper-cased
with - as _ (-throttle-rps <-> THROTTLE_RPS); a flag on the command line wins.

awssim runs with GOGC=400 unless GOGC is set: its live heap is a few MB, so
the default would collect it several times a second under a scan's load.

-procs 1 runs it on one processor (GOMAXPROCS): where it shares the machine
with the clients it serves (make load), its two processors' goroutine
stealing and wake-ups cost more CPU than they win.

Flags:
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// One line, even when validation found several problems.
		fmt.Fprintln(os.Stderr, "awssim:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("awssim", flag.ContinueOnError)
	// The flag package would print the whole usage on a bad flag; main
	// prints the one-line error instead, and the usage only for -help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		opts       awssim.Options
		regions    string
		nonComp    float64
		cpuProfile string
		procs      int
	)
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:4566", "listen address (host:port; port 0 picks a free one, logged when ready)")
	fs.StringVar(&opts.OrgFile, "org", "", "organisation file (JSON, see README); instead of generating one")
	fs.IntVar(&opts.Gen.Accounts, "accounts", 50, "member accounts to generate (the management account is added)")
	fs.Int64Var(&opts.Gen.Seed, "seed", 1, "generation seed: the same seed gives the same org, rules and fault picks")
	fs.StringVar(&regions, "regions", strings.Join(awssim.DefaultRegions, ","), "comma-separated regions where generated accounts have Config rules (ignored with -org)")
	fs.IntVar(&opts.Gen.Rules, "rules", 12, "about how many Config rules each account has per region")
	fs.Float64Var(&nonComp, "noncompliant", awssim.DefaultNonCompliant, "fraction of rules that are NON_COMPLIANT, 0 to 1")
	fs.DurationVar(&opts.Sim.Latency, "latency", 0, "delay every call by this × (1 ± 20%)")
	fs.Float64Var(&opts.Sim.ThrottleRPS, "throttle-rps", 0, "Config calls per second per (account, region) before ThrottlingException (0: off)")
	fs.Float64Var(&opts.Sim.ErrorRate, "error-rate", 0, "fraction of calls answered InternalFailure (500) or ServiceUnavailable (503)")
	fs.IntVar(&opts.Sim.Deny, "deny", 0, "accounts whose read role refuses AssumeRole (AccessDenied)")
	fs.IntVar(&opts.Sim.FailRegions, "fail-regions", 0, "(account, region) pairs whose Config calls answer UnrecognizedClientException")
	fs.IntVar(&opts.Sim.DisabledRegions, "disabled-regions", 0, "(account, opt-in region) pairs the account has not enabled: DescribeRegions says not-opted-in, Config answers UnrecognizedClientException")
	fs.IntVar(&opts.Sim.NotRecording, "not-recording", 0, "(account, region) pairs with no configuration recorder (half, rounded up) or a stopped one (the rest)")
	fs.IntVar(&opts.Gen.Week, "week", 1, fmt.Sprintf("week of the generated org's life to serve, 1 to %d (churn: see above; not with -org)", awssim.MaxWeek))
	fs.StringVar(&opts.Sim.HubAccountID, "hub-account", "", "account of the hub role (default: the management account)")
	fs.DurationVar(&opts.Sim.SessionTTL, "session-ttl", time.Hour, "longest AssumeRole session (AWS caps chained role sessions at 1h)")
	fs.IntVar(&procs, "procs", 0, "processors to run on (GOMAXPROCS; 0: Go's default, every core)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file, for go tool pprof (written when awssim stops on SIGTERM)")

	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		return fmt.Errorf("%w (see awssim -help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -help)", fs.Arg(0))
	}
	if err := fromEnv(fs); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if opts.OrgFile != "" && (set["accounts"] || set["seed"]) {
		return fmt.Errorf("-org and -accounts/-seed are exclusive: the file describes the whole org")
	}
	if opts.OrgFile != "" && set["week"] {
		return fmt.Errorf("-org and -week are exclusive: an org file is one week")
	}
	if opts.Gen.Week < 1 {
		// GenConfig reads 0 as "week 1"; on the command line it is a mistake.
		return fmt.Errorf("week %d: want 1 to %d", opts.Gen.Week, awssim.MaxWeek)
	}
	for r := range strings.SplitSeq(regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			opts.Gen.Regions = append(opts.Gen.Regions, r)
		}
	}
	opts.Gen.NonCompliant = nonComp
	if nonComp == 0 {
		opts.Gen.NonCompliant = -1 // GenConfig reads 0 as "default"
	}

	if err := setProcs(procs); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return awssim.Run(ctx, opts, log)
}

// defaultGCPercent trades a few tens of MB for a quarter of the garbage
// collections: awssim's live heap is small (an org of 1,000 accounts is
// about 10 MB), and GC was 5-7% of its CPU per call at the default 100.
const defaultGCPercent = 400

// setProcs applies -procs: n > 0 sets GOMAXPROCS, 0 leaves Go's default
// (or the GOMAXPROCS environment variable) alone.
func setProcs(n int) error {
	if n < 0 {
		return fmt.Errorf("procs %d: want 0 (Go's default) or more", n)
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return nil
}

// startCPUProfile profiles the process until the returned func is called:
// how awssim's CPU per call is measured and cut (docs/BENCHMARKS.md).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// fromEnv gives every flag not on the command line the value of its
// environment variable, if set.
func fromEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, e)
			}
		}
	})
	return err
}
