// Package sqlite is the dedupe store of local mode: store.Store on one
// SQLite file (modernc.org/sqlite, pure Go, so the binaries stay static),
// kept under the local run's -out folder so that re-running an emitted run
// re-renders it from the store, and a crashed run completes when restarted.
//
// It is not for the cluster: several aggregator replicas on several nodes
// cannot share a file. Within one process (or several on one host) it is
// safe: writes go through one connection in IMMEDIATE transactions, reads
// through a pool of read-only connections under WAL, and the busy timeout
// covers another process holding the write lock.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// FileName is the store's file name inside a local run's -out folder.
const FileName = "dedupe-store.sqlite"

// schemaVersion is kept in PRAGMA user_version; a file written by a newer
// schema is refused rather than misread. 2 added the ticket lease; 3 the
// held results, the run's deadline (Pending's order) and the per-account
// ad-hoc slot.
const schemaVersion = 3

// Config configures Open.
type Config struct {
	// Path of the database file (created if absent), e.g.
	// filepath.Join(out, sqlite.FileName).
	Path string
	// BusyTimeout is how long a statement waits for another connection or
	// process holding the write lock; default 10s.
	BusyTimeout time.Duration
	// ReadConns bounds the read-only connections (Results iterators, Run,
	// Pending); default 4.
	ReadConns int
	// Unsafe is for tests proving the conformance suite can fail; nil in
	// production (and inert there anyway, see store.Unsafe).
	Unsafe *store.Unsafe
}

func (c *Config) setDefaults() {
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 10 * time.Second
	}
	if c.ReadConns == 0 {
		c.ReadConns = 4
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("sqlite store: path is required"))
	}
	if c.BusyTimeout < 0 {
		errs = append(errs, fmt.Errorf("sqlite store: busy timeout %s is negative", c.BusyTimeout))
	}
	if c.ReadConns < 0 {
		errs = append(errs, fmt.Errorf("sqlite store: read conns %d is negative", c.ReadConns))
	}
	return errors.Join(errs...)
}

// Store implements store.Store on one SQLite file.
type Store struct {
	w, r    *sql.DB
	unsafe  *store.Unsafe
	log     *slog.Logger
	started *store.StartedCache
	stmts
}

// stmts are the statements run once or more per result, prepared once:
// preparing them on every call was a fifth of the aggregator's time per
// result in local mode (database/sql keeps each prepared on the connection
// it ran on, re-preparing only on a new one).
type stmts struct {
	insResult, insResultOverwrite, countResult *sql.Stmt // on w
	run, runCached, hasResult                  *sql.Stmt // on r
}

func prepare(ctx context.Context, db *sql.DB, dst **sql.Stmt, q string) error {
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("prepare %q: %w", q, err)
	}
	*dst = st
	return nil
}

func (s *Store) prepareAll(ctx context.Context) error {
	var errs []error
	for _, p := range []struct {
		db  *sql.DB
		dst **sql.Stmt
		q   string
	}{
		{s.w, &s.insResult, `INSERT INTO results (run_id, account_id, body) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`},
		{s.w, &s.insResultOverwrite, `INSERT INTO results (run_id, account_id, body) VALUES (?, ?, ?)
		ON CONFLICT DO UPDATE SET body = excluded.body`},
		{s.w, &s.countResult, `INSERT INTO runs (run_id, results) VALUES (?, 1)
		ON CONFLICT (run_id) DO UPDATE SET results = runs.results + 1
		RETURNING results, started IS NOT NULL, emitted`},
		{s.r, &s.run, `SELECT ` + runCols + ` FROM runs WHERE run_id = ?`},
		// The started column is a RunStarted of every account (hundreds of
		// KB at 5,000): read only when it is not decoded already.
		{s.r, &s.runCached, `SELECT ` + runColsCached + ` FROM runs WHERE run_id = ?`},
		{s.r, &s.hasResult, `SELECT 1 FROM results WHERE run_id = ? AND account_id = ?`},
	} {
		errs = append(errs, prepare(ctx, p.db, p.dst, p.q))
	}
	return errors.Join(errs...)
}

func (st stmts) close() error {
	var errs []error
	for _, x := range []*sql.Stmt{st.insResult, st.insResultOverwrite, st.countResult, st.run, st.runCached, st.hasResult} {
		if x != nil {
			errs = append(errs, x.Close())
		}
	}
	return errors.Join(errs...)
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.ResultCounter = (*Store)(nil)
)

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
	joined_to    TEXT NOT NULL DEFAULT ''   -- the open ad-hoc run this one joined
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

// Open opens (creating if needed) the store at cfg.Path.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dsn := func(readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		// NORMAL under WAL: a power loss may drop the last commits but never
		// corrupts; redelivery of unacknowledged messages covers the loss.
		q.Add("_pragma", "synchronous(NORMAL)")
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			// Take the write lock at BEGIN: a deferred transaction that reads
			// then writes can fail with SQLITE_BUSY without waiting.
			q.Set("_txlock", "immediate")
		}
		return "file:" + cfg.Path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	// One writer connection: writes are serialised here instead of
	// spinning on SQLITE_BUSY between our own connections.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, unsafe: cfg.Unsafe, log: logger, started: store.NewStartedCache(64)}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	r, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.ReadConns)
	// Keep the idle read connections (and the statements prepared on them):
	// the default of 2 idle would close and re-prepare under load.
	r.SetMaxIdleConns(cfg.ReadConns)
	s.r = r
	if err := s.prepareAll(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	logger.Debug("sqlite store opened", slog.String("path", cfg.Path))
	return s, nil
}

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
	if _, err := tx.ExecContext(ctx, ddlIndexes); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the statements and both connection pools.
func (s *Store) Close() error {
	return errors.Join(s.stmts.close(), s.r.Close(), s.w.Close())
}

func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

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
	return true, rec, nil
}

const (
	runCols = `run_id, started, results, generated_at, claim_owner, claim_until, emitted, emitted_at, report_key, ticket_key, ticket_owner, ticket_until, joined_to`
	// runColsCached is runCols with, instead of the RunStarted, whether
	// there is one.
	runColsCached = `run_id, started IS NOT NULL, results, generated_at, claim_owner, claim_until, emitted, emitted_at, report_key, ticket_key, ticket_owner, ticket_until, joined_to`
)

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanRun(row scanner) (store.RunState, error) {
	var (
		st                          store.RunState
		id                          string
		started                     []byte
		generated, until, emittedAt sql.NullInt64
		ticketUntil                 sql.NullInt64
		emitted                     int
		joined                      string
	)
	if err := row.Scan(&id, &started, &st.Results, &generated, &st.ClaimOwner, &until, &emitted, &emittedAt, &st.ReportKey, &st.TicketKey, &st.TicketOwner, &ticketUntil, &joined); err != nil {
		return st, err
	}
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
	st.GeneratedAt, st.ClaimUntil, st.EmittedAt = fromNanos(generated), fromNanos(until), fromNanos(emittedAt)
	st.TicketUntil = fromNanos(ticketUntil)
	st.Emitted = emitted != 0
	st.JoinedTo = ident.RunID(joined)
	return st, nil
}

// scanRunCached reads a runColsCached row of a run whose RunStarted is
// started: it was recorded, and first write wins, so it is still the one
// stored (the query says whether the row has one, which it always should).
func scanRunCached(row scanner, started *events.RunStarted) (store.RunState, error) {
	var (
		st                          store.RunState
		id                          string
		hasStarted                  bool
		generated, until, emittedAt sql.NullInt64
		ticketUntil                 sql.NullInt64
		emitted                     int
		joined                      string
	)
	if err := row.Scan(&id, &hasStarted, &st.Results, &generated, &st.ClaimOwner, &until, &emitted, &emittedAt, &st.ReportKey, &st.TicketKey, &st.TicketOwner, &ticketUntil, &joined); err != nil {
		return st, err
	}
	st.RunID = ident.RunID(id)
	if hasStarted {
		st.Started = started
	}
	st.GeneratedAt, st.ClaimUntil, st.EmittedAt = fromNanos(generated), fromNanos(until), fromNanos(emittedAt)
	st.TicketUntil = fromNanos(ticketUntil)
	st.Emitted = emitted != 0
	st.JoinedTo = ident.RunID(joined)
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

// Results implements store.Store: one cursor over the primary key, one
// decoded result in memory at a time.
func (s *Store) Results(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, "results", `SELECT account_id, body FROM results WHERE run_id = ? ORDER BY account_id`, id)
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

// Held implements store.Store.
func (s *Store) Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, "held results", `SELECT account_id, body FROM held WHERE run_id = ? ORDER BY account_id`, id)
}

// DropHeld implements store.Store.
func (s *Store) DropHeld(ctx context.Context, id ident.RunID, account ident.AccountID) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM held WHERE run_id = ? AND account_id = ?`, string(id), string(account)); err != nil {
		return fmt.Errorf("drop held result %s/%s: %w", id, account, err)
	}
	return nil
}

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
