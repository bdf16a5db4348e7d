// Command aggregator consumes the results topic through its SQS
// subscription queue: it records every event in the dedupe store
// (DynamoDB), and when a run is complete or past its deadline one replica
// claims it, renders the workbook, uploads it to S3 and files the Jira
// ticket. A Deployment of two replicas. The wiring is internal/app's.
package main

import (
	"errors"
	"flag"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/health"
	"github.com/cybsecops/configreport/internal/jira"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/store/dynamo"
)

const summary = `aggregator: records scan results and emits each run's report once.

Consumes RunStarted and AccountScanned from the results topic's subscription
queue into the DynamoDB dedupe store. When every expected account has
reported, or the run's deadline passed, exactly one replica claims the run,
renders the workbook, uploads it to
s3://<bucket>/<prefix>/<yyyy>/<mm>/<dd>/config-compliance-<run_id>.xlsx and
files one Jira ticket (when -jira-url is set; the token from JIRA_API_TOKEN
or -jira-token-file, never a flag). AWS credentials and endpoints come from
the SDK's standard configuration.

Exit status: 0 after a clean shutdown, 1 on a runtime failure, 2 for bad
configuration.`

func main() {
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
	var mf msg.Flags
	mf.Register(fs, msg.NeedResultsTopic|msg.NeedResultsQueue|msg.NeedPoisonQueue|msg.NeedConsume)
	var hf health.Flags
	hf.Register(fs)
	var sf blob.S3Flags
	sf.Register(fs)
	reportPrefix := fs.String("report-prefix", "reports", "key prefix of the reports in the bucket")
	payloadPrefix := fs.String("payload-prefix", "claim-check", "key prefix of claim-check payloads in the bucket")
	table := fs.String("dynamodb-table", "", "DynamoDB table of the dedupe store (required)")
	owner := fs.String("owner", hostname(), "this replica's name in run claims (the pod name)")
	consumers := fs.Int("consumers", 16, "results handled at once (each is a few store writes, waiting on DynamoDB, not CPU)")
	checkEvery := fs.Duration("check-interval", 15*time.Second, "how often complete runs, runs past their deadline and tickets to retry are looked for")
	lease := fs.Duration("lease", 2*time.Minute, "how long a claim holds a run while its report renders and uploads")
	conc := fs.Int("concurrency", 16, "AWS calls in flight at most in this process")
	var jf jira.Flags
	jf.Register(fs)
	maxPending := fs.Int("max-pending", aggregate.DefaultMaxPending, "pending runs loaded per check at most, earliest deadline first (a flood of runs waits for later checks)")
	ownerTags := fs.String("owner-tags", "", "account tags whose values become the report's owner columns: comma-separated entries, each listing alternatives separated by | (Owner|owner,Team); the first alternative the account has wins and heads the column; empty: no owner columns")
	ticketBudget := fs.Duration("ticket-budget", 2*time.Minute, "longest try at one run's Jira ticket (search, create, attach), filed off the emission loop; then retried on a backoff")
	logging := cli.Logging{Format: "json", Level: "info"}
	logging.Register(fs)
	ctx, stop, logger := cli.Start("aggregator", summary, fs, os.Args[1:], &logging)
	defer stop()
	// Jira's flags first: they need no AWS configuration to be checked.
	var errs []error
	owners, err := events.ParseOwnerTags(*ownerTags)
	errs = append(errs, err)
	var notifier aggregate.Notifier
	n, err := jf.Notifier(os.Getenv, logger)
	errs = append(errs, err)
	if n != nil {
		notifier = n
	}
	// Retries, throttling and failed AWS calls by operation, on /metrics.
	retries, err := awsconf.NewRetryLog(logger).Count(prometheus.DefaultRegisterer)
	if err != nil {
		cli.Fail("aggregator", err)
	}
	hub, err := awsconf.Load(ctx, awsconf.Options{Concurrency: *conc, Retries: retries})
	if err != nil {
		cli.Fail("aggregator", errors.Join(append(errs, err)...))
	}
	mcfg, err := mf.Config(hub, logger)
	errs = append(errs, err)
	bs, err := sf.Store(hub)
	errs = append(errs, err)
	ddb := dynamodb.NewFromConfig(hub)
	st, err := dynamo.New(dynamo.Config{Table: *table}, ddb, logger)
	errs = append(errs, err)
	hcfg := hf.Config()
	hcfg.Logger = logger
	hs, err := health.New(hcfg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		cli.Fail("aggregator", err)
	}
	// After the configuration is checked: a configuration error is one line.
	cli.MemoryLimit("aggregator", logger, os.Getenv)
	if mf.CreateResources {
		// Emulators and local runs only; CloudFormation makes the table.
		if err := dynamo.CreateTable(ctx, ddb, *table); err != nil {
			cli.Exit("aggregator", err)
		}
	}
	// On the default registry: the health server serves it on /metrics.
	metrics, err := aggregate.NewMetrics(prometheus.DefaultRegisterer)
	if err != nil {
		cli.Exit("aggregator", err)
	}
	tr, err := msg.New(ctx, mcfg)
	if err != nil {
		cli.Exit("aggregator", err)
	}
	svc, _, err := app.NewAggregator(app.AggregatorConfig{
		Aggregate: aggregate.Config{ReportPrefix: *reportPrefix, ReportLocation: "s3://" + sf.Bucket, Owner: *owner, CheckInterval: *checkEvery, Lease: *lease,
			TicketBudget: *ticketBudget, MaxPending: *maxPending, OwnerTags: owners},
		Consumers: *consumers,
		Router:    mf.Router(logger),
	}, tr, app.AggregatorDeps{Store: st, Blob: bs, Notifier: notifier, Metrics: metrics}, app.Codec(bs, *payloadPrefix), logger)
	if err != nil {
		cli.Fail("aggregator", err)
	}
	if err := hs.Serve(ctx, health.RouterRunning(svc.Router), svc.Run); err != nil {
		cli.Exit("aggregator", err)
	}
	logger.Info("aggregator stopped")
}

func hostname() string {
	if h := os.Getenv("POD_NAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}
