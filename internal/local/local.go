// Package local runs the whole job in one process: the trigger, the
// scanner and the aggregator, wired by internal/app exactly as in the
// cluster, over in-memory queues, a SQLite dedupe store and a folder, all
// under one output folder. It is the laptop replacement for the old
// script, the ad-hoc tool and the demo.
//
// A run's state is in its store, so a run interrupted at any point resumes
// when started again with the same -run-id: accounts already recorded are
// not scanned again, and an emitted run is re-rendered from the store
// without scanning at all.
package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/scan"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/trigger"
)

// BaselineNone is Config.Baseline turning the comparison off.
const BaselineNone = "none"

// Defaults of local mode's flags.
const (
	DefaultOut         = "./out"
	DefaultConcurrency = 32
	ReportPrefix       = "reports"
	payloadPrefix      = "payloads"
)

// Config is what local mode's flags say.
type Config struct {
	// Out is the output folder: reports, claim-check payloads and the
	// dedupe store live under it.
	Out string
	// Regions scanned in every account, in report order. Required.
	Regions []ident.Region
	// OrgRoleARN is the org-list role in the management account; empty uses
	// the ambient credentials.
	OrgRoleARN   string
	ReadRoleName ident.RoleName
	// Concurrency bounds the AWS calls in flight.
	Concurrency int
	// MaxFindings caps the findings kept per account (scan.Config);
	// default scan.DefaultMaxFindings.
	MaxFindings int
	// Accounts, when given, is an ad-hoc run of just these accounts.
	Accounts []ident.AccountID
	// RunID names the run; empty generates one. An existing run's id
	// resumes (or re-renders) it.
	RunID ident.RunID
	// GeneratedAt, when set, is the report's Generated at (reproducible
	// output); otherwise the time the run is first claimed.
	GeneratedAt time.Time
	// Deadline after the run's start; accounts without a result by then are
	// MISSING.
	Deadline time.Duration
	Filter   discover.Filter
	// OwnerTags (-owner-tags): the account tags the report's owner columns
	// show, read by the trigger (or an ad-hoc lookup) into RunStarted;
	// none: no tags read.
	OwnerTags []events.OwnerTag
	// ProgressInterval between progress lines; default 2s.
	ProgressInterval time.Duration
	// Baseline is the run the report compares with (REPORT_FORMAT.md, 5.
	// Changes): "" for the latest emitted scheduled run under Out (fixed
	// at the run's first claim), BaselineNone for no comparison, or the id
	// of an emitted scheduled run of Out's store. A run whose baseline is
	// fixed already (resumed, re-rendered) keeps its own.
	Baseline string
	// Waiting says what the AWS calls are waiting on
	// (awsconf.RetryLog.Waiting), added to the progress lines; nil: not
	// said.
	Waiting func() string
}

func (c *Config) setDefaults() {
	c.Out = cmp.Or(c.Out, DefaultOut)
	c.ReadRoleName = cmp.Or(c.ReadRoleName, events.DefaultReadRoleName)
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.Deadline = cmp.Or(c.Deadline, events.DefaultDeadline)
	c.ProgressInterval = cmp.Or(c.ProgressInterval, 2*time.Second)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("regions: none given (-regions, or a region in the SDK's configuration)"))
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("concurrency %d: want 1..1024", c.Concurrency))
	}
	if c.Deadline <= 0 || c.Deadline > events.MaxRunLength {
		errs = append(errs, fmt.Errorf("deadline %s: want a positive duration up to %s", c.Deadline, events.MaxRunLength))
	}
	if c.OrgRoleARN != "" {
		if _, err := ident.ParseRoleARN(c.OrgRoleARN); err != nil {
			errs = append(errs, fmt.Errorf("org-role-arn: %w", err))
		}
	}
	if _, err := ident.ParseRoleName(string(c.ReadRoleName)); err != nil {
		errs = append(errs, fmt.Errorf("read-role-name: %w", err))
	}
	if c.RunID != "" {
		if _, err := ident.ParseRunID(string(c.RunID)); err != nil {
			errs = append(errs, fmt.Errorf("run-id: %w", err))
		}
	}
	if c.Baseline != "" && c.Baseline != BaselineNone {
		if _, err := ident.ParseRunID(c.Baseline); err != nil {
			errs = append(errs, fmt.Errorf("baseline: %q is neither %q nor a run id: %w", c.Baseline, BaselineNone, err))
		} else if ident.RunID(c.Baseline) == c.RunID {
			errs = append(errs, fmt.Errorf("baseline: run %s cannot be its own baseline", c.Baseline))
		}
	}
	return errors.Join(errs...)
}

// Result is what a local run produced.
type Result struct {
	RunID ident.RunID
	// Path of the workbook.
	Path string
	// Resumed: the run existed in the store; Rerendered: it was emitted
	// already and its workbook was rendered again without scanning.
	Resumed, Rerendered bool
	// Requested is how many scan requests this invocation published.
	Requested int
	// Baseline is the run the report compared with, as the store fixed
	// it; nil when none.
	Baseline *store.BaselineRef
}

// Run runs one report run to its workbook. hub is the AWS configuration
// (ambient credentials; awsconf.Load in the binary). progress receives
// human progress lines (stderr).
func Run(ctx context.Context, cfg Config, hub aws.Config, progress io.Writer, logger *slog.Logger) (Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return Result{}, fmt.Errorf("output folder: %w", err)
	}
	storePath := filepath.Join(cfg.Out, sqlite.FileName)
	guard := newDiskGuard(storePath)
	logger = slog.New(guard.quiet(logger.Handler()))
	db, err := sqlite.Open(ctx, sqlite.Config{Path: storePath}, logger)
	if err != nil {
		if guard.check("", err); guard.tripped() != nil {
			return Result{}, guard.tripped()
		}
		return Result{}, fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	emitted := make(chan struct{}, 1)
	st := guardedStore{Store: db, g: guard, emitted: emitted}
	if cfg.Baseline != "" && cfg.RunID == "" {
		// The id the trigger would give it, given here so that the pin is
		// this run's alone.
		cfg.RunID = ident.NewRunID(time.Now())
	}
	pin, err := pinned(ctx, st, cfg)
	if err != nil {
		return Result{}, err
	}
	folder := guardedBlob{Folder: blob.Folder{Dir: cfg.Out}, g: guard}
	codec := app.Codec(folder, payloadPrefix)
	a, err := app.NewAWS(hub, cfg.OrgRoleARN, "config-report-local")
	if err != nil {
		return Result{}, err
	}
	a.Waiting = cfg.Waiting
	b := newBus()
	b.watch = guard.middleware
	defer b.Close()
	st.recorded = func(id ident.RunID) {
		if err := b.Release(id); err != nil {
			logger.Warn("results kept back for the run's RunStarted could not be published", slog.String("run_id", string(id)), slog.Any("error", err))
		}
	}

	owner := fmt.Sprintf("local-%d", os.Getpid())
	aggSvc, agg, err := app.NewAggregator(app.AggregatorConfig{
		Aggregate: aggregate.Config{
			ReportPrefix: ReportPrefix, ReportLocation: cfg.Out, Owner: owner,
			CheckInterval: time.Second, FixedGeneratedAt: cfg.GeneratedAt, OwnerTags: cfg.OwnerTags,
			Baseline: pin,
		},
		Router: app.RouterConfig{CloseTimeout: 5 * time.Second},
	}, b, app.AggregatorDeps{Store: st, Blob: folder, Renderer: guard.renderer(renderer)}, codec, logger)
	if err != nil {
		return Result{}, err
	}

	res := Result{RunID: cfg.RunID}
	if cfg.RunID != "" {
		prior, err := st.Run(ctx, cfg.RunID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return res, fmt.Errorf("read run %s: %w", cfg.RunID, err)
		case prior.BaselineFixed && pin != nil && !prior.Baseline.Equal(pin.Ref):
			fmt.Fprintf(progress, "run %s: its baseline was fixed at its first claim (%s); -baseline %s ignored\n",
				cfg.RunID, baselineText(prior.Baseline), cfg.Baseline)
		}
		switch {
		case err != nil:
		case prior.Emitted:
			res.Resumed, res.Rerendered = true, true
			key, err := agg.Rerender(ctx, cfg.RunID)
			if err != nil {
				if full := guard.tripped(); full != nil {
					return res, full
				}
				return res, fmt.Errorf("re-render run %s: %w", cfg.RunID, err)
			}
			fmt.Fprintf(progress, "run %s was emitted already: re-rendered from the store, nothing scanned, %s\n", cfg.RunID, baselineText(prior.Baseline))
			res.Path, res.Baseline = filepath.Join(cfg.Out, filepath.FromSlash(key)), prior.Baseline
			return res, nil
		default:
			res.Resumed = true
		}
	}

	scanSvc, err := app.NewScanner(app.ScannerConfig{
		Scan: scan.Config{ReadRoleName: cfg.ReadRoleName, Regions: cfg.Regions, Concurrency: cfg.Concurrency, MaxFindings: cfg.MaxFindings},
		// Enough messages in hand to keep every call slot busy while some
		// accounts wait on AssumeRole.
		Consumers: cfg.Concurrency,
		Handler:   scan.HandlerConfig{Deadline: cfg.Deadline},
		Router:    app.RouterConfig{CloseTimeout: 5 * time.Second},
		OwnerTags: cfg.OwnerTags,
	}, b, a, codec, logger)
	if err != nil {
		return res, err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	svcErr := make(chan error, 2)
	for _, svc := range []*app.Service{aggSvc, scanSvc} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc.Run(runCtx); err != nil {
				svcErr <- err
			}
		}()
		<-svc.Running()
	}
	defer func() { stop(); wg.Wait() }()

	if cfg.RunID == "" {
		// The id the trigger would give it, given here so that the bus can
		// keep back its results until its RunStarted is recorded.
		cfg.RunID = ident.NewRunID(time.Now())
	}
	if !res.Resumed {
		// A resumed run's RunStarted may be recorded already; a new one's
		// is only once the walk is over.
		b.Gate(cfg.RunID)
	}
	stopDiscovery := discoveryProgress(cfg, progress)
	started, requested, err := open(ctx, cfg, st, b, a, codec, logger, res.Resumed)
	stopDiscovery()
	if err != nil {
		return res, err
	}
	res.RunID, res.Requested = started.RunID, requested
	expect, err := expectedBaseline(ctx, st, started.RunID, pin)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "run %s: %d accounts in %d regions, %d to scan, deadline %s, %s\n",
		started.RunID, len(started.Accounts), len(started.Regions), requested, started.Deadline.Format(time.RFC3339), baselineText(expect))

	done, err := wait(runCtx, cfg, st, started, b, progress, svcErr, guard, emitted)
	if err != nil {
		return res, err
	}
	res.Path, res.Baseline = filepath.Join(cfg.Out, filepath.FromSlash(done.ReportKey)), done.Baseline
	return res, nil
}

// open starts the run, or resumes it: a run with a RunStarted in the store
// gets scan requests for its accounts without a result; any other (new, or
// interrupted before its RunStarted was recorded) runs the trigger, which
// is idempotent for a given run id.
func open(ctx context.Context, cfg Config, st store.Store, b app.Bus, a app.AWS, codec events.Codec, logger *slog.Logger, resumed bool) (*events.RunStarted, int, error) {
	if resumed {
		prior, err := st.Run(ctx, cfg.RunID)
		if err != nil {
			return nil, 0, fmt.Errorf("read run %s: %w", cfg.RunID, err)
		}
		if prior.Started != nil {
			n, err := requestMissing(ctx, st, b, codec, prior.Started)
			return prior.Started, n, err
		}
	}
	tc := app.TriggerConfig{
		Run:    trigger.Config{RunID: cfg.RunID, Accounts: cfg.Accounts, Regions: cfg.Regions, Deadline: cfg.Deadline},
		Filter: cfg.Filter, OwnerTags: cfg.OwnerTags,
	}
	rs, err := app.Trigger(ctx, tc, b, a, codec, logger)
	if err != nil {
		return nil, 0, err
	}
	return &rs, len(rs.Accounts), nil
}

// requestMissing publishes a scan request for every expected account of
// run that has no recorded result.
func requestMissing(ctx context.Context, st store.Store, b app.Bus, codec events.Codec, run *events.RunStarted) (int, error) {
	var batch []*events.ScanRequested
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		msgs := make([]*message.Message, 0, len(batch))
		for _, r := range batch {
			m, err := codec.Marshal(ctx, r)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		batch = batch[:0]
		return b.Publisher().Publish(events.TopicScanRequests, msgs...)
	}
	expected := make([]ident.AccountID, len(run.Accounts))
	for i, acct := range run.Accounts {
		expected[i] = acct.AccountID
	}
	missing, err := st.MissingResults(ctx, run.RunID, expected)
	if err != nil {
		return n, fmt.Errorf("resume run %s: %w", run.RunID, err)
	}
	todo := make(map[ident.AccountID]bool, len(missing))
	for _, acct := range missing {
		todo[acct] = true
	}
	for _, acct := range run.Accounts {
		if !todo[acct.AccountID] {
			continue
		}
		batch = append(batch, &events.ScanRequested{RunID: run.RunID, AccountID: acct.AccountID, AccountName: acct.Name, OUPath: acct.OUPath, Regions: run.Regions})
		n++
		if len(batch) == msg.MaxBatchEntries {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// renderer renders the workbooks; a variable for the tests.
var renderer aggregate.Renderer = report.RenderRun

// pollInterval is how often the store is read for the run's emission
// when no emitted mark wakes wait first (a run emitted by another
// process sharing the store): short, so the workbook's path comes as soon
// as it is written, whatever the progress interval.
const pollInterval = 100 * time.Millisecond

// wait reports progress until the run's report is emitted, and returns
// the emitted run's state. emitted wakes it at once after an emitted mark
// (guardedStore) instead of at the next poll.
func wait(ctx context.Context, cfg Config, st store.Store, run *events.RunStarted, b *bus, progress io.Writer, svcErr <-chan error, guard *diskGuard, emitted <-chan struct{}) (store.RunState, error) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	start := time.Now()
	var lastLine time.Time
	base := -1
	total := len(run.Accounts)
	follow := run.RunID
	for {
		s, err := st.Run(ctx, follow)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return s, fmt.Errorf("read run %s: %w", follow, err)
		}
		if s.JoinedTo != "" {
			// An ad-hoc run that joined the account's open one: that run
			// makes the report (store.Store.RecordRun).
			fmt.Fprintf(progress, "run %s: joined the open ad-hoc run %s of the account; its report is this run's\n", run.RunID, s.JoinedTo)
			follow = s.JoinedTo
			continue
		}
		if s.Emitted {
			fmt.Fprintf(progress, "run %s: report written, %d/%d accounts reported in %s, %s\n", run.RunID, s.Results, total,
				time.Since(start).Round(100*time.Millisecond), baselineText(s.Baseline))
			return s, nil
		}
		if base < 0 {
			base = s.Results // already recorded before this invocation
		}
		if time.Since(lastLine) >= cfg.ProgressInterval {
			lastLine = time.Now()
			fmt.Fprintln(progress, progressLine(run, s.Results, base, b, start)+waitingOn(cfg.Waiting))
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("run %s interrupted before its report (%d/%d accounts recorded; rerun with -run-id %s to resume): %w", run.RunID, s.Results, total, run.RunID, ctx.Err())
		case err := <-svcErr:
			return s, fmt.Errorf("run %s: %w", run.RunID, err)
		case <-guard.full:
			return s, guard.tripped()
		case <-emitted:
		case <-t.C:
		}
	}
}

// progressLine says how far the run is: accounts reported of expected,
// failures, rate and ETA since this invocation started.
func progressLine(run *events.RunStarted, results, base int, b *bus, start time.Time) string {
	total := len(run.Accounts)
	_, failed := b.tally.counts(string(run.RunID))
	line := fmt.Sprintf("run %s: %d/%d accounts reported, %d failed", run.RunID, results, total, failed)
	if n, el := results-base, time.Since(start); n > 0 && el > 0 {
		rate := float64(n) / el.Seconds()
		eta := time.Duration(float64(total-results) / rate * float64(time.Second))
		line += fmt.Sprintf(", %.1f accounts/s, ETA %s", rate, eta.Round(time.Second))
	}
	if left := time.Until(run.Deadline); left < 5*time.Minute {
		line += fmt.Sprintf(", deadline in %s", left.Round(time.Second))
	}
	return line
}

// waitingOn is the progress lines' ", waiting on ..." when an AWS call is
// retrying, else "".
func waitingOn(waiting func() string) string {
	if waiting == nil {
		return ""
	}
	if w := waiting(); w != "" {
		return ", waiting on " + w
	}
	return ""
}

// discoveryProgress prints a line every progress interval while the
// accounts are being discovered (the trigger's walk prints nothing of its
// own at local mode's log level), saying for how long and what the AWS
// calls wait on, until stopped.
func discoveryProgress(cfg Config, progress io.Writer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTicker(cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(progress, "discovering accounts for %s%s\n", time.Since(start).Round(time.Second), waitingOn(cfg.Waiting))
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
