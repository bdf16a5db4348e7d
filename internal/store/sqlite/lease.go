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
		hasStarted, emitted int
		curOwner            string
		generated, until    sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT started IS NOT NULL, emitted, claim_owner, generated_at, claim_until FROM runs WHERE run_id = ?`,
		string(id)).Scan(&hasStarted, &emitted, &curOwner, &generated, &until)
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
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET claim_owner = ?, claim_until = ?, generated_at = ? WHERE run_id = ?`,
		owner, nanos(c.Until), nanos(c.GeneratedAt), string(id)); err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	return c, nil
}

// MarkEmitted implements store.Store.
func (s *Store) MarkEmitted(ctx context.Context, id ident.RunID, owner, reportKey string, now time.Time) error {
	if err := store.CheckEmit(id, owner, reportKey); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	defer tx.Rollback()
	var (
		emitted          int
		curOwner, curKey string
	)
	err = tx.QueryRowContext(ctx, `SELECT emitted, claim_owner, report_key FROM runs WHERE run_id = ?`, string(id)).Scan(&emitted, &curOwner, &curKey)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("mark %s emitted: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("mark %s emitted: %w", id, err)
	case emitted != 0 && curOwner == owner && curKey == reportKey:
		return nil
	case emitted != 0:
		return fmt.Errorf("mark %s emitted: already at %s by %s: %w", id, curKey, curOwner, store.ErrEmitted)
	case curOwner != owner:
		return fmt.Errorf("mark %s emitted by %s: lease held by %q: %w", id, owner, curOwner, store.ErrLeaseLost)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET emitted = 1, emitted_at = ?, report_key = ? WHERE run_id = ?`,
		nanos(now.UTC()), reportKey, string(id)); err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
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
