package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// stateCols are the columns of a RunState after the run id and the
// RunStarted (or whether there is one), in rowState's order.
const stateCols = `results, generated_at, claim_owner, claim_until, emitted, emitted_at, report_key, ticket_key, ticket_owner, ticket_until, joined_to,
	findings_key, baseline_fixed, baseline_run, baseline_generated_at, baseline_findings_key`

const (
	runCols = `run_id, started, ` + stateCols
	// runColsCached is runCols with, instead of the RunStarted, whether
	// there is one.
	runColsCached = `run_id, started IS NOT NULL, ` + stateCols
)

type scanner interface{ Scan(dest ...any) error }

// rowState receives the stateCols of a row.
type rowState struct {
	st                             store.RunState
	generated, until, emittedAt    sql.NullInt64
	ticketUntil, baselineGenerated sql.NullInt64
	emitted, baselineFixed         int
	joined, baselineRun            string
	baselineFindings               string
}

func (r *rowState) dest() []any {
	return []any{&r.st.Results, &r.generated, &r.st.ClaimOwner, &r.until, &r.emitted, &r.emittedAt, &r.st.ReportKey,
		&r.st.TicketKey, &r.st.TicketOwner, &r.ticketUntil, &r.joined,
		&r.st.FindingsKey, &r.baselineFixed, &r.baselineRun, &r.baselineGenerated, &r.baselineFindings}
}

func (r *rowState) state() store.RunState {
	st := r.st
	st.GeneratedAt, st.ClaimUntil, st.EmittedAt = fromNanos(r.generated), fromNanos(r.until), fromNanos(r.emittedAt)
	st.TicketUntil = fromNanos(r.ticketUntil)
	st.Emitted = r.emitted != 0
	st.JoinedTo = ident.RunID(r.joined)
	st.BaselineFixed = r.baselineFixed != 0
	st.Baseline = baselineRef(r.baselineRun, r.baselineGenerated, r.baselineFindings)
	return st
}

// baselineRef is the stored baseline's columns as a BaselineRef: nil when
// no run is named.
func baselineRef(run string, generated sql.NullInt64, findingsKey string) *store.BaselineRef {
	if run == "" {
		return nil
	}
	return &store.BaselineRef{RunID: ident.RunID(run), GeneratedAt: fromNanos(generated), FindingsKey: findingsKey}
}

func (s *Store) scanRun(row scanner) (store.RunState, error) {
	var (
		id      string
		started []byte
		r       rowState
	)
	if err := row.Scan(append([]any{&id, &started}, r.dest()...)...); err != nil {
		return store.RunState{}, err
	}
	st := r.state()
	st.RunID = ident.RunID(id)
	if started != nil {
		decode := func() (*events.RunStarted, error) {
			rs := new(events.RunStarted)
			if err := json.Unmarshal(started, rs); err != nil {
				return nil, fmt.Errorf("decode stored RunStarted of %s: %w", id, err)
			}
			return rs, nil
		}
		var err error
		if s.unsafe.Overwrite() {
			// Test-only: a RunStarted may be overwritten, so never cached.
			st.Started, err = decode()
		} else {
			// Written once (first write wins): the run id names it for good.
			st.Started, err = s.started.Get(id, decode)
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// scanRunCached reads a runColsCached row of a run whose RunStarted is
// started: it was recorded, and first write wins, so it is still the one
// stored (the query says whether the row has one, which it always should).
func scanRunCached(row scanner, started *events.RunStarted) (store.RunState, error) {
	var (
		id         string
		hasStarted bool
		r          rowState
	)
	if err := row.Scan(append([]any{&id, &hasStarted}, r.dest()...)...); err != nil {
		return store.RunState{}, err
	}
	st := r.state()
	st.RunID = ident.RunID(id)
	if hasStarted {
		st.Started = started
	}
	return st, nil
}

// Run implements store.Store. The aggregator calls it after every result:
// once the run's RunStarted is decoded, only the rest of the row is read.
func (s *Store) Run(ctx context.Context, id ident.RunID) (store.RunState, error) {
	var (
		st  store.RunState
		err error
	)
	if started, ok := s.started.Peek(string(id)); ok && !s.unsafe.Overwrite() {
		st, err = scanRunCached(s.runCached.QueryRowContext(ctx, string(id)), started)
	} else {
		st, err = s.scanRun(s.run.QueryRowContext(ctx, string(id)))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, err)
	}
	return st, nil
}

// HasResult implements store.Store.
func (s *Store) HasResult(ctx context.Context, id ident.RunID, account ident.AccountID) (bool, error) {
	var one int
	err := s.hasResult.QueryRowContext(ctx, string(id), string(account)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("has result %s/%s: %w", id, account, err)
	}
	return true, nil
}

// MissingResults implements store.Store: one SELECT of the run's account
// ids (12 bytes each, the primary key's index alone), the difference in Go.
func (s *Store) MissingResults(ctx context.Context, id ident.RunID, expected []ident.AccountID) ([]ident.AccountID, error) {
	if len(expected) == 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT account_id FROM results WHERE run_id = ?`, string(id))
	if err != nil {
		return nil, fmt.Errorf("missing results of %s: %w", id, err)
	}
	defer rows.Close()
	have := make(map[ident.AccountID]bool, len(expected))
	for rows.Next() {
		var acct string
		if err := rows.Scan(&acct); err != nil {
			return nil, fmt.Errorf("missing results of %s: %w", id, err)
		}
		have[ident.AccountID(acct)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("missing results of %s: %w", id, err)
	}
	return store.MissingFrom(expected, func(a ident.AccountID) bool { return have[a] }), nil
}

// Results implements store.Store: the results this Store recorded itself,
// when it holds all of the run's (resultCache), else one cursor over the
// primary key, one decoded result in memory at a time.
func (s *Store) Results(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	fromFile := s.bodies(ctx, "results", `SELECT account_id, body FROM results WHERE run_id = ? ORDER BY account_id`, id)
	if s.cache == nil {
		return fromFile
	}
	return func(yield func(*events.AccountScanned, error) bool) {
		var count int
		err := s.resultCount.QueryRowContext(ctx, string(id)).Scan(&count)
		if errors.Is(err, sql.ErrNoRows) {
			return // no row: no result
		}
		if err != nil {
			yield(nil, fmt.Errorf("results of %s: %w", id, err))
			return
		}
		ids, get, ok := s.cache.snapshot(id, count)
		if !ok {
			fromFile(yield)
			return
		}
		slices.Sort(ids)
		for _, acct := range ids {
			if err := ctx.Err(); err != nil {
				yield(nil, fmt.Errorf("results of %s: %w", id, err))
				return
			}
			if !yield(get(acct), nil) {
				return
			}
		}
	}
}

// bodies yields the AccountScanned bodies q selects (account_id, body) for
// run id, one decoded at a time.
func (s *Store) bodies(ctx context.Context, what, q string, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return func(yield func(*events.AccountScanned, error) bool) {
		rows, err := s.r.QueryContext(ctx, q, string(id))
		if err != nil {
			yield(nil, fmt.Errorf("%s of %s: %w", what, id, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var (
				acct string
				body []byte
			)
			if err := rows.Scan(&acct, &body); err != nil {
				yield(nil, fmt.Errorf("%s of %s: %w", what, id, err))
				return
			}
			res := new(events.AccountScanned)
			if err := json.Unmarshal(body, res); err != nil {
				yield(nil, fmt.Errorf("%s of %s: decode %s: %w", what, id, acct, err))
				return
			}
			if !yield(res, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("%s of %s: %w", what, id, err))
		}
	}
}

func (s *Store) list(ctx context.Context, what, where string, args ...any) ([]store.RunState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runCols+` FROM runs WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s runs: %w", what, err)
	}
	defer rows.Close()
	var out []store.RunState
	for rows.Next() {
		st, err := s.scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("%s runs: %w", what, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s runs: %w", what, err)
	}
	return out, nil
}

// Pending implements store.Store: the partial index on (deadline, run_id)
// gives the earliest deadlines first.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.RunState, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("pending runs: %w: limit %d is not positive", store.ErrInvalid, limit)
	}
	return s.list(ctx, "pending", `started IS NOT NULL AND emitted = 0 AND joined_to = '' ORDER BY deadline, run_id LIMIT ?`, limit)
}

// Unticketed implements store.Store.
func (s *Store) Unticketed(ctx context.Context) ([]store.RunState, error) {
	return s.list(ctx, "unticketed", `emitted = 1 AND ticket_key = '' ORDER BY run_id`)
}

// Held implements store.Store.
func (s *Store) Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, "held results", `SELECT account_id, body FROM held WHERE run_id = ? ORDER BY account_id`, id)
}
