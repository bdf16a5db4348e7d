package sqlite

import (
	"context"
	"fmt"
)

// schemaVersion is kept in PRAGMA user_version; a file written by a newer
// schema is refused rather than misread. 2 added the ticket lease; 3 the
// held results, the run's deadline (Pending's order) and the per-account
// ad-hoc slot; 4 the findings key, the run's baseline and the latest
// emitted scheduled run.
const schemaVersion = 4

const ddl = `
CREATE TABLE IF NOT EXISTS runs (
	run_id       TEXT PRIMARY KEY,
	started      BLOB,             -- RunStarted JSON; NULL while only results arrived
	results      INTEGER NOT NULL DEFAULT 0,
	generated_at INTEGER,          -- unix ns, fixed at the first claim
	claim_owner  TEXT NOT NULL DEFAULT '',
	claim_until  INTEGER,          -- unix ns
	emitted      INTEGER NOT NULL DEFAULT 0,
	emitted_at   INTEGER,
	report_key   TEXT NOT NULL DEFAULT '',
	ticket_key   TEXT NOT NULL DEFAULT '',
	ticket_owner TEXT NOT NULL DEFAULT '',
	ticket_until INTEGER,          -- unix ns
	deadline     INTEGER,          -- unix ns, the RunStarted's; NULL for rows of schema 2
	adhoc_account TEXT NOT NULL DEFAULT '', -- the one account of an ad-hoc run
	joined_to    TEXT NOT NULL DEFAULT '',  -- the open ad-hoc run this one joined
	findings_key TEXT NOT NULL DEFAULT '',  -- set at emission; '' = no findings file
	baseline_fixed INTEGER NOT NULL DEFAULT 0, -- 1 once the first claim (or a pin) fixed the baseline
	baseline_run   TEXT NOT NULL DEFAULT '',   -- '' = no baseline
	baseline_generated_at INTEGER,             -- unix ns
	baseline_findings_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_unticketed ON runs(run_id) WHERE emitted = 1 AND ticket_key = '';
CREATE TABLE IF NOT EXISTS results (
	run_id     TEXT NOT NULL,
	account_id TEXT NOT NULL,  -- BINARY collation: code point order, leading zeros kept
	body       BLOB NOT NULL,  -- AccountScanned JSON
	PRIMARY KEY (run_id, account_id)
);
CREATE TABLE IF NOT EXISTS held (
	run_id     TEXT NOT NULL,
	account_id TEXT NOT NULL,
	breadth    INTEGER NOT NULL, -- store.Breadth
	body       BLOB NOT NULL,
	PRIMARY KEY (run_id, account_id)
);
CREATE TABLE IF NOT EXISTS latest_scheduled ( -- at most one row: the next run's baseline
	one          INTEGER PRIMARY KEY CHECK (one = 1),
	run_id       TEXT NOT NULL,
	started_at   INTEGER NOT NULL, -- unix ns
	generated_at INTEGER NOT NULL, -- unix ns
	findings_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adhoc_open (
	account_id TEXT PRIMARY KEY,
	run_id     TEXT NOT NULL
);
`

// ddlIndexes come after the migrations: they name columns that a file of
// an older schema gets from them. Pending reads earliest deadline first;
// rows of schema 2 have none and sort first (NULL), which is what their
// age deserves.
const ddlIndexes = `
DROP INDEX IF EXISTS runs_pending;
CREATE INDEX IF NOT EXISTS runs_pending_deadline ON runs(deadline, run_id) WHERE started IS NOT NULL AND emitted = 0 AND joined_to = '';
`

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this binary's %d", v, schemaVersion)
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if v == 1 { // a file of version 1 has the runs table without the ticket lease
		if _, err := tx.ExecContext(ctx, `ALTER TABLE runs ADD COLUMN ticket_owner TEXT NOT NULL DEFAULT '';
			ALTER TABLE runs ADD COLUMN ticket_until INTEGER`); err != nil {
			return fmt.Errorf("migrate schema 1 to 2: %w", err)
		}
	}
	if v == 1 || v == 2 { // held results, deadline and ad-hoc slot (the new tables come from ddl)
		if _, err := tx.ExecContext(ctx, `ALTER TABLE runs ADD COLUMN deadline INTEGER;
			ALTER TABLE runs ADD COLUMN adhoc_account TEXT NOT NULL DEFAULT '';
			ALTER TABLE runs ADD COLUMN joined_to TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("migrate schema %d to 3: %w", v, err)
		}
	}
	if v >= 1 && v <= 3 { // findings key and baseline (latest_scheduled comes from ddl)
		if _, err := tx.ExecContext(ctx, `ALTER TABLE runs ADD COLUMN findings_key TEXT NOT NULL DEFAULT '';
			ALTER TABLE runs ADD COLUMN baseline_fixed INTEGER NOT NULL DEFAULT 0;
			ALTER TABLE runs ADD COLUMN baseline_run TEXT NOT NULL DEFAULT '';
			ALTER TABLE runs ADD COLUMN baseline_generated_at INTEGER;
			ALTER TABLE runs ADD COLUMN baseline_findings_key TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("migrate schema %d to 4: %w", v, err)
		}
	}
	if _, err := tx.ExecContext(ctx, ddlIndexes); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
