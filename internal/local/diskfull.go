package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// A full disk is permanent for a local run: nothing frees space while it
// runs. Left to the cluster's policy (a failed write is transient, the
// message is redelivered, the emission retried on the next tick), a write
// that finds the disk full repeats for ever and the run hangs. So every
// write path of local mode (the store, the folder, the renderer's temporary
// files, and any handler error) goes through a diskGuard, which stops the
// run on the first such error with a DiskFullError.

// DiskFullError is what Run returns when a write found the disk full (or
// the user's quota exhausted).
type DiskFullError struct {
	// Path written: a file, or the folder it was to go in.
	Path string
	// Err is the write's error, its innermost useful part.
	Err error
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("disk full writing %s: %v", e.Path, e.Err)
}

func (e *DiskFullError) Unwrap() error { return e.Err }

// isDiskFull tells whether err is a write refused for lack of space:
// ENOSPC or EDQUOT from the file system, or SQLite's SQLITE_FULL (which is
// how it reports an ENOSPC, and a database at its max_page_count).
func isDiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// diskFullCause returns the path the error names (a *fs.PathError's), or
// fallback, and the innermost error worth printing.
func diskFullCause(err error, fallback string) (string, error) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return fallback, se
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if fallback == "" {
			fallback = pe.Path
		}
		return fallback, pe.Err
	}
	return fallback, err
}

// diskGuard records the first disk-full error and closes full.
type diskGuard struct {
	// storePath names the store's file when an error has no path of its
	// own (SQLite's errors do not).
	storePath string
	once      sync.Once
	full      chan struct{}
	err       *DiskFullError
}

func newDiskGuard(storePath string) *diskGuard {
	return &diskGuard{storePath: storePath, full: make(chan struct{})}
}

// check returns err unchanged, tripping the guard first when it is a full
// disk; path is what was being written ("" to take the error's own path,
// or the store's for an SQLite error).
func (g *diskGuard) check(path string, err error) error {
	if !isDiskFull(err) {
		return err
	}
	if path == "" {
		var se *sqlite.Error
		if errors.As(err, &se) {
			path = g.storePath
		}
	}
	p, cause := diskFullCause(err, path)
	if p == "" {
		p = "the output folder"
	}
	g.once.Do(func() {
		g.err = &DiskFullError{Path: p, Err: cause}
		close(g.full)
	})
	return err
}

// tripped returns the guard's error, nil while the disk was never full.
func (g *diskGuard) tripped() error {
	select {
	case <-g.full:
		return g.err
	default:
		return nil
	}
}

// middleware watches every message handler's error (the store's writes
// of RunStarted and results, the claim-check payloads the scanner writes).
// A handler that found the disk full acks its message instead of nacking
// it: the run is stopping, and a nack would only be redelivered into the
// same full disk (the message is in memory: a resumed run asks again for
// every account without a recorded result).
func (g *diskGuard) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		out, err := h(m)
		if isDiskFull(g.check("", err)) {
			return nil, nil
		}
		return out, err
	}
}

// guardedBlob is the output folder behind a diskGuard: reports and
// claim-check payloads.
type guardedBlob struct {
	blob.Folder
	g *diskGuard
}

func (b guardedBlob) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	return b.g.check(filepath.Join(b.Dir, filepath.FromSlash(key)), b.Folder.Put(ctx, key, body, contentType))
}

// guardedStore watches the store's writes made outside a message handler:
// the aggregator loop's claim, renewals, emitted mark and ticket key.
type guardedStore struct {
	store.Store
	g *diskGuard
	// emitted, when set, is signalled (without blocking) after each
	// emitted mark, so that wait sees the report at once.
	emitted chan<- struct{}
	// recorded, when set, is called with each run whose RunStarted is in
	// the store after RecordRun (recorded now, or before).
	recorded func(ident.RunID)
}

func (s guardedStore) RecordRun(ctx context.Context, run *events.RunStarted) (bool, error) {
	created, err := s.Store.RecordRun(ctx, run)
	if err == nil && s.recorded != nil {
		s.recorded(run.RunID)
	}
	return created, err
}

// RecordResultCounted passes store.ResultCounter through: the aggregator
// looks for it on the store it is given, and without it reads the run
// back after every result. A store without it records and says nothing
// of the run (a zero rec), which makes the aggregator read the run.
func (s guardedStore) RecordResultCounted(ctx context.Context, res *events.AccountScanned) (bool, store.Recorded, error) {
	if rc, ok := s.Store.(store.ResultCounter); ok {
		return rc.RecordResultCounted(ctx, res)
	}
	created, err := s.Store.RecordResult(ctx, res)
	return created, store.Recorded{}, err
}

func (s guardedStore) Claim(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (store.Claim, error) {
	c, err := s.Store.Claim(ctx, id, owner, now, ttl)
	return c, s.g.check("", err)
}

func (s guardedStore) MarkEmitted(ctx context.Context, id ident.RunID, owner, reportKey, findingsKey string, now time.Time) error {
	err := s.g.check("", s.Store.MarkEmitted(ctx, id, owner, reportKey, findingsKey, now))
	if err == nil && s.emitted != nil {
		select {
		case s.emitted <- struct{}{}:
		default: // a signal is pending already
		}
	}
	return err
}

func (s guardedStore) SetTicket(ctx context.Context, id ident.RunID, ticketKey string) error {
	return s.g.check("", s.Store.SetTicket(ctx, id, ticketKey))
}

// renderer watches the render: its temporary files under TMPDIR and the
// aggregator's temporary workbook and findings file it writes into.
func (g *diskGuard) renderer(r aggregate.Renderer) aggregate.Renderer {
	return func(ctx context.Context, out report.Output, run report.Run, accounts []report.Account, errs []report.ErrorRow, findings report.Findings, base *report.Baseline) (report.ChangeCounts, error) {
		counts, err := r(ctx, out, run, accounts, errs, findings, base)
		var pe *fs.PathError
		if isDiskFull(err) && !errors.As(err, &pe) {
			// A write to out: the aggregator's temporary files, in TMPDIR.
			return counts, g.check(os.TempDir(), err)
		}
		return counts, g.check("", err)
	}
}

// quietHandler drops the log records that carry a disk-full error (the
// retries and redeliveries before the guard stops the run would otherwise
// print a dozen lines ahead of the one that says it), tripping the guard
// on the way, and, once it tripped, those of the cancellation it caused:
// Run's error is the one line a full disk gets.
type quietHandler struct {
	slog.Handler
	g *diskGuard
}

func (g *diskGuard) quiet(h slog.Handler) slog.Handler { return quietHandler{Handler: h, g: g} }

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	full := false
	r.Attrs(func(a slog.Attr) bool {
		full = q.diskFullAttr(a)
		return !full
	})
	if full {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietHandler) diskFullAttr(a slog.Attr) bool {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		for _, ga := range v.Group() {
			if q.diskFullAttr(ga) {
				return true
			}
		}
	case slog.KindAny:
		err, ok := v.Any().(error)
		if !ok {
			return false
		}
		if isDiskFull(err) {
			q.g.check("", err)
			return true
		}
		return errors.Is(err, context.Canceled) && q.g.tripped() != nil
	}
	return false
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{Handler: q.Handler.WithAttrs(as), g: q.g}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{Handler: q.Handler.WithGroup(name), g: q.g}
}
