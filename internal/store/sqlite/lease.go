package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// Claim implements store.Store.
func (s *Store) Claim(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (store.Claim, error) {
	if err := store.CheckClaim(id, owner, ttl); err != nil {
		return store.Claim{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	defer tx.Rollback()
	var (
		hasStarted, emitted, fixed      int
		curOwner, baseRun, baseKey      string
		generated, until, baseGenerated sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT started IS NOT NULL, emitted, claim_owner, generated_at, claim_until,
		baseline_fixed, baseline_run, baseline_generated_at, baseline_findings_key FROM runs WHERE run_id = ?`,
		string(id)).Scan(&hasStarted, &emitted, &curOwner, &generated, &until, &fixed, &baseRun, &baseGenerated, &baseKey)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && hasStarted == 0):
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, store.ErrNotFound)
	case err != nil:
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	case emitted != 0:
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, store.ErrEmitted)
	case curOwner != "" && curOwner != owner && !now.After(fromNanos(until)):
		return store.Claim{}, fmt.Errorf("claim %s: held by %s until %s: %w", id, curOwner, fromNanos(until).Format(time.RFC3339), store.ErrClaimed)
	}
	c := store.Claim{RunID: id, Owner: owner, Until: now.Add(ttl).UTC(), GeneratedAt: fromNanos(generated)}
	if c.GeneratedAt.IsZero() {
		c.GeneratedAt = now.UTC()
	}
	c.Baseline = baselineRef(baseRun, baseGenerated, baseKey)
	if fixed == 0 {
		// The first claim: the baseline is fixed in this transaction, so
		// a takeover reads the same.
		if c.Baseline, err = latestScheduled(ctx, tx); err != nil {
			return store.Claim{}, fmt.Errorf("claim %s: baseline: %w", id, err)
		}
		if c.Baseline != nil && c.Baseline.RunID == id {
			c.Baseline = nil // cannot happen (an emitted run is never claimed); never compare a run with itself
		}
		if err := fixBaseline(ctx, tx, id, c.Baseline); err != nil {
			return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET claim_owner = ?, claim_until = ?, generated_at = ? WHERE run_id = ?`,
		owner, nanos(c.Until), nanos(c.GeneratedAt), string(id)); err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	return c, nil
}

// MarkEmitted implements store.Store: the emitted mark and the latest
// scheduled run move in one transaction.
func (s *Store) MarkEmitted(ctx context.Context, id ident.RunID, owner, reportKey, findingsKey string, now time.Time) error {
	if err := store.CheckEmit(id, owner, reportKey); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	defer tx.Rollback()
	var (
		emitted                      int
		curOwner, curKey, curFinding string
		trigger, startedAt           sql.NullString
		generated                    sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT emitted, claim_owner, report_key, findings_key, json_extract(started, '$.trigger'),
		json_extract(started, '$.started_at'), generated_at FROM runs WHERE run_id = ?`,
		string(id)).Scan(&emitted, &curOwner, &curKey, &curFinding, &trigger, &startedAt, &generated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("mark %s emitted: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("mark %s emitted: %w", id, err)
	case emitted != 0 && curOwner == owner && curKey == reportKey && curFinding == findingsKey:
		return nil
	case emitted != 0:
		return fmt.Errorf("mark %s emitted: already at %s (findings %q) by %s: %w", id, curKey, curFinding, curOwner, store.ErrEmitted)
	case curOwner != owner:
		return fmt.Errorf("mark %s emitted by %s: lease held by %q: %w", id, owner, curOwner, store.ErrLeaseLost)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET emitted = 1, emitted_at = ?, report_key = ?, findings_key = ? WHERE run_id = ?`,
		nanos(now.UTC()), reportKey, findingsKey, string(id)); err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	if events.Trigger(trigger.String) == events.TriggerScheduled && findingsKey != "" {
		at, err := time.Parse(time.RFC3339Nano, startedAt.String)
		if err != nil {
			return fmt.Errorf("mark %s emitted: started_at %q: %w", id, startedAt.String, err)
		}
		ref := store.BaselineRef{RunID: id, GeneratedAt: fromNanos(generated), FindingsKey: findingsKey}
		if err := offerLatest(ctx, tx, ref, at); err != nil {
			return fmt.Errorf("mark %s emitted: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	s.cache.forget(id) // its report is out: Results is rarely read again
	return nil
}

// SetTicket implements store.Store.
func (s *Store) SetTicket(ctx context.Context, id ident.RunID, ticketKey string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set ticket of %s: %w", id, err)
	}
	defer tx.Rollback()
	var emitted int
	err = tx.QueryRowContext(ctx, `SELECT emitted FROM runs WHERE run_id = ?`, string(id)).Scan(&emitted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("set ticket of %s: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("set ticket of %s: %w", id, err)
	case emitted == 0:
		return fmt.Errorf("set ticket of %s: %w", id, store.ErrNotEmitted)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET ticket_key = ? WHERE run_id = ?`, ticketKey, string(id)); err != nil {
		return fmt.Errorf("set ticket of %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set ticket of %s: %w", id, err)
	}
	return nil
}

// ClaimTicket implements store.Store: the check and the write in one
// IMMEDIATE transaction, so concurrent claimers are serialised.
func (s *Store) ClaimTicket(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (time.Time, error) {
	if err := store.CheckClaim(id, owner, ttl); err != nil {
		return time.Time{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	}
	defer tx.Rollback()
	var (
		emitted          int
		ticket, curOwner string
		curUntil         sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT emitted, ticket_key, ticket_owner, ticket_until FROM runs WHERE run_id = ?`,
		string(id)).Scan(&emitted, &ticket, &curOwner, &curUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, store.ErrNotFound)
	case err != nil:
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	case emitted == 0:
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, store.ErrNotEmitted)
	case ticket != "":
		return time.Time{}, fmt.Errorf("claim ticket of %s: %s: %w", id, ticket, store.ErrTicketed)
	case curOwner != "" && curOwner != owner && !now.After(fromNanos(curUntil)):
		return time.Time{}, fmt.Errorf("claim ticket of %s: held by %s until %s: %w", id, curOwner, fromNanos(curUntil).Format(time.RFC3339), store.ErrClaimed)
	}
	until := now.Add(ttl).UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET ticket_owner = ?, ticket_until = ? WHERE run_id = ?`, owner, nanos(until), string(id)); err != nil {
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	}
	return until, nil
}
