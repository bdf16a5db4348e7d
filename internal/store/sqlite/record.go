package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// RecordRun implements store.Store.
func (s *Store) RecordRun(ctx context.Context, run *events.RunStarted) (bool, error) {
	if err := store.CheckRun(run); err != nil {
		return false, err
	}
	body, err := json.Marshal(run)
	if err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	acct, adhoc := store.AdhocAccount(run)
	// The row may exist already, made by an early result: first write wins
	// on the started column, not on the row.
	q := `INSERT INTO runs (run_id, started, deadline, adhoc_account) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET started = excluded.started, deadline = excluded.deadline,
		adhoc_account = excluded.adhoc_account WHERE runs.started IS NULL`
	if s.unsafe.Overwrite() {
		q = `INSERT INTO runs (run_id, started, deadline, adhoc_account) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET started = excluded.started, deadline = excluded.deadline,
		adhoc_account = excluded.adhoc_account`
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, string(run.RunID), body, nanos(run.Deadline), string(acct))
	if err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	if n == 1 && adhoc {
		// Same transaction as the first write: the decision is made once.
		if err := s.adhocSlot(ctx, tx, run, acct); err != nil {
			return false, fmt.Errorf("record run %s: ad-hoc slot of %s: %w", run.RunID, acct, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	return n == 1, nil
}

// adhocSlot makes run the open ad-hoc run of acct, or joins it to the one
// that is open (store.AdhocOpen).
func (s *Store) adhocSlot(ctx context.Context, tx *sql.Tx, run *events.RunStarted, acct ident.AccountID) error {
	var open string
	err := tx.QueryRowContext(ctx, `SELECT run_id FROM adhoc_open WHERE account_id = ?`, string(acct)).Scan(&open)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO adhoc_open (account_id, run_id) VALUES (?, ?)`, string(acct), string(run.RunID))
		return err
	case err != nil:
		return err
	case open == string(run.RunID):
		return nil
	}
	var (
		exists, emitted bool
		deadline        sql.NullInt64
		hasResult       bool
	)
	err = tx.QueryRowContext(ctx, `SELECT 1, emitted, deadline, EXISTS (SELECT 1 FROM results WHERE run_id = ? AND account_id = ?)
		FROM runs WHERE run_id = ? AND started IS NOT NULL`, open, string(acct), open).Scan(&exists, &emitted, &deadline, &hasResult)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if store.AdhocOpen(exists, emitted, fromNanos(deadline), run.StartedAt, hasResult) {
		_, err = tx.ExecContext(ctx, `UPDATE runs SET joined_to = ? WHERE run_id = ?`, open, string(run.RunID))
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE adhoc_open SET run_id = ? WHERE account_id = ?`, string(run.RunID), string(acct))
	return err
}

// RecordResult implements store.Store.
func (s *Store) RecordResult(ctx context.Context, res *events.AccountScanned) (created bool, err error) {
	created, _, err = s.RecordResultCounted(ctx, res)
	return created, err
}

// RecordResultCounted implements store.ResultCounter: the count's update
// returns the row it updated.
func (s *Store) RecordResultCounted(ctx context.Context, res *events.AccountScanned) (created bool, rec store.Recorded, err error) {
	if err := store.CheckResult(res); err != nil {
		return false, store.Recorded{}, err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	return s.recordBody(ctx, res, body)
}

// recordBody is RecordResultCounted with res's body encoded already (its
// JSON): RecordHeld's too.
func (s *Store) recordBody(ctx context.Context, res *events.AccountScanned, body []byte) (created bool, rec store.Recorded, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	defer tx.Rollback()
	ins := s.insResult
	if s.unsafe.Overwrite() {
		ins = s.insResultOverwrite
	}
	r, err := tx.StmtContext(ctx, ins).ExecContext(ctx, string(res.RunID), string(res.AccountID), body)
	if err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	if n, err := r.RowsAffected(); err != nil || n == 0 {
		return false, store.Recorded{}, err
	}
	// The count moves in the same transaction as the insert, so it can
	// never disagree with the results table.
	if err := tx.StmtContext(ctx, s.countResult).QueryRowContext(ctx, string(res.RunID)).Scan(&rec.Results, &rec.HasStarted, &rec.Emitted); err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: count: %w", res.RunID, res.AccountID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	s.cache.add(res, len(body))
	return true, rec, nil
}

// HoldResult implements store.Store: the upsert replaces the held body
// only when the new one is broader.
func (s *Store) HoldResult(ctx context.Context, res *events.AccountScanned) (bool, error) {
	if err := store.CheckResult(res); err != nil {
		return false, err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	r, err := s.w.ExecContext(ctx, `INSERT INTO held (run_id, account_id, breadth, body) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id, account_id) DO UPDATE SET breadth = excluded.breadth, body = excluded.body
		WHERE excluded.breadth > held.breadth`, string(res.RunID), string(res.AccountID), store.Breadth(res), body)
	if err != nil {
		return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	return n == 1, nil
}

// DropHeld implements store.Store.
func (s *Store) DropHeld(ctx context.Context, id ident.RunID, account ident.AccountID) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM held WHERE run_id = ? AND account_id = ?`, string(id), string(account)); err != nil {
		return fmt.Errorf("drop held result %s/%s: %w", id, account, err)
	}
	return nil
}
