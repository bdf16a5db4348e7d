package aggregate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// Config of an Aggregator.
type Config struct {
	// ReportPrefix is the key prefix of reports in the blob store ("" for
	// none): <prefix>/<yyyy>/<mm>/<dd>/config-compliance-<run_id>.xlsx.
	ReportPrefix string
	// ReportLocation is how people reach the blob store, prepended to the key
	// in the ticket: "s3://bucket" in production, the output folder locally.
	// Empty: the ticket gives the key alone.
	ReportLocation string
	// Lease is how long a claim holds a run; renewed every Lease/3 while the
	// report renders and uploads. A replica that dies holds the run this
	// long at most. The ticket lease (store.ClaimTicket) is as long,
	// renewed while Jira answers. Default 2m.
	Lease time.Duration
	// Owner names this replica in claims: the pod name (POD_NAME from the
	// downward API), unique among live replicas; two live replicas sharing
	// it would share leases. Required.
	Owner string
	// CheckInterval is how often the loop looks for runs to complete, runs
	// past their deadline and tickets to retry. Default 15s.
	CheckInterval time.Duration
	// BackoffMax caps the wait between retries of one run's failed
	// emission or ticket (doubling from CheckInterval). Default 10m.
	BackoffMax time.Duration
	// TicketTakeover is how long after an emission a replica other than the
	// emitting one waits before it files the ticket itself. Default 2*Lease.
	TicketTakeover time.Duration
	// TicketBudget bounds one try at a run's ticket (lease, search, filing,
	// attachment): a Jira answering slowly holds a ticket worker this long
	// at most, then the run is retried on its backoff. Default 2m.
	TicketBudget time.Duration
	// TicketWorkers file tickets at once, off the loop (Run starts them);
	// TicketQueue runs wait for them at most. Defaults 2 and 64.
	TicketWorkers, TicketQueue int
	// MaxPending bounds the pending runs one pass of the loop loads from
	// the store (store.Store.Pending): the earliest deadlines first, so a
	// flood of RunStarted events with far deadlines neither starves a real
	// run nor grows memory; the runs beyond it wait for a later pass.
	// Default 1,000 (a handful are live at once in practice).
	MaxPending int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// OwnerTags are -owner-tags' entries: each adds an owner column to the
	// report, holding the first of its tags the account has (from
	// RunStarted's account tags). None: no owner columns.
	OwnerTags []events.OwnerTag
	// FixedGeneratedAt, when set, is every report's Generated at instead
	// of the first claim's time: local mode's -generated-at, so that the
	// same run rendered twice, anywhere, gives the same bytes.
	FixedGeneratedAt time.Time
	// KeptFindingsBytes bounds the report rows an emission keeps in
	// memory between its two passes over the run's results (estimated
	// bytes: the rows and their strings), so that each result is read and
	// decoded once; a run whose rows pass it is read again for them, one
	// result at a time. Default 8 MiB (DefaultKeptFindingsBytes); negative:
	// never kept.
	KeptFindingsBytes int64
	// Baseline, when set, is pinned as its run's baseline before the first
	// claim (store.PinBaseline): local mode's -baseline RUN_ID or none.
	// Nil: the first claim fixes the latest emitted scheduled run.
	Baseline *BaselinePin
}

func (c *Config) setDefaults() {
	c.Lease = cmp.Or(c.Lease, 2*time.Minute)
	c.CheckInterval = cmp.Or(c.CheckInterval, 15*time.Second)
	c.BackoffMax = cmp.Or(c.BackoffMax, 10*time.Minute)
	c.TicketTakeover = cmp.Or(c.TicketTakeover, 2*c.Lease)
	c.TicketBudget = cmp.Or(c.TicketBudget, 2*time.Minute)
	c.TicketWorkers = cmp.Or(c.TicketWorkers, 2)
	c.TicketQueue = cmp.Or(c.TicketQueue, 64)
	c.MaxPending = cmp.Or(c.MaxPending, DefaultMaxPending)
	c.KeptFindingsBytes = cmp.Or(c.KeptFindingsBytes, DefaultKeptFindingsBytes)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// DefaultMaxPending is Config.MaxPending's default.
const DefaultMaxPending = 1000

// DefaultKeptFindingsBytes is Config.KeptFindingsBytes' default: 8 MiB by
// the estimate. Not more: at the load's full size (5,000 accounts x 4
// regions, 76,714 findings) keeping every row raised the aggregator's peak RSS from 254
// MiB to 272-286 MiB, one run past issue 10's 300 MB, for under a tenth of
// a millisecond of CPU per result; a run past the budget reads its
// results again, as it did before rows were kept.
const DefaultKeptFindingsBytes = 8 << 20

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Owner == "" {
		errs = append(errs, errors.New("aggregate: Owner (replica id) is required"))
	}
	if c.Lease < 10*time.Millisecond { // renewed every Lease/3
		errs = append(errs, fmt.Errorf("aggregate: Lease %s is under 10ms", c.Lease))
	}
	if c.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("aggregate: CheckInterval %s is not positive", c.CheckInterval))
	}
	if c.BackoffMax < c.CheckInterval {
		errs = append(errs, fmt.Errorf("aggregate: BackoffMax %s is under CheckInterval %s", c.BackoffMax, c.CheckInterval))
	}
	if c.MaxPending < 0 {
		errs = append(errs, fmt.Errorf("aggregate: MaxPending %d is negative", c.MaxPending))
	}
	if c.TicketTakeover < 0 {
		errs = append(errs, fmt.Errorf("aggregate: TicketTakeover %s is negative", c.TicketTakeover))
	}
	if c.TicketBudget < 0 {
		errs = append(errs, fmt.Errorf("aggregate: TicketBudget %s is negative", c.TicketBudget))
	}
	if c.TicketWorkers < 0 || c.TicketQueue < 0 {
		errs = append(errs, fmt.Errorf("aggregate: TicketWorkers %d or TicketQueue %d is negative", c.TicketWorkers, c.TicketQueue))
	}
	if c.ReportPrefix != "" {
		if err := blob.CheckKey(c.ReportPrefix); err != nil {
			errs = append(errs, fmt.Errorf("aggregate: ReportPrefix: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Deps are what an Aggregator talks to.
type Deps struct {
	Store store.Store
	Blob  blob.Store
	// Renderer defaults to report.RenderRun.
	Renderer Renderer
	// Notifier files the ticket; nil files none (local mode without Jira).
	Notifier Notifier
	// Codec decodes the results topic's messages (its Payloads follows
	// claim checks).
	Codec  events.Codec
	Logger *slog.Logger
	// Metrics defaults to unregistered ones.
	Metrics *Metrics
}

// Aggregator is the aggregator stage. Its methods are safe for concurrent use.
type Aggregator struct {
	cfg      Config
	store    store.Store
	blob     blob.Store
	render   Renderer
	notifier Notifier
	codec    events.Codec
	log      *slog.Logger
	metrics  *Metrics

	kicks chan ident.RunID
	// started keeps the RunStarted of runs this replica has read: recorded
	// once and never changed (first write wins), so with a store that
	// counts as it records (store.ResultCounter) a result needs no read of
	// the run once its RunStarted is known here. Everything else about the
	// run comes from the store, in the same write as the result.
	started *store.StartedCache
	// absent: runs read as not started a moment ago (lookup).
	absent absentRuns

	mu sync.Mutex
	// backoff of ticket retries, emitBackoff of failed emissions, per run.
	backoff     map[ident.RunID]retry
	emitBackoff map[ident.RunID]retry
	// summaries of emitted runs whose ticket is not stored yet.
	summaries map[ident.RunID]Summary
	// emitting serialises emissions of one run within this replica (the
	// handler's kick and the loop's tick may name the same run).
	emitting map[ident.RunID]bool

	// tickets feeds the ticket workers (ticketworker.go).
	tickets ticketQueue
	// swept: pending runs whose held results the loop has promoted once
	// since this replica started (the handlers promote as they go; the
	// loop's sweep repairs a crash between a RunStarted and its promotion).
	swept map[ident.RunID]bool
	// promotes: one promotion of a run at a time, overlapping callers
	// coalesced (coalesce.go).
	promotes coalescer
}

type retry struct {
	failures int
	next     time.Time
}

// failed records one more failure in m and returns the wait before the
// next try: CheckInterval doubling up to BackoffMax. Callers hold a.mu.
func (a *Aggregator) failed(m map[ident.RunID]retry, id ident.RunID) retry {
	r := m[id]
	r.failures++
	delay := a.cfg.BackoffMax
	if shift := r.failures - 1; shift < 30 && a.cfg.CheckInterval<<shift < delay {
		delay = a.cfg.CheckInterval << shift
	}
	r.next = a.cfg.Now().Add(delay)
	m[id] = r
	return r
}

// due tells whether id's backoff in m has passed. Callers hold a.mu.
func (a *Aggregator) due(m map[ident.RunID]retry, id ident.RunID, now time.Time) bool {
	r, ok := m[id]
	return !ok || !now.Before(r.next)
}

// New checks cfg and deps and returns an Aggregator.
func New(cfg Config, d Deps) (*Aggregator, error) {
	cfg.setDefaults()
	errs := []error{cfg.Validate()}
	if d.Store == nil {
		errs = append(errs, errors.New("aggregate: Store is required"))
	}
	if d.Blob == nil {
		errs = append(errs, errors.New("aggregate: Blob is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if d.Renderer == nil {
		d.Renderer = report.RenderRun
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics, _ = NewMetrics(nil)
	}
	return &Aggregator{
		cfg: cfg, store: d.Store, blob: d.Blob, render: d.Renderer, notifier: d.Notifier,
		codec: d.Codec, log: d.Logger.With(slog.String("owner", cfg.Owner)), metrics: d.Metrics,
		kicks:       make(chan ident.RunID, 64),
		started:     store.NewStartedCache(16),
		backoff:     map[ident.RunID]retry{},
		emitBackoff: map[ident.RunID]retry{},
		emitting:    map[ident.RunID]bool{},
		summaries:   map[ident.RunID]Summary{},
		swept:       map[ident.RunID]bool{},
	}, nil
}

// ReportKey is where a run's workbook goes:
// <prefix>/<yyyy>/<mm>/<dd>/config-compliance-<run_id>.xlsx, dated by the
// run's started_at in UTC.
func ReportKey(prefix string, run *events.RunStarted) string {
	t := run.StartedAt.UTC()
	return path.Join(prefix, t.Format("2006"), t.Format("01"), t.Format("02"), report.FileName(string(run.RunID)))
}

// Handle is the watermill handler of the results topic. A message that can
// never be decoded returns an error wrapping *events.DecodeError (poison);
// a store failure returns a plain error (nack, redelivery). Recording is
// idempotent: a duplicate, or a result after the report, changes nothing.
func (a *Aggregator) Handle(msg *message.Message) error {
	ctx := msg.Context()
	ev, err := a.codec.Unmarshal(ctx, msg)
	if err != nil {
		return fmt.Errorf("results message %s: %w", msg.UUID, err)
	}
	switch e := ev.(type) {
	case *events.RunStarted:
		err = a.handleRunStarted(ctx, e)
	case *events.AccountScanned:
		err = a.handleResult(ctx, e)
	default:
		// A ScanRequested published to the results topic by mistake: no
		// retry will make this consumer read it.
		return fmt.Errorf("results message %s: %w", msg.UUID, &events.DecodeError{
			Reason: events.ReasonUnknownType,
			Err:    fmt.Errorf("%s does not belong on the results topic", ev.EventType()),
		})
	}
	if errors.Is(err, store.ErrInvalid) {
		// The store will never record it, whatever the retries.
		return fmt.Errorf("results message %s: %w", msg.UUID, &events.DecodeError{Reason: events.ReasonMalformed, Err: err})
	}
	return err
}

func (a *Aggregator) handleRunStarted(ctx context.Context, e *events.RunStarted) error {
	log := a.log.With(slog.String("run_id", string(e.RunID)))
	created, err := a.store.RecordRun(ctx, e)
	if err != nil {
		return fmt.Errorf("record RunStarted of run %s: %w", e.RunID, err)
	}
	// Everything below reads the recorded RunStarted, never e: first write
	// wins, so a later RunStarted with the same id changes nothing.
	st, err := a.store.Run(ctx, e.RunID)
	if err != nil {
		return fmt.Errorf("read run %s: %w", e.RunID, err)
	}
	outcome := "recorded"
	switch {
	case !created && st.Started != nil && !sameRun(e, st.Started):
		outcome = "duplicate"
		log.Warn("a second, different RunStarted for a recorded run was ignored (first write wins)",
			slog.Int("accounts", len(e.Accounts)), slog.Int("recorded_accounts", len(st.Started.Accounts)),
			slog.Time("deadline", e.Deadline), slog.Time("recorded_deadline", st.Started.Deadline))
	case !created:
		outcome = "duplicate"
		log.Debug("duplicate RunStarted ignored")
	case st.JoinedTo != "":
		outcome = "joined"
		a.metrics.adhocJoined.Inc()
		log.Info("ad-hoc run joins the open ad-hoc run of its account: no report or ticket of its own, its result counts for the open run",
			slog.String("joined_to", string(st.JoinedTo)), slog.String("account_id", string(e.Accounts[0].AccountID)))
	default:
		log.Info("run started", slog.Int("accounts", len(e.Accounts)), slog.Time("deadline", e.Deadline))
	}
	a.metrics.events.WithLabelValues(string(events.TypeRunStarted), outcome).Inc()
	a.remember(st)
	// Results may all have come first: they were held until now.
	return a.promoteAndKick(ctx, st)
}

// promoteAndKick promotes the run's held results and, when some were
// recorded, wakes the loop if that completed the run.
func (a *Aggregator) promoteAndKick(ctx context.Context, st store.RunState) error {
	n, err := a.promote(ctx, st)
	if err != nil || st.JoinedTo != "" {
		return err // a joined run's promotion kicks the run it joined
	}
	if n > 0 {
		id := st.RunID
		if st, err = a.store.Run(ctx, id); err != nil {
			return fmt.Errorf("read run %s: %w", id, err)
		}
	}
	return a.kickIfComplete(ctx, st)
}

// covers tells whether a result covers every region of its run: only then
// is it recorded (DESIGN.md, Contracts).
func covers(res *events.AccountScanned, run *events.RunStarted) bool {
	return len(res.Uncovered(run.Regions)) == 0
}

// sameRun tells whether a RunStarted says what the recorded one says, as
// far as a log line needs: a redelivery, not a second RunStarted.
func sameRun(e, rec *events.RunStarted) bool {
	return e.Trigger == rec.Trigger && e.StartedAt.Equal(rec.StartedAt) && e.Deadline.Equal(rec.Deadline) &&
		slices.Equal(e.Regions, rec.Regions) && slices.EqualFunc(e.Accounts, rec.Accounts, events.Account.Equal)
}

func (a *Aggregator) handleResult(ctx context.Context, e *events.AccountScanned) error {
	log := a.log.With(slog.String("run_id", string(e.RunID)), slog.String("account_id", string(e.AccountID)))
	started, joinedTo, err := a.lookup(ctx, e.RunID)
	if err != nil {
		return err
	}
	if joinedTo != "" {
		log.Info("result of an ad-hoc run that joined another counts for the open run", slog.String("joined_to", string(joinedTo)))
		moved := *e
		moved.RunID = joinedTo
		e = &moved
		log = log.With(slog.String("joined_to", string(joinedTo)))
		if started, _, err = a.lookup(ctx, joinedTo); err != nil {
			return err
		}
	}
	if started == nil || !covers(e, started) {
		return a.hold(ctx, log, e, started)
	}
	created, st, err := a.record(ctx, e)
	if err != nil {
		return err
	}
	typ := string(events.TypeAccountScanned)
	if !created {
		log.Debug("duplicate result ignored (first write wins)")
		a.metrics.events.WithLabelValues(typ, "duplicate").Inc()
		return nil
	}
	switch {
	case st.Emitted:
		log.Debug("result arrived after the report was emitted; it changes nothing")
		a.metrics.events.WithLabelValues(typ, "late").Inc()
		return nil
	case st.Started != nil && !slices.ContainsFunc(st.Started.Accounts, func(x events.Account) bool { return x.AccountID == e.AccountID }):
		log.Warn("result for an account the run does not expect; it will be left out of the report")
		a.metrics.events.WithLabelValues(typ, "stray").Inc()
		return nil
	}
	log.Debug("result recorded", slog.String("status", string(e.Status)))
	a.metrics.events.WithLabelValues(typ, "recorded").Inc()
	a.metrics.resultRecorded(e.RunID, e.Status)
	return a.kickIfComplete(ctx, st)
}

// record records a result and, when it was created, returns the run's state
// after the write. With a store.ResultCounter whose run's RunStarted this
// replica has already seen, that state is the write's own answer plus the
// known RunStarted (its claim fields and report key are left empty: the
// handler does not use them); otherwise it is read from the store.
func (a *Aggregator) record(ctx context.Context, e *events.AccountScanned) (bool, store.RunState, error) {
	var (
		created bool
		err     error
	)
	if rc, ok := a.store.(store.ResultCounter); ok {
		var rec store.Recorded
		created, rec, err = rc.RecordResultCounted(ctx, e)
		if err != nil {
			return false, store.RunState{}, fmt.Errorf("record result of run %s account %s: %w", e.RunID, e.AccountID, err)
		}
		if !created {
			return false, store.RunState{}, nil
		}
		if started, ok := a.started.Peek(string(e.RunID)); ok && rec.HasStarted {
			return true, store.RunState{RunID: e.RunID, Started: started, Results: rec.Results, Emitted: rec.Emitted}, nil
		}
	} else {
		created, err = a.store.RecordResult(ctx, e)
		if err != nil {
			return false, store.RunState{}, fmt.Errorf("record result of run %s account %s: %w", e.RunID, e.AccountID, err)
		}
		if !created {
			return false, store.RunState{}, nil
		}
	}
	st, err := a.store.Run(ctx, e.RunID)
	if err != nil {
		return false, store.RunState{}, fmt.Errorf("read run %s: %w", e.RunID, err)
	}
	a.remember(st)
	return true, st, nil
}

// remember keeps the run's RunStarted, once recorded, for record and
// lookup. A joined run's is not kept: lookup must read its JoinedTo, which
// is fixed with its RunStarted.
func (a *Aggregator) remember(st store.RunState) {
	if st.Started != nil {
		a.absent.forget(st.RunID)
	}
	if st.Started != nil && st.JoinedTo == "" {
		_, _ = a.started.Get(string(st.RunID), func() (*events.RunStarted, error) { return st.Started, nil })
	}
}

// lookup returns the run's recorded RunStarted (nil when not recorded yet)
// and, for an ad-hoc run that joined another, the run it joined.
func (a *Aggregator) lookup(ctx context.Context, id ident.RunID) (*events.RunStarted, ident.RunID, error) {
	if started, ok := a.started.Peek(string(id)); ok {
		return started, "", nil
	}
	if a.absent.fresh(id, a.cfg.Now()) {
		return nil, "", nil // hold reads the run again after the hold
	}
	st, err := a.store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && st.Started == nil) {
		a.absent.mark(id, a.cfg.Now())
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read run %s: %w", id, err)
	}
	a.remember(st)
	return st.Started, st.JoinedTo, nil
}

// hold keeps a result that does not cover its run's regions, or whose run
// is not recorded yet (DESIGN.md, Contracts): it never makes the run
// complete; a covering result replaces it; at the deadline it counts, its
// uncovered regions as NotScanned errors.
func (a *Aggregator) hold(ctx context.Context, log *slog.Logger, e *events.AccountScanned, started *events.RunStarted) error {
	held, err := a.store.HoldResult(ctx, e)
	if err != nil {
		return fmt.Errorf("hold result of run %s account %s: %w", e.RunID, e.AccountID, err)
	}
	typ := string(events.TypeAccountScanned)
	if !held {
		log.Debug("result not held: the one held already covers as many regions")
		a.metrics.events.WithLabelValues(typ, "duplicate").Inc()
		return nil
	}
	a.metrics.events.WithLabelValues(typ, "held").Inc()
	if started != nil {
		a.metrics.held.WithLabelValues("uncovered").Inc()
		uncovered := e.Uncovered(started.Regions)
		log.Info("result held: it does not cover every region of its run; a covering result replaces it, else it counts at the deadline",
			slog.Any("uncovered", uncovered), slog.String("status", string(e.Status)))
		return nil
	}
	a.metrics.held.WithLabelValues("early").Inc()
	log.Debug("result held until its RunStarted is recorded")
	// The RunStarted may have been recorded, and its held results
	// promoted, between the lookup and the hold: promote this one then.
	st, err := a.store.Run(ctx, e.RunID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && st.Started == nil) {
		a.absent.mark(e.RunID, a.cfg.Now())
		return nil
	}
	if err != nil {
		return fmt.Errorf("read run %s: %w", e.RunID, err)
	}
	a.remember(st)
	return a.promoteAndKick(ctx, st)
}

// promote moves the held results of st's run: a covering one is recorded
// (first write wins still), one for an account that has a recorded result
// (or that the run does not expect) is dropped, and, when the run joined
// another, the rest are held under that one. A result that still does not
// cover stays held, for the deadline. Called through promote.
func (a *Aggregator) promoteHeld(ctx context.Context, st store.RunState) (int, error) {
	target := st
	if st.JoinedTo != "" {
		var err error
		if target, err = a.store.Run(ctx, st.JoinedTo); err != nil {
			return 0, fmt.Errorf("read run %s: %w", st.JoinedTo, err)
		}
	}
	if target.Started == nil || target.Emitted {
		return 0, nil
	}
	promoted, err := a.promoteEach(ctx, st, target)
	if err != nil {
		return 0, err
	}
	if promoted == 0 {
		return 0, nil
	}
	a.metrics.promoted.Add(float64(promoted))
	a.log.Info("held results recorded: they cover their run's regions", slog.String("run_id", string(target.RunID)), slog.Int("results", promoted))
	if st.JoinedTo == "" {
		return promoted, nil // the caller checks completion
	}
	target, err = a.store.Run(ctx, target.RunID)
	if err != nil {
		return promoted, fmt.Errorf("read run %s: %w", target.RunID, err)
	}
	return promoted, a.kickIfComplete(ctx, target)
}

// kickIfComplete wakes the loop when every expected account of the run has
// a result. The loop renders; the handler acks at once.
func (a *Aggregator) kickIfComplete(ctx context.Context, st store.RunState) error {
	done, err := a.complete(ctx, st)
	if err != nil {
		return err
	}
	if done {
		select {
		case a.kicks <- st.RunID:
		default: // the loop is busy; its next tick finds the run anyway
		}
	}
	return nil
}

// complete tells whether every account the run expects has a result. The
// count first, so that the per-account check runs only near the end; the
// count alone is not enough (a stray result for an account the run does
// not expect counts, and a store's counter may run ahead), so the store
// then names the expected accounts without a result, in a few calls
// (one per account took 10 s at 5,000 accounts on dynalite).
func (a *Aggregator) complete(ctx context.Context, st store.RunState) (bool, error) {
	if st.Started == nil || st.Emitted || st.JoinedTo != "" || st.Results < len(st.Started.Accounts) {
		return false, nil
	}
	expected := make([]ident.AccountID, len(st.Started.Accounts))
	for i, acc := range st.Started.Accounts {
		expected[i] = acc.AccountID
	}
	missing, err := a.store.MissingResults(ctx, st.RunID, expected)
	if err != nil {
		return false, fmt.Errorf("check results of run %s: %w", st.RunID, err)
	}
	return len(missing) == 0, nil
}

// Run checks the store every CheckInterval (and at once on start, and when
// Handle finds a run complete): emits complete runs and runs past their
// deadline, and retries missing tickets. It returns when ctx ends.
func (a *Aggregator) Run(ctx context.Context) error {
	defer a.startTicketWorkers(ctx)() // tickets are filed off this loop
	// Kicks are served beside the pass, not between passes: a pass over
	// MaxPending runs can take longer than CheckInterval (a flood of
	// pending runs), and a run that completes meanwhile must not wait for
	// it. Emit serialises one run's emissions within the replica.
	kicked := make(chan struct{})
	go func() {
		defer close(kicked)
		for {
			select {
			case <-ctx.Done():
				return
			case id := <-a.kicks:
				a.emitLogged(ctx, id)
			}
		}
	}()
	defer func() { <-kicked }()
	t := time.NewTicker(a.cfg.CheckInterval)
	defer t.Stop()
	for {
		a.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check is one pass of the loop: exported for local mode, which runs it
// once after its scan instead of waiting for a tick.
func (a *Aggregator) Check(ctx context.Context) {
	pending, err := a.store.Pending(ctx, a.cfg.MaxPending)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("list pending runs", slog.Any("error", err))
		}
		return
	}
	if len(pending) >= a.cfg.MaxPending {
		a.log.Warn("pending runs at the per-pass bound; the earliest deadlines are checked, the rest wait",
			slog.Int("max_pending", a.cfg.MaxPending))
	}
	a.metrics.openRunsLoaded(pending)
	a.mu.Lock()
	prune(a.emitBackoff, pending)
	prune(a.swept, pending)
	a.mu.Unlock()
	now := a.cfg.Now()
	for _, st := range pending {
		if ctx.Err() != nil {
			return
		}
		due := st.Started != nil && !now.Before(st.Started.Deadline)
		if !due && a.sweep(st.RunID) {
			if _, err := a.promote(ctx, st); err != nil {
				a.log.Error("promote held results", slog.String("run_id", string(st.RunID)), slog.Any("error", err))
				a.unsweep(st.RunID)
				continue
			}
			fresh, err := a.store.Run(ctx, st.RunID)
			if err != nil {
				a.log.Error("read run", slog.String("run_id", string(st.RunID)), slog.Any("error", err))
				continue
			}
			st = fresh
		}
		if !due {
			done, err := a.complete(ctx, st)
			if err != nil {
				a.log.Error("check run completion", slog.String("run_id", string(st.RunID)), slog.Any("error", err))
				continue
			}
			due = done
		}
		a.mu.Lock()
		due = due && a.due(a.emitBackoff, st.RunID, now)
		a.mu.Unlock()
		if due {
			a.emitLogged(ctx, st.RunID)
		}
	}
	if a.notifier == nil {
		return
	}
	unticketed, err := a.store.Unticketed(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("list unticketed runs", slog.Any("error", err))
		}
		return
	}
	a.metrics.unticketed.Set(float64(len(unticketed)))
	a.pruneSummaries(unticketed)
	for _, st := range unticketed {
		if ctx.Err() != nil {
			return
		}
		if !a.ticketDue(st, a.cfg.Now()) {
			continue
		}
		a.retryTicket(ctx, st)
	}
}

// sweep tells whether the run's held results are still to be promoted by
// the loop, marking them done.
func (a *Aggregator) sweep(id ident.RunID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.swept[id] {
		return false
	}
	a.swept[id] = true
	return true
}

func (a *Aggregator) unsweep(id ident.RunID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.swept, id)
}

// pruneSummaries forgets the summaries and ticket backoffs of runs whose
// ticket another replica has stored.
func (a *Aggregator) pruneSummaries(unticketed []store.RunState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prune(a.summaries, unticketed)
	prune(a.backoff, unticketed)
}

// prune deletes from m the runs not in keep (done here or elsewhere).
func prune[V any](m map[ident.RunID]V, keep []store.RunState) {
	if len(m) == 0 {
		return
	}
	live := make(map[ident.RunID]bool, len(keep))
	for _, st := range keep {
		live[st.RunID] = true
	}
	for id := range m {
		if !live[id] {
			delete(m, id)
		}
	}
}

// emitLogged emits and, on failure, backs off the run's next attempt here
// (a render failing on a large run would otherwise redo the work every
// tick); its lease lapses meanwhile, so another replica may try sooner.
func (a *Aggregator) emitLogged(ctx context.Context, id ident.RunID) {
	err := a.Emit(ctx, id)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		delete(a.emitBackoff, id)
		return
	}
	if ctx.Err() != nil {
		return
	}
	r := a.failed(a.emitBackoff, id)
	a.log.Error("emit report; retrying", slog.String("run_id", string(id)), slog.Int("attempt", r.failures),
		slog.Time("next_attempt", r.next), slog.Any("error", err))
}
