package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// latestScheduled reads the latest emitted scheduled run (nil when none)
// through q, a transaction or the read pool.
func latestScheduled(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (*store.BaselineRef, error) {
	var (
		id, key   string
		generated sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT run_id, generated_at, findings_key FROM latest_scheduled WHERE one = 1`).Scan(&id, &generated, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest scheduled run: %w", err)
	}
	return baselineRef(id, generated, key), nil
}

// offerLatest makes ref (started at startedAt) the latest emitted
// scheduled run unless a later one (by started_at, ties by the larger run
// id) already is. The caller's transaction serialises concurrent offers.
func offerLatest(ctx context.Context, tx *sql.Tx, ref store.BaselineRef, startedAt time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO latest_scheduled (one, run_id, started_at, generated_at, findings_key) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (one) DO UPDATE SET run_id = excluded.run_id, started_at = excluded.started_at,
		generated_at = excluded.generated_at, findings_key = excluded.findings_key
		WHERE excluded.started_at > latest_scheduled.started_at
		OR (excluded.started_at = latest_scheduled.started_at AND excluded.run_id >= latest_scheduled.run_id)`,
		string(ref.RunID), startedAt.UnixNano(), nanos(ref.GeneratedAt), ref.FindingsKey)
	if err != nil {
		return fmt.Errorf("latest scheduled run: %w", err)
	}
	return nil
}

// fixBaseline stores the run's baseline (nil = none) as fixed.
func fixBaseline(ctx context.Context, tx *sql.Tx, id ident.RunID, ref *store.BaselineRef) error {
	var (
		run, key  string
		generated sql.NullInt64
	)
	if ref != nil {
		run, key, generated = string(ref.RunID), ref.FindingsKey, nanos(ref.GeneratedAt)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET baseline_fixed = 1, baseline_run = ?, baseline_generated_at = ?,
		baseline_findings_key = ? WHERE run_id = ?`, run, generated, key, string(id)); err != nil {
		return fmt.Errorf("fix baseline: %w", err)
	}
	return nil
}

// PinBaseline implements store.Store: the check and the write in one
// IMMEDIATE transaction, like Claim's first fixing.
func (s *Store) PinBaseline(ctx context.Context, id ident.RunID, ref *store.BaselineRef) error {
	if err := store.CheckPin(id, ref); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	}
	defer tx.Rollback()
	var (
		hasStarted, fixed int
		run, key          string
		generated         sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT started IS NOT NULL, baseline_fixed, baseline_run, baseline_generated_at, baseline_findings_key
		FROM runs WHERE run_id = ?`, string(id)).Scan(&hasStarted, &fixed, &run, &generated, &key)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && hasStarted == 0):
		return fmt.Errorf("pin baseline of %s: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	case fixed != 0:
		if cur := baselineRef(run, generated, key); !cur.Equal(ref) {
			return fmt.Errorf("pin baseline of %s: fixed to %s: %w", id, cur, store.ErrBaselineFixed)
		}
		return nil
	}
	if err := fixBaseline(ctx, tx, id, ref); err != nil {
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	}
	return nil
}

// LatestScheduled implements store.Store.
func (s *Store) LatestScheduled(ctx context.Context) (*store.BaselineRef, error) {
	return latestScheduled(ctx, s.r)
}
