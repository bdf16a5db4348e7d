package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// sqliteFull returns a real SQLITE_FULL: a database capped by
// max_page_count, filled until it refuses.
func sqliteFull(t *testing.T) error {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "full.db")+"?_pragma=max_page_count(8)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := db.Exec("INSERT INTO t VALUES (randomblob(4000))"); err != nil {
			return fmt.Errorf("record result r/a: %w", err)
		}
	}
	t.Fatal("max_page_count(8) did not fill the database")
	return nil
}

func sqliteConstraint(t *testing.T) error {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("INSERT INTO t VALUES (1), (1)")
	if err == nil {
		t.Fatal("duplicate key accepted")
	}
	return err
}

// devFullWrite returns the error of a real write to /dev/full (ENOSPC).
func devFullWrite(t *testing.T) error {
	t.Helper()
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full")
	}
	defer f.Close()
	_, err = f.Write([]byte("x"))
	if err == nil {
		t.Fatal("write to /dev/full succeeded")
	}
	return fmt.Errorf("put reports/x.xlsx: %w", err)
}

func TestDiskFullDetection(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		full     bool
		path     string // DiskFullError.Path when full
		fallback string
	}{
		{name: "nil", err: nil},
		{name: "dev full write", err: devFullWrite(t), full: true, path: "/dev/full"},
		{name: "dev full write, path given", err: devFullWrite(t), full: true, fallback: "/out/reports/x.xlsx", path: "/out/reports/x.xlsx"},
		{name: "quota", err: &fs.PathError{Op: "write", Path: "/q/f", Err: syscall.EDQUOT}, full: true, path: "/q/f"},
		{name: "sqlite full", err: sqliteFull(t), full: true, path: "/out/dedupe-store.sqlite"},
		{name: "sqlite constraint", err: sqliteConstraint(t)},
		{name: "I/O error", err: &fs.PathError{Op: "write", Path: "/x", Err: syscall.EIO}},
		{name: "cancelled", err: fmt.Errorf("record: %w", context.Canceled)},
		{name: "not found", err: fs.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := isDiskFull(c.err); got != c.full {
				t.Fatalf("isDiskFull(%v) = %v, want %v", c.err, got, c.full)
			}
			g := newDiskGuard("/out/dedupe-store.sqlite")
			if got := g.check(c.fallback, c.err); got != c.err {
				t.Errorf("check changed the error: %v", got)
			}
			full := g.tripped()
			if !c.full {
				if full != nil {
					t.Errorf("guard tripped: %v", full)
				}
				return
			}
			var de *DiskFullError
			if !errors.As(full, &de) {
				t.Fatalf("tripped() = %v, want a *DiskFullError", full)
			}
			if de.Path != c.path {
				t.Errorf("path %q, want %q", de.Path, c.path)
			}
			if !strings.HasPrefix(full.Error(), "disk full writing "+c.path+": ") || strings.Contains(full.Error(), "record result") {
				t.Errorf("message %q: want the path and the innermost cause only", full)
			}
			// The first error stays the one reported.
			g.check("/elsewhere", c.err)
			if g.tripped().(*DiskFullError).Path != c.path {
				t.Errorf("a second error replaced the first")
			}
		})
	}
}

// The guard's log handler drops records carrying a full disk (and trips),
// and, after the trip only, those of the cancellation that follows.
func TestQuietHandler(t *testing.T) {
	full := &fs.PathError{Op: "write", Path: "/out/x", Err: syscall.ENOSPC}
	cases := []struct {
		name    string
		attrs   []any
		tripped bool // guard tripped before the record
		kept    bool
		trips   bool
	}{
		{name: "plain", attrs: []any{"k", "v"}, kept: true},
		{name: "other error", attrs: []any{"error", errors.New("boom")}, kept: true},
		{name: "disk full", attrs: []any{"error", fmt.Errorf("x: %w", full)}, trips: true},
		{name: "disk full in a group", attrs: []any{slog.Group("g", slog.Any("err", full))}, trips: true},
		{name: "cancelled before a trip", attrs: []any{"error", context.Canceled}, kept: true},
		{name: "cancelled after a trip", attrs: []any{"error", fmt.Errorf("r: %w", context.Canceled)}, tripped: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf strings.Builder
			g := newDiskGuard("/out/db")
			if c.tripped {
				g.check("", full)
			}
			log := slog.New(g.quiet(slog.NewTextHandler(&buf, nil))).With("run", "r1")
			log.Warn("handler failed", c.attrs...)
			if kept := buf.Len() > 0; kept != c.kept {
				t.Errorf("record kept %v, want %v: %q", kept, c.kept, buf.String())
			}
			if !c.tripped && (g.tripped() != nil) != c.trips {
				t.Errorf("guard tripped %v, want %v", g.tripped() != nil, c.trips)
			}
		})
	}
}

// A render whose temporary workbook is on a full disk (a real write to
// /dev/full, no root needed) stops the run at once with a DiskFullError,
// instead of retrying the emission on every tick until the deadline.
func TestLocalRunStopsOnFullRenderDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	defer func(r aggregate.Renderer) { renderer = r }(renderer)
	renderer = func(ctx context.Context, out report.Output, run report.Run, accts []report.Account, errs []report.ErrorRow, fs report.Findings, base *report.Baseline) (report.ChangeCounts, error) {
		f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			return report.ChangeCounts{}, err
		}
		defer f.Close()
		out.Workbook = f
		return report.RenderRun(ctx, out, run, accts, errs, fs, base)
	}
	e := newEnv(t, 10, 3, awssim.Config{})
	checkStops(t, baseConfig(t), e, "/dev/full")
}

func checkStops(t *testing.T, cfg Config, e env, wantPath string) {
	t.Helper()
	cfg.ProgressInterval = 10 * time.Second // a failure's message quotes the progress
	start := time.Now()
	var progress strings.Builder
	var logs strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg, e.hub, &progress, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var de *DiskFullError
	if !errors.As(err, &de) {
		t.Fatalf("Run = %+v, %v; want a *DiskFullError\nprogress:\n%s", res, err, progress.String())
	}
	if de.Path != wantPath && !strings.HasPrefix(de.Path, wantPath+string(filepath.Separator)) {
		t.Errorf("path %q, want %s or under it", de.Path, wantPath)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("took %s to stop", el)
	}
	if res.RunID == "" {
		t.Errorf("no run id to resume with")
	}
	if logs.Len() > 0 {
		t.Errorf("log lines besides the error:\n%s", logs.String())
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new folder; root only.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// The output folder on a tiny tmpfs: the store fills it, and the run stops
// with one error naming the store, instead of redelivering the result that
// does not fit for ever.
func TestLocalRunStopsOnFullOutputDisk(t *testing.T) {
	dir := mountTmpfs(t, "512k")
	e := newEnv(t, 150, 3, awssim.Config{})
	cfg := baseConfig(t)
	cfg.Out = filepath.Join(dir, "out")
	checkStops(t, cfg, e, filepath.Join(cfg.Out, sqlite.FileName))
}

// TMPDIR on a tiny tmpfs, the output folder fine: the render's temporary
// files fill it.
func TestLocalRunStopsOnFullTMPDIR(t *testing.T) {
	dir := mountTmpfs(t, "16k")
	cfg := baseConfig(t) // before TMPDIR moves: t.TempDir is under it
	t.Setenv("TMPDIR", dir)
	e := newEnv(t, 150, 3, awssim.Config{})
	checkStops(t, cfg, e, dir)
}
