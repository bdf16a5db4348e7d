// Command trigger opens one run (the weekly CronJob, or an ad-hoc run with
// -account): it walks the organisation as the org-list role, publishes
// RunStarted to the results topic and one ScanRequested per account to the
// scan queue, then exits. The wiring is internal/app's.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/msg"
)

const summary = `trigger: opens a compliance report run and exits.

Walks the organisation's OU tree as the org-list role (-org-role-arn), keeps
the ACTIVE accounts the filters select (or looks up the -account ids of an
ad-hoc run), publishes RunStarted to the results topic and one ScanRequested
per account to the scan queue, in batches of 10. The run id is printed on
stdout. AWS credentials and endpoints come from the SDK's standard
configuration. Re-running with a run's -run-id completes a run whose trigger
failed half-way (scanners and the aggregator ignore what they already have).

Exit status: 0 when the run is open, 1 when it could not be, 2 for bad
configuration.`

func main() {
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	var tf app.TriggerFlags
	tf.Register(fs)
	var mf msg.Flags
	mf.Register(fs, msg.NeedScanQueue|msg.NeedResultsTopic)
	var sf blob.S3Flags
	sf.Register(fs)
	payloadPrefix := fs.String("payload-prefix", "claim-check", "key prefix of claim-check payloads (a RunStarted listing thousands of accounts)")
	conc := fs.Int("concurrency", 16, "AWS calls in flight at most")
	logging := cli.Logging{Format: "json", Level: "info"}
	logging.Register(fs)
	ctx, stop, logger := cli.Start("trigger", summary, fs, os.Args[1:], &logging)
	defer stop()
	retries := awsconf.NewRetryLog(logger)
	hub, err := awsconf.Load(ctx, awsconf.Options{Concurrency: *conc, Retries: retries})
	if err != nil {
		cli.Fail("trigger", err)
	}
	var errs []error
	tcfg, err := tf.Config()
	errs = append(errs, err)
	mcfg, err := mf.Config(hub, logger)
	errs = append(errs, err)
	bs, err := sf.Store(hub)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		cli.Fail("trigger", err)
	}
	// After the configuration is checked: a configuration error is one line.
	cli.MemoryLimit("trigger", logger, os.Getenv)
	a, err := app.NewAWS(hub, tf.OrgRoleARN, "config-report-trigger")
	if err != nil {
		cli.Fail("trigger", err)
	}
	a.Waiting = retries.Waiting
	// Queues given by name are looked up first: an SQS endpoint that
	// cannot be reached then is configuration, reported at once.
	tr, err := msg.New(awserr.FailFastUnreachable(ctx), mcfg)
	if err != nil {
		cli.Exit("trigger", err)
	}
	defer tr.Close()
	run, err := app.Trigger(ctx, tcfg, tr, a, app.Codec(bs, *payloadPrefix), logger)
	if err != nil {
		cli.Exit("trigger", err)
	}
	fmt.Println(run.RunID)
}
