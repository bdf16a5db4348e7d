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
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/cybsecops/configreport/internal/store"
)

// FileName is the store's file name inside a local run's -out folder.
const FileName = "dedupe-store.sqlite"

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
	// ResultCacheBytes bounds the results kept decoded for Results (see
	// resultCache), in bytes of their stored JSON; default
	// DefaultResultCacheBytes, negative: none kept.
	ResultCacheBytes int64
}

func (c *Config) setDefaults() {
	c.BusyTimeout = cmp.Or(c.BusyTimeout, 10*time.Second)
	c.ReadConns = cmp.Or(c.ReadConns, 4)
	c.ResultCacheBytes = cmp.Or(c.ResultCacheBytes, DefaultResultCacheBytes)
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
	cache   *resultCache // nil: none
	stmts
}

// stmts are the statements run once or more per result, prepared once:
// preparing them on every call was a fifth of the aggregator's time per
// result in local mode (database/sql keeps each prepared on the connection
// it ran on, re-preparing only on a new one).
type stmts struct {
	insResult, insResultOverwrite, countResult *sql.Stmt // on w
	run, runCached, hasResult, resultCount     *sql.Stmt // on r
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
		{s.r, &s.resultCount, `SELECT results FROM runs WHERE run_id = ?`},
	} {
		errs = append(errs, prepare(ctx, p.db, p.dst, p.q))
	}
	return errors.Join(errs...)
}

func (st stmts) close() error {
	var errs []error
	for _, x := range []*sql.Stmt{st.insResult, st.insResultOverwrite, st.countResult, st.run, st.runCached, st.hasResult, st.resultCount} {
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
	if cfg.ResultCacheBytes > 0 && !cfg.Unsafe.Overwrite() {
		// Overwrite (tests only) changes recorded bodies: never cached.
		s.cache = newResultCache(cfg.ResultCacheBytes)
	}
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
