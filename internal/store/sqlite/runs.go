package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

var _ store.RunLister = (*Store)(nil)

// Recent implements store.RunLister: one SELECT of every started run's id
// and started_at (local mode keeps a handful of runs), sorted here, then
// RunSummary's reads for the limit latest.
func (s *Store) Recent(ctx context.Context, limit int) ([]store.RunSummary, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("recent runs: %w: limit %d is not positive", store.ErrInvalid, limit)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT run_id, json_extract(started, '$.started_at') FROM runs WHERE started IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	var runs []store.RunStart
	for rows.Next() {
		var (
			id string
			at sql.NullString
		)
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("recent runs: %w", err)
		}
		t, _ := time.Parse(time.RFC3339Nano, at.String) // validated when recorded; zero sorts last
		runs = append(runs, store.RunStart{ID: ident.RunID(id), At: t})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	return store.Latest(ctx, runs, limit, func(ctx context.Context, id ident.RunID) (store.RunSummary, error) {
		return s.summary(ctx, id, false)
	})
}

// RunSummary implements store.RunLister.
func (s *Store) RunSummary(ctx context.Context, id ident.RunID) (store.RunSummary, error) {
	return s.summary(ctx, id, true)
}

// summary reads the run's row, then each recorded result's status with
// json_extract (SQLite parses each body once, in C, without handing it to
// Go): one pass over the run's results, which is what local mode's
// report rendering reads anyway.
func (s *Store) summary(ctx context.Context, id ident.RunID, withUnreported bool) (store.RunSummary, error) {
	st, err := s.Run(ctx, id)
	if err != nil {
		return store.RunSummary{}, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT account_id, json_extract(body, '$.status') FROM results WHERE run_id = ?`, string(id))
	if err != nil {
		return store.RunSummary{}, fmt.Errorf("run %s: statuses: %w", id, err)
	}
	defer rows.Close()
	statuses := map[ident.AccountID]events.Status{}
	for rows.Next() {
		var (
			acct   string
			status sql.NullString
		)
		if err := rows.Scan(&acct, &status); err != nil {
			return store.RunSummary{}, fmt.Errorf("run %s: statuses: %w", id, err)
		}
		statuses[ident.AccountID(acct)] = events.Status(status.String)
	}
	if err := rows.Err(); err != nil {
		return store.RunSummary{}, fmt.Errorf("run %s: statuses: %w", id, err)
	}
	return store.Summarize(st, statuses, withUnreported), nil
}
