// Command local runs the whole compliance report job in one process: it
// discovers the organisation's accounts, scans each one's AWS Config
// compliance with a role assumed in it, and writes the workbook to a local
// folder. See internal/local.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/cli"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/local"
	"github.com/cybsecops/configreport/internal/scan"
)

const summary = `local: the weekly AWS Config compliance report, in one process.

Discovers the organisation's ACTIVE accounts (as the org-list role, or the
ambient credentials), scans AWS Config in each account and region with the read
role assumed from the ambient identity, and writes
<out>/reports/<yyyy>/<mm>/<dd>/config-compliance-<run_id>.xlsx. Progress goes to
stderr; the workbook's path is the last line of stdout. AWS credentials and
endpoints come from the SDK's standard configuration (AWS_PROFILE,
AWS_ENDPOINT_URL, ...). Re-running with the same -run-id resumes an interrupted
run, or re-renders a finished one without scanning.

Beside the workbook goes its findings file,
config-compliance-<run_id>.findings.jsonl.gz (JSON Lines: jq, Athena, a SIEM),
and the workbook's Changes sheet lists what is NEW and RESOLVED since the
baseline: by default the latest scheduled run (one without -account) whose
report was written under the same -out; -baseline RUN_ID picks another such
run, -baseline none compares with nothing. A run's baseline is fixed when its
report is first rendered: resuming or re-rendering it keeps that one.

Exit status: 0 when a report was written (failed accounts are in it), 1 when
no report could be written (a full disk, under -out or TMPDIR, stops the run
at once with one line naming the path), 2 for bad configuration.`

func main() {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	out := fs.String("out", local.DefaultOut, "output folder for reports, claim-check payloads and the run store")
	regions := fs.String("regions", "", "comma-separated regions to scan, in report order (default: the SDK's region)")
	orgRole := fs.String("org-role-arn", "", "org-list role in the management account (empty: the ambient credentials)")
	readRole := fs.String("read-role-name", string(events.DefaultReadRoleName), "read role assumed in every account")
	conc := fs.Int("concurrency", local.DefaultConcurrency, "AWS calls in flight at most")
	maxFindings := fs.Int("max-findings", scan.DefaultMaxFindings, "findings kept per account at most; the region that passes it is reported as not read (Truncated)")
	var accounts cli.Strings
	fs.Var(&accounts, "account", "scan only this account id, an ad-hoc run (repeatable, or comma-separated)")
	runID := fs.String("run-id", "", "run id (default: a new ULID); an existing run's id resumes or re-renders it")
	baseline := fs.String("baseline", "", `run to compare with: an emitted scheduled run id under -out, or "none" (default: the latest emitted scheduled run under -out)`)
	genAt := fs.String("generated-at", "", "report's Generated at, RFC 3339 (default: when the run is first claimed), for reproducible output")
	deadline := fs.Duration("deadline", events.DefaultDeadline, "after this long, accounts without a result are reported MISSING")
	incAcc := fs.String("include-accounts", "", "comma-separated account ids to keep (default: all)")
	excAcc := fs.String("exclude-accounts", "", "comma-separated account ids to skip")
	incOU := fs.String("include-ous", "", "comma-separated OU path prefixes to keep, e.g. Root/Prod")
	excOU := fs.String("exclude-ous", "", "comma-separated OU path prefixes to skip (exclusions win)")
	ownerTags := fs.String("owner-tags", "", `account tags for the report's owner columns, comma-separated, alternatives separated by "|" (e.g. "Owner|owner,Team"); empty: none read`)
	logging := cli.Logging{Format: "text", Level: "warn"}
	logging.Register(fs)
	ctx, stop, logger := cli.Start("local", summary, fs, os.Args[1:], &logging)
	defer stop()
	cfg := local.Config{Out: *out, OrgRoleARN: *orgRole, ReadRoleName: ident.RoleName(*readRole),
		Concurrency: *conc, MaxFindings: *maxFindings, RunID: ident.RunID(*runID), Deadline: *deadline, Baseline: *baseline}
	var errs []error
	var err error
	if cfg.Regions, err = ident.ParseRegions(*regions); err != nil {
		errs = append(errs, fmt.Errorf("regions: %w", err))
	}
	for _, a := range accounts {
		id, err := ident.ParseAccountID(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("account: %w", err))
		}
		cfg.Accounts = append(cfg.Accounts, id)
	}
	if *genAt != "" {
		if cfg.GeneratedAt, err = time.Parse(time.RFC3339, *genAt); err != nil {
			errs = append(errs, fmt.Errorf("generated-at %q: want RFC 3339, e.g. 2026-11-23T01:00:00Z", *genAt))
		}
	}
	if cfg.Filter, err = discover.ParseFilter(*incAcc, *excAcc, *incOU, *excOU); err != nil {
		errs = append(errs, err)
	}
	if cfg.OwnerTags, err = events.ParseOwnerTags(*ownerTags); err != nil {
		errs = append(errs, fmt.Errorf("owner-tags: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		cli.Fail("local", err)
	}

	tuneGC(logger)
	region := ""
	if len(cfg.Regions) > 0 {
		region = string(cfg.Regions[0])
	}
	retries := awsconf.NewRetryLog(logger)
	cfg.Waiting = retries.Waiting
	hub, err := awsconf.Load(ctx, awsconf.Options{Region: region, Concurrency: cfg.Concurrency, Retries: retries})
	if err != nil {
		cli.Fail("local", fmt.Errorf("AWS configuration: %w", err))
	}
	if len(cfg.Regions) == 0 && hub.Region != "" {
		cfg.Regions = []ident.Region{ident.Region(hub.Region)}
	}
	if err := cfg.Validate(); err != nil {
		cli.Fail("local", err)
	}
	res, err := local.Run(ctx, cfg, hub, os.Stderr, logger)
	var full *local.DiskFullError
	switch {
	case errors.As(err, &full):
		resume := ""
		if res.RunID != "" {
			resume = fmt.Sprintf("; free some space and rerun with -run-id %s to resume", res.RunID)
		}
		fmt.Fprintf(os.Stderr, "local: %s%s\n", cli.OneLine(full), resume)
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "local: no report: %s\n", cli.OneLine(err))
		os.Exit(1)
	}
	fmt.Println(res.Path)
}

// Garbage collection of the batch process, unless GOGC or GOMEMLIMIT say
// otherwise. Local mode's live heap is small (about 25 MB at 1,000 accounts
// x 2 regions: the run's RunStarted, the queued messages, the result in
// hand) but it allocates fast (every SDK call, every decoded result), so at
// the default GOGC=100 it collected some 60 times a run and the collector
// was a sixth of its CPU. gcPercent lets the heap grow to 5x the live heap
// between collections (peak RSS about 80 MB -> 125 MB at 1,000 accounts);
// gcMemoryLimit is the ceiling: near it the collector runs as often as it
// must to stay under, whatever gcPercent says (it is soft: a live heap
// above it is collected harder, never refused).
const (
	gcPercent     = 400
	gcMemoryLimit = 512 << 20
)

func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		log.Debug("garbage collector tuned for a batch run", slog.Int("gogc", gcPercent))
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimit)
		log.Debug("garbage collector memory limit", slog.Int64("bytes", gcMemoryLimit))
	}
}
