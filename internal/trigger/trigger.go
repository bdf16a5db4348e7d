// Package trigger opens a report run: it finds the accounts to scan (the
// whole organisation, walked, or the few given with -account for an ad-hoc
// run, looked up, both through the Finder internal/app wires in),
// publishes one ScanRequested per account to the scan queue, in calls of
// at most ten messages (SQS's SendMessageBatch limit), and then the run's
// RunStarted, listing every account, to the results topic. It is the CronJob's one job; it does not scan, aggregate or
// retry on its own (the SDK's retryer and the publisher's do).
//
// # Order of publication, and why
//
// ScanRequested messages go out while the walk is still going on (the
// walk of a large organisation takes minutes at Organizations' few
// requests per second, and scanners can start meanwhile); RunStarted,
// which must list every account, goes out last, once the walk has ended
// and every ScanRequested was accepted by the publisher. So:
//
//   - Results may reach the aggregator before RunStarted: it records them
//     keyed by (run id, account id) and checks completion when RunStarted
//     arrives, as DESIGN.md requires.
//   - A RunStarted is never published for a run whose scan requests were
//     not all sent: a report can never be emitted without asking for some
//     of its accounts (they would show as MISSING for no reason).
//   - A crash (or a publish error) in between leaves scan requests, and
//     then results, without a RunStarted. The aggregator keeps such
//     results but never emits a run it has no RunStarted for (its store
//     lists as pending only runs with one; the store's TTL expires the
//     orphans). Re-running the trigger with the same -run-id, which the
//     error message names, completes the run: the walk is redone, every
//     ScanRequested is sent again (scanners scan those accounts again; the
//     aggregator's first-write-wins store ignores the second result of an
//     account) and RunStarted is published. The re-run is idempotent for
//     the report: a RunStarted already recorded by an earlier attempt wins
//     over the new one (first write wins), so its started_at and deadline
//     stand.
package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/runstart"
)

// MaxBatch is the most messages handed to one Publish call: SQS's
// SendMessageBatch takes at most ten entries.
const MaxBatch = 10

// Defaults.
const (
	DefaultPublishConcurrency = 4
	DefaultProgressInterval   = 10 * time.Second
)

// Config is what the trigger's flags say.
type Config struct {
	// RunID (-run-id): empty for a new ULID. Give the id of a run whose
	// trigger failed to complete it (see the package comment).
	RunID ident.RunID
	// Accounts (-account): when given, an ad-hoc run of exactly these
	// accounts, looked up without walking the organisation; the filter is
	// then not applied.
	Accounts []ident.AccountID
	// Regions (-regions) every account is scanned in. Required.
	Regions []ident.Region
	// Deadline (-deadline) after the run's start, the report is emitted
	// with the accounts not yet reported listed as missing. Default 45m.
	Deadline time.Duration
	// PublishConcurrency bounds the Publish calls in flight; default 4.
	PublishConcurrency int
	// ProgressInterval between progress log lines; default 10s.
	ProgressInterval time.Duration
}

// SetDefaults fills what is left zero with its default.
func (c *Config) SetDefaults() {
	if c.Deadline == 0 {
		c.Deadline = events.DefaultDeadline
	}
	if c.PublishConcurrency == 0 {
		c.PublishConcurrency = DefaultPublishConcurrency
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
}

// Validate returns every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if c.RunID != "" {
		if _, err := ident.ParseRunID(string(c.RunID)); err != nil {
			errs = append(errs, fmt.Errorf("run id: %w", err))
		}
	}
	for _, a := range c.Accounts {
		if _, err := ident.ParseAccountID(string(a)); err != nil {
			errs = append(errs, fmt.Errorf("account: %w", err))
		}
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("regions: at least one is required"))
	}
	seen := map[ident.Region]bool{}
	for _, r := range c.Regions {
		if _, err := ident.ParseRegion(string(r)); err != nil {
			errs = append(errs, fmt.Errorf("regions: %w", err))
		}
		if seen[r] {
			errs = append(errs, fmt.Errorf("regions: %q listed twice", r))
		}
		seen[r] = true
	}
	// Seconds are allowed so that the deadline path can be exercised in
	// tests and chaos runs; the aggregator refuses a run longer than
	// events.MaxRunLength.
	if c.Deadline < time.Second || c.Deadline > events.MaxRunLength {
		errs = append(errs, fmt.Errorf("deadline %s: want 1s to %s", c.Deadline, events.MaxRunLength))
	}
	if c.PublishConcurrency < 1 || c.PublishConcurrency > 64 {
		errs = append(errs, fmt.Errorf("publish concurrency %d: want 1 to 64", c.PublishConcurrency))
	}
	if c.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("progress interval %s: negative", c.ProgressInterval))
	}
	return errors.Join(errs...)
}

// Finder finds a run's accounts in the organisation. internal/app wires
// the production one: the Organizations walker, acting as the org-list
// role, with the run's filters and owner tag keys.
type Finder interface {
	// Accounts walks the organisation: fn is called with each account to
	// scan as soon as it is found (its tags not yet read), and stops the
	// walk by failing; the accounts then come back sorted by id, with
	// their tags.
	Accounts(ctx context.Context, fn func(events.Account) error) ([]events.Account, error)
	// Lookup finds the given accounts without walking (an ad-hoc run),
	// sorted by id, with their tags; its error wraps
	// events.ErrNotScannable for an account not in the organisation or not
	// ACTIVE.
	Lookup(ctx context.Context, ids []ident.AccountID) ([]events.Account, error)
}

// Deps are the adapters the trigger is given.
type Deps struct {
	// Finder finds the accounts; required.
	Finder Finder
	// Publisher publishes to events.TopicScanRequests and events.TopicResults.
	Publisher message.Publisher
	// Codec builds the messages. Its Payloads is required: a RunStarted
	// listing a few thousand accounts exceeds the message limit and goes
	// through the claim check.
	Codec events.Codec
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now; default time.Now.
	Now func() time.Time
	// Waiting says what the AWS calls are waiting on
	// (awsconf.RetryLog.Waiting), for the progress lines; nil: not said.
	Waiting func() string
}

func (d *Deps) setDefaults() {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
}

func (d Deps) validate() error {
	var errs []error
	if d.Finder == nil {
		errs = append(errs, errors.New("finder: required (the accounts are found through Organizations)"))
	}
	if d.Publisher == nil {
		errs = append(errs, errors.New("publisher: required"))
	}
	if d.Codec.Payloads == nil {
		errs = append(errs, errors.New("codec: a payload store is required (RunStarted of a large organisation is a claim check)"))
	}
	return errors.Join(errs...)
}

// Run opens a run and returns its RunStarted as published. On error
// nothing was published to the results topic; the error names the run id
// to re-run with when scan requests may already have gone out.
func Run(ctx context.Context, cfg Config, deps Deps) (events.RunStarted, error) {
	cfg.SetDefaults()
	deps.setDefaults()
	if err := errors.Join(cfg.Validate(), deps.validate()); err != nil {
		return events.RunStarted{}, fmt.Errorf("trigger config: %w", err)
	}
	trig := events.TriggerScheduled
	if len(cfg.Accounts) > 0 {
		trig = events.TriggerAdhoc
	}
	rs := runstart.New(cfg.RunID, trig, deps.Now(), cfg.Deadline, cfg.Regions)
	log := deps.Logger.With(slog.String("run_id", string(rs.RunID)), slog.String("trigger", string(rs.Trigger)))
	log.Info("run opening", slog.Time("started_at", rs.StartedAt), slog.Time("deadline", rs.Deadline),
		slog.Any("regions", rs.Regions), slog.Int("requested_accounts", len(cfg.Accounts)))

	pub := newBatcher(ctx, deps, cfg.PublishConcurrency, &rs)
	stopProgress := progress(log, cfg.ProgressInterval, pub, deps.Waiting)

	// Discovery is the run's first question to AWS: an Organizations or
	// STS endpoint that refuses the connection, or whose host does not
	// exist, before it has answered once is configuration (a closed port
	// in AWS_ENDPOINT_URL, a wrong region), reported at once, not retried
	// for two minutes. Publishing keeps ctx: its retries are the
	// publisher's.
	findCtx := awserr.FailFastUnreachable(ctx)
	var accts []events.Account
	var findErr error
	if rs.Trigger == events.TriggerAdhoc {
		if accts, findErr = deps.Finder.Lookup(findCtx, cfg.Accounts); findErr == nil {
			for _, a := range accts {
				if findErr = pub.add(a); findErr != nil {
					break
				}
			}
		}
	} else {
		accts, findErr = deps.Finder.Accounts(findCtx, pub.add)
	}
	if findErr != nil {
		pub.abort(findErr) // publish nothing more for a run that cannot start
	}
	pubErr := pub.close()
	stopProgress()
	sent := pub.published.Load()
	if pubErr == findErr { // a publish failure stopped the walk: one error, not two
		pubErr = nil
	}
	if err := errors.Join(findErr, pubErr); err != nil {
		if sent > 0 {
			return events.RunStarted{}, fmt.Errorf("run %s: %d scan requests were sent but not its RunStarted; re-run with -run-id %s to complete it: %w", rs.RunID, sent, rs.RunID, err)
		}
		return events.RunStarted{}, fmt.Errorf("run %s: nothing published: %w", rs.RunID, err)
	}
	if len(accts) == 0 {
		return events.RunStarted{}, fmt.Errorf("run %s: no account to scan: the organisation has no ACTIVE account the filters keep", rs.RunID)
	}

	rs.Accounts = accts
	msg, err := runstart.Publish(ctx, deps.Publisher, deps.Codec, &rs)
	if err != nil {
		return events.RunStarted{}, fmt.Errorf("run %s: %d scan requests were sent but not its RunStarted; re-run with -run-id %s to complete it: %w", rs.RunID, sent, rs.RunID, err)
	}
	log.Info("run started", slog.Int("accounts", len(rs.Accounts)), slog.Int64("scan_requests", sent),
		slog.Int("publish_calls", int(pub.calls.Load())), slog.Int("run_started_bytes", len(msg.Payload)),
		slog.Duration("took", deps.Now().Sub(rs.StartedAt)))
	return rs, nil
}

// batcher turns accounts into ScanRequested messages and publishes them
// in calls of at most MaxBatch, from a few goroutines, so that the walk
// is not held up by publishing (SQS answers a batch in tens of
// milliseconds; a 5,000-account org makes 500 batches).
type batcher struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	deps   Deps
	run    *events.RunStarted

	batch []*message.Message
	work  chan []*message.Message
	wg    sync.WaitGroup

	found, published, calls atomic.Int64
}

func newBatcher(ctx context.Context, deps Deps, workers int, run *events.RunStarted) *batcher {
	ctx, cancel := context.WithCancelCause(ctx)
	b := &batcher{ctx: ctx, cancel: cancel, deps: deps, run: run, work: make(chan []*message.Message)}
	for range workers {
		b.wg.Add(1)
		go b.worker()
	}
	return b
}

func (b *batcher) worker() {
	defer b.wg.Done()
	for batch := range b.work {
		if b.ctx.Err() != nil {
			continue // a batch failed: send nothing more, drain
		}
		b.calls.Add(1)
		if err := b.deps.Publisher.Publish(events.TopicScanRequests, batch...); err != nil {
			b.cancel(fmt.Errorf("publish %d scan requests: %w", len(batch), err))
			continue
		}
		b.published.Add(int64(len(batch)))
	}
}

// add queues the account's ScanRequested; it fails once a publish failed.
func (b *batcher) add(a events.Account) error {
	if err := b.ctx.Err(); err != nil {
		return context.Cause(b.ctx)
	}
	b.found.Add(1)
	msg, err := b.deps.Codec.Marshal(b.ctx, &events.ScanRequested{
		RunID:       b.run.RunID,
		AccountID:   a.AccountID,
		AccountName: a.Name,
		OUPath:      a.OUPath,
		Regions:     b.run.Regions,
	})
	if err != nil {
		return fmt.Errorf("scan request for account %s: %w", a.AccountID, err)
	}
	msg.SetContext(b.ctx)
	b.batch = append(b.batch, msg)
	if len(b.batch) == MaxBatch {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if len(b.batch) == 0 {
		return nil
	}
	select {
	case b.work <- b.batch:
		b.batch = nil
		return nil
	case <-b.ctx.Done():
		return context.Cause(b.ctx)
	}
}

// abort stops publishing: queued batches are dropped.
func (b *batcher) abort(cause error) { b.cancel(cause) }

// close sends the last partial batch, waits for every publish and returns
// the first publish error.
func (b *batcher) close() error {
	ferr := b.flush()
	close(b.work)
	b.wg.Wait()
	err := context.Cause(b.ctx)
	b.cancel(nil)
	if err != nil {
		return err
	}
	return ferr
}

// progress logs found and published counts, and what the calls wait on,
// every interval until stopped.
func progress(log *slog.Logger, every time.Duration, b *batcher, waiting func() string) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				attrs := []any{slog.Int64("accounts_found", b.found.Load()), slog.Int64("scan_requests_published", b.published.Load())}
				if waiting != nil {
					if w := waiting(); w != "" {
						attrs = append(attrs, slog.String("waiting_on", w))
					}
				}
				log.Info("run opening: progress", attrs...)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
