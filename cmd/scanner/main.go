// Command scanner consumes the scan queue: for each ScanRequested it
// assumes the read role in the account, reads AWS Config in every region
// and publishes AccountScanned to the results topic. A Deployment scaled by
// KEDA on the queue's depth. The wiring is internal/app's.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/health"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/scan"
)

const summary = `scanner: scans one account per message of the scan queue.

For each ScanRequested (or a hand-written {"account_id": "..."}: an ad-hoc
run of its own) it assumes the read role in the account from the hub identity,
reads AWS Config in every region, and publishes the account's AccountScanned
to the results topic (through S3 when over the message limit). A request
may only name regions among -regions; a hand-written one is checked and
named through the org-list role, never by what the message says. AWS
credentials and endpoints come from the SDK's standard configuration (IRSA,
AWS_REGION, AWS_ENDPOINT_URL_<SERVICE>, ...). On SIGTERM it stops taking
messages; one in hand is finished or left to return to the queue.

Exit status: 0 after a clean shutdown, 1 on a runtime failure, 2 for bad
configuration.`

// gcPercent is the scanner's GOGC unless the environment sets one. Its
// live heap is small (a few MB plus the accounts in hand) but every SDK
// call allocates, so at the default 100 the collector was a tenth of the
// fleet's CPU in a load run's profile (make load, 1,000 accounts). The
// Go memory limit (cli.MemoryLimit, from the container's) still bounds
// the heap: near it the collector runs as often as it must. Measured
// against its neighbours (make load, 30 scanners, getrusage of each, with
// -procs 1): GOGC 100 cost 1-3% more CPU (peak RSS 39.5 MiB against
// 55-61), GOGC 1000 6-8% more, not less (minor page faults +23%: each
// replica faults in every page its heap grows to; peak 56-67 MiB). GC
// off under the memory limit would grow each replica to its 460 MiB
// before collecting, 13.5 GiB for 30 of them, for at most the 4.6% GC
// was of the scanners' CPU profile.
const gcPercent = 400

// defaultProcs is -procs' default: the scanner runs on one processor. Its
// work is I/O (at most -concurrency calls in flight, each a few hundred µs
// of CPU around tens of ms of waiting) and its container's CPU limit is 1,
// which Go's own default rounds up to 2 processors: with two, each
// answer or paced timer that readies a goroutine while the other processor
// is busy wakes a second thread (and the system monitor keeps polling),
// so a share of a scanner's CPU went to threads waking each other. make load
// (1,000 accounts x 2 regions, 30 scanners, getrusage of each), two runs
// each way: 8.2 and 8.6 CPU-s with 2 processors, 7.6 and 7.8 with 1 (-9%),
// voluntary context switches 163-164k -> 125-134k, system time -17%.
const defaultProcs = 1

func main() {
	fs := flag.NewFlagSet("scanner", flag.ContinueOnError)
	var mf msg.Flags
	mf.Register(fs, msg.NeedScanQueue|msg.NeedResultsTopic|msg.NeedPoisonQueue|msg.NeedConsume)
	var hf health.Flags
	hf.Register(fs)
	var sf blob.S3Flags
	sf.Register(fs)
	payloadPrefix := fs.String("payload-prefix", "claim-check", "key prefix of claim-check payloads in the bucket")
	regions := fs.String("regions", "", "comma-separated regions to scan when a request names none (required)")
	readRole := fs.String("read-role-name", string(events.DefaultReadRoleName), "role assumed in every account")
	orgRole := fs.String("org-role-arn", "", "org-list role in the management account, to check and name ad-hoc accounts (empty: the hub identity)")
	procs := fs.Int("procs", defaultProcs, "processors to run on (GOMAXPROCS) unless the environment sets GOMAXPROCS; 0: Go's default (the container's CPU limit rounded up, at least 2)")
	conc := fs.Int("concurrency", scan.DefaultConcurrency, "AWS calls in flight at most in this process")
	maxFindings := fs.Int("max-findings", scan.DefaultMaxFindings, "findings kept per account at most; the region that passes it is reported as not read (Truncated)")
	consumers := fs.Int("consumers", 0, fmt.Sprintf("scan requests (accounts) handled at once; 0: as many as half the Go memory limit (MEMORY_LIMIT) holds at %d KiB an account plus %d KiB a region, at most %d per call slot (-concurrency) and %d, at least -concurrency (512 MiB container, -concurrency 16: 48); without a memory limit, -concurrency",
		scan.AccountMemory>>10, scan.RegionMemory>>10, scan.SlotMultiple, scan.MaxConsumers))
	deadline := fs.Duration("deadline", events.DefaultDeadline, "deadline of an ad-hoc run, from its start")
	ownerTags := fs.String("owner-tags", "", `account tags an ad-hoc run's RunStarted carries for the report's owner columns, comma-separated, alternatives separated by "|" (e.g. "Owner|owner,Team"); empty: none read`)
	logging := cli.Logging{Format: "json", Level: "info"}
	logging.Register(fs)
	ctx, stop, logger := cli.Start("scanner", summary, fs, os.Args[1:], &logging)
	defer stop()
	// Retries, throttling and failed AWS calls by operation, on /metrics.
	retries, err := awsconf.NewRetryLog(logger).Count(prometheus.DefaultRegisterer)
	if err != nil {
		cli.Fail("scanner", err)
	}
	hub, err := awsconf.Load(ctx, awsconf.Options{Concurrency: *conc, Retries: retries})
	if err != nil {
		cli.Fail("scanner", err)
	}
	var errs []error
	rs, err := ident.ParseRegions(*regions)
	if err == nil && len(rs) == 0 {
		err = errors.New("required")
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("-regions: %w", err))
	}
	owners, err := events.ParseOwnerTags(*ownerTags)
	if err != nil {
		errs = append(errs, fmt.Errorf("-owner-tags: %w", err))
	}
	mcfg, err := mf.Config(hub, logger)
	errs = append(errs, err)
	bs, err := sf.Store(hub)
	errs = append(errs, err)
	hcfg := hf.Config()
	hcfg.Logger = logger
	hs, err := health.New(hcfg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		cli.Fail("scanner", err)
	}
	// After the configuration is checked: a configuration error is one line.
	cli.MemoryLimit("scanner", logger, os.Getenv)
	cli.Procs("scanner", logger, *procs, os.Getenv)
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	a, err := app.NewAWS(hub, *orgRole, "config-report-scanner")
	if err != nil {
		cli.Fail("scanner", err)
	}
	tr, err := msg.New(ctx, mcfg)
	if err != nil {
		cli.Exit("scanner", err)
	}
	svc, err := app.NewScanner(app.ScannerConfig{
		Scan:        scan.Config{Regions: rs, ReadRoleName: ident.RoleName(*readRole), Concurrency: *conc, MaxFindings: *maxFindings},
		Consumers:   *consumers,
		MemoryLimit: debug.SetMemoryLimit(-1), // as cli.MemoryLimit set it; -1 only reads it
		Handler:     scan.HandlerConfig{Deadline: *deadline},
		Router:      mf.Router(logger),
		OwnerTags:   owners,
	}, tr, a, app.Codec(bs, *payloadPrefix), logger)
	if err != nil {
		cli.Fail("scanner", err)
	}
	if err := hs.Serve(ctx, health.RouterRunning(svc.Router), svc.Run); err != nil {
		cli.Exit("scanner", err)
	}
	logger.Info("scanner stopped")
}
