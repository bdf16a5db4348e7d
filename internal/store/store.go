// Package store is the aggregator's dedupe store: every event it receives
// is recorded keyed by (run id, account id), first write wins, so that
// redelivered, duplicated or replayed messages change nothing; and it holds
// each run's emission lease, so that exactly one aggregator replica renders
// and uploads a run's report. It also keeps, per run, its findings file
// and its baseline (the run its report compares with), and which run is
// the latest emitted scheduled one.
//
// Two implementations share one conformance suite (storetest): DynamoDB
// in the cluster, SQLite (pure Go, file-backed) in local mode. It is not a
// general database layer: it stores what the aggregator needs and no more.
package store

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

var (
	// ErrNotFound: the run is unknown to the store.
	ErrNotFound = errors.New("not found")
	// ErrClaimed: another owner holds an unexpired emission lease.
	ErrClaimed = errors.New("emission claimed by another owner")
	// ErrEmitted: the run's report was already emitted; nothing to do.
	ErrEmitted = errors.New("run already emitted")
	// ErrLeaseLost: the caller's lease expired and someone else took it
	// (or it never held one); it must not mark the run emitted.
	ErrLeaseLost = errors.New("emission lease lost")
	// ErrBaselineFixed: PinBaseline on a run whose baseline was fixed
	// already (by its first claim, or an earlier pin) to another value.
	ErrBaselineFixed = errors.New("run's baseline already fixed")
)

// BaselineRef names an emitted scheduled run whose findings file is a
// baseline: the run a report compares with (REPORT_FORMAT.md, 5. Changes).
type BaselineRef struct {
	RunID       ident.RunID
	GeneratedAt time.Time
	FindingsKey string
}

// String names the baseline's run, "none" for nil.
func (b *BaselineRef) String() string {
	if b == nil {
		return "none"
	}
	return string(b.RunID)
}

// Equal tells whether two baselines (nil = none) name the same run, time
// and findings file.
func (b *BaselineRef) Equal(o *BaselineRef) bool {
	if b == nil || o == nil {
		return b == nil && o == nil
	}
	return b.RunID == o.RunID && b.GeneratedAt.Equal(o.GeneratedAt) && b.FindingsKey == o.FindingsKey
}

// RunState is what the store knows about one run.
type RunState struct {
	RunID ident.RunID
	// Started is the run's RunStarted, nil while only results have arrived
	// (results may come first). It may be shared between calls (see
	// StartedCache): read it, never modify it.
	Started *events.RunStarted
	// Results is the number of distinct accounts with a recorded result.
	Results int
	// GeneratedAt is fixed when the run is first claimed, so that a
	// takeover renders the same workbook; zero before.
	GeneratedAt time.Time
	ClaimOwner  string
	ClaimUntil  time.Time
	// Emitted is permanent once set: the report is in the blob store at ReportKey.
	Emitted   bool
	EmittedAt time.Time
	ReportKey string
	// FindingsKey is where the emitted run's findings file is, set by
	// MarkEmitted; empty when the run wrote none (or was emitted before
	// runs had one).
	FindingsKey string
	// Baseline is the run this run's report compares with, fixed at its
	// first claim (or by PinBaseline) like GeneratedAt, so that a takeover
	// or a re-render compares with the same run; nil when none.
	Baseline *BaselineRef
	// BaselineFixed is true once the first claim (or PinBaseline) fixed
	// Baseline, even to none; false for a run never claimed (or claimed
	// before the store kept baselines).
	BaselineFixed bool
	// TicketKey is the Jira issue filed for the run, empty until stored.
	TicketKey string
	// TicketOwner holds the ticket lease (ClaimTicket) until TicketUntil;
	// empty when no replica ever took it.
	TicketOwner string
	TicketUntil time.Time
	// JoinedTo is set on an ad-hoc run that joined the open ad-hoc run of
	// its account (see RecordRun): the run makes no report and no ticket of
	// its own, and its result counts for JoinedTo. Such a run is never
	// Pending.
	JoinedTo ident.RunID
}

// Recorded is what a store knows of a run right after recording one of its
// results, read in the same write: the count with this result, and whether
// the run's RunStarted is recorded and its report emitted.
type Recorded struct {
	Results    int
	HasStarted bool
	Emitted    bool
}

// ResultCounter is a Store that can say, with the write, what the
// aggregator reads after every result; it then reads the run only when it
// has not seen its RunStarted yet (which never changes once recorded), not
// once per result. Optional: the aggregator reads the run from stores
// without it. storetest checks it when a store has it.
type ResultCounter interface {
	// RecordResultCounted is RecordResult; when created, rec is the run's
	// state after the write (zero otherwise).
	RecordResultCounted(ctx context.Context, res *events.AccountScanned) (created bool, rec Recorded, err error)
}

// Claim is a held emission lease.
type Claim struct {
	RunID       ident.RunID
	Owner       string
	Until       time.Time
	GeneratedAt time.Time
	// Baseline is the run's fixed baseline (the same on every claim); nil
	// when none.
	Baseline *BaselineRef
}

// Store is the dedupe store. Every implementation passes storetest.Run.
// Writes refuse, with an error wrapping ErrInvalid, events whose ids are
// invalid or whose claim-check payload_ref is not resolved (CheckRun,
// CheckResult).
type Store interface {
	// RecordRun records a run's RunStarted. First write wins: it returns
	// false, and changes nothing, when the run was already recorded.
	// It must hold runs of thousands of accounts.
	//
	// Ad-hoc runs are rate-limited per account (DESIGN.md), so that a
	// flood of ad-hoc requests for one account makes one report: when
	// the RunStarted that wins is ad hoc with one account (AdhocAccount)
	// and another ad-hoc run of that account is open (recorded, not
	// emitted, its deadline after this run's started_at, and no recorded
	// result for the account), the new run joins it: its RunState's
	// JoinedTo names the open run, and it is never Pending. Otherwise the
	// new run becomes the account's open ad-hoc run. The decision is made
	// once, with the first write.
	RecordRun(ctx context.Context, run *events.RunStarted) (created bool, err error)
	// RecordResult records one account's result, which may arrive before
	// its RunStarted. First write wins: a second, even different, result
	// for the same (run, account) returns false and changes nothing. It
	// must hold results of any size (tens of thousands of findings).
	// Only a result that covers its run's regions is recorded (the caller
	// checks, see HoldResult): a recorded result counts for completion.
	RecordResult(ctx context.Context, res *events.AccountScanned) (created bool, err error)
	// HoldResult keeps a result that does not cover its run's regions, or
	// whose run is not recorded yet (DESIGN.md, Contracts): a held result
	// never counts for completion (Results, MissingResults, HasResult do
	// not see it). One is held per (run, account): a later one replaces
	// it only when it covers more regions (Breadth), so it returns false
	// and changes nothing for a redelivery or a narrower result. It must
	// hold results of any size.
	HoldResult(ctx context.Context, res *events.AccountScanned) (held bool, err error)
	// Held yields the run's held results in ascending account id order,
	// one at a time.
	Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error]
	// DropHeld forgets the held result of (run, account), if any: once a
	// covering result is recorded for it, or it was moved elsewhere.
	DropHeld(ctx context.Context, id ident.RunID, account ident.AccountID) error
	// Run returns what the store knows of a run: ErrNotFound when it has
	// neither its RunStarted nor any result.
	Run(ctx context.Context, id ident.RunID) (RunState, error)
	// HasResult tells whether (run, account) has a recorded result.
	HasResult(ctx context.Context, id ident.RunID, account ident.AccountID) (bool, error)
	// MissingResults returns the accounts of expected that have no recorded
	// result in the run, in expected's order (nil when none is missing):
	// HasResult for many accounts at once, in a few store calls rather than
	// one per account (a run's completion check at thousands of accounts).
	// Results of accounts not in expected are ignored; an account listed
	// twice in expected is returned once.
	MissingResults(ctx context.Context, id ident.RunID, expected []ident.AccountID) ([]ident.AccountID, error)
	// Results yields the run's recorded results in ascending account id
	// order (code point order), one at a time: memory stays bounded by
	// the largest single result, whatever the run's size (an
	// implementation may also keep a bounded cache of what it recorded:
	// SQLite's ResultCacheBytes).
	Results(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error]
	// Claim takes (or, for the same owner, renews) the run's emission
	// lease until now+ttl. It succeeds when the run is unclaimed, its lease
	// expired (now after ClaimUntil; a lease is live up to and including
	// ClaimUntil), or owner already holds it; it fixes GeneratedAt to now on
	// the first successful claim ever and returns it on every later one.
	// The first successful claim also fixes the run's Baseline, in the same
	// write, to LatestScheduled at that moment (never the run itself; nil
	// when none), unless PinBaseline fixed it before; every later claim,
	// a takeover's too, returns the same.
	// Among concurrent claimers exactly one wins.
	// ErrClaimed when another owner's lease is live, ErrEmitted when the
	// run was emitted, ErrNotFound when its RunStarted is unknown (even if
	// results arrived), ErrInvalid for an empty owner or a ttl <= 0.
	Claim(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (Claim, error)
	// MarkEmitted records, permanently, that the report is at reportKey
	// and its findings file at findingsKey ("" when the run wrote none),
	// EmittedAt = now. ErrLeaseLost unless owner holds a lease (expired or
	// not) that no one else took over since; idempotent for the same owner
	// and keys (EmittedAt stays the first); once emitted, any other owner
	// or key gets ErrEmitted and changes nothing. ErrNotFound for an
	// unknown run. A scheduled run (events.TriggerScheduled) marked with a
	// findings key becomes the latest emitted scheduled run
	// (LatestScheduled) unless one with a later started_at (ties: a larger
	// run id) already is; two runs marked concurrently end with the later.
	// Ad-hoc runs never become the latest.
	MarkEmitted(ctx context.Context, id ident.RunID, owner, reportKey, findingsKey string, now time.Time) error
	// PinBaseline fixes the baseline (nil = none) of a recorded run that
	// was never claimed, instead of the one its first claim would fix
	// (local mode's -baseline RUN_ID or none). ErrNotFound when the run's
	// RunStarted is unknown; ErrBaselineFixed when its baseline is fixed
	// already (claimed, or pinned) to another value; nil when it is fixed
	// to the same one. ErrInvalid for an invalid run id.
	PinBaseline(ctx context.Context, id ident.RunID, ref *BaselineRef) error
	// LatestScheduled returns the latest emitted scheduled run with a
	// findings file, the next run's baseline; nil, nil when there is none.
	LatestScheduled(ctx context.Context) (*BaselineRef, error)
	// SetTicket stores the Jira issue key of an emitted run: ErrNotEmitted
	// before emission, ErrNotFound for an unknown run.
	SetTicket(ctx context.Context, id ident.RunID, ticketKey string) error
	// ClaimTicket takes (or, for the same owner, renews) the run's ticket
	// lease until now+ttl: the replica holding it is the only one that
	// searches Jira for the run's ticket and files it, so that two replicas
	// retrying an unticketed run cannot both find none (Jira's search is
	// eventually consistent) and both file. It succeeds only while the run
	// is emitted and has no ticket key, and its lease is free, expired (now
	// after TicketUntil; live up to and including it) or already the
	// owner's; among concurrent claimers exactly one wins. ErrClaimed when
	// another owner's lease is live, ErrTicketed when the key is stored,
	// ErrNotEmitted before emission, ErrNotFound for an unknown run,
	// ErrInvalid for an empty owner or a ttl <= 0. It returns the lease's
	// end. SetTicket does not need the lease: the key of a filed ticket is
	// always worth storing.
	ClaimTicket(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (until time.Time, err error)
	// Pending lists the runs with a RunStarted that are not yet emitted
	// (and did not join another, see RecordRun), so that an aggregator
	// (re)started at any time finds runs to complete or whose deadline
	// passed: at most limit of them (limit > 0), earliest deadline first,
	// so that a flood of runs with far deadlines neither starves a real run
	// nor grows memory.
	Pending(ctx context.Context, limit int) ([]RunState, error)
	// Unticketed lists emitted runs without a stored ticket key.
	Unticketed(ctx context.Context) ([]RunState, error)
	Close() error
}

// MissingFrom returns the accounts of expected for which has is false, in
// expected's order, each once: the set difference every MissingResults
// implementation ends with.
func MissingFrom(expected []ident.AccountID, has func(ident.AccountID) bool) []ident.AccountID {
	var (
		out  []ident.AccountID
		seen map[ident.AccountID]bool
	)
	for _, acct := range expected {
		if has(acct) {
			continue
		}
		if seen == nil {
			seen = map[ident.AccountID]bool{}
		}
		if seen[acct] {
			continue
		}
		seen[acct] = true
		out = append(out, acct)
	}
	return out
}

// Breadth is how many distinct regions a result has coverage for: among
// held results of one (run, account), a broader one replaces a narrower
// one, so that a full scan arriving before its RunStarted is never lost
// behind a one-region result that came first.
func Breadth(res *events.AccountScanned) int {
	seen := make(map[ident.Region]bool, len(res.Coverage))
	for _, c := range res.Coverage {
		seen[c.Region] = true
	}
	return len(seen)
}

// AdhocAccount returns the one account of an ad-hoc run, the runs that
// RecordRun rate-limits per account; ok is false for any other run.
func AdhocAccount(run *events.RunStarted) (ident.AccountID, bool) {
	if run == nil || run.Trigger != events.TriggerAdhoc || len(run.Accounts) != 1 {
		return "", false
	}
	return run.Accounts[0].AccountID, true
}

// AdhocOpen tells whether an ad-hoc run that holds its account's slot is
// still open for a new ad-hoc run of the same account, started at
// startedAt, to join: recorded, not emitted, its deadline after startedAt,
// and no recorded result for the account yet.
func AdhocOpen(exists, emitted bool, deadline, startedAt time.Time, hasResult bool) bool {
	return exists && !emitted && deadline.After(startedAt) && !hasResult
}
