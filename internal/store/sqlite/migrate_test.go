package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// schema1 is the runs table as schema version 1 wrote it (before the ticket
// lease), to prove a local run's store from an older binary still opens.
const schema1 = `
CREATE TABLE runs (
	run_id       TEXT PRIMARY KEY,
	started      BLOB,
	results      INTEGER NOT NULL DEFAULT 0,
	generated_at INTEGER,
	claim_owner  TEXT NOT NULL DEFAULT '',
	claim_until  INTEGER,
	emitted      INTEGER NOT NULL DEFAULT 0,
	emitted_at   INTEGER,
	report_key   TEXT NOT NULL DEFAULT '',
	ticket_key   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE results (run_id TEXT NOT NULL, account_id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (run_id, account_id));
PRAGMA user_version = 1;
`

// TestMigratesSchema1: an emitted, unticketed run in a version-1 file keeps
// its state and gets a ticket lease after Open.
func TestMigratesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	started, err := json.Marshal(storetest.NewRun("old", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO runs (run_id, started, claim_owner, emitted, emitted_at, report_key) VALUES ('old', ?, 'o', 1, 1, 'r.xlsx')`, started); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, nil)
	ctx := t.Context()
	un, err := s.Unticketed(ctx)
	if err != nil || len(un) != 1 || un[0].ReportKey != "r.xlsx" || un[0].TicketOwner != "" {
		t.Fatalf("Unticketed after migration = %+v, %v", un, err)
	}
	now := storetest.T0
	if _, err := s.ClaimTicket(ctx, "old", "a", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTicket(ctx, "old", "b", now, time.Minute); !errors.Is(err, store.ErrClaimed) {
		t.Fatalf("second owner: %v, want ErrClaimed", err)
	}
	if err := s.SetTicket(ctx, "old", "SEC-1"); err != nil {
		t.Fatal(err)
	}
	// Reopened: migrated once, at version 2 now.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path, nil)
	if st, err := s2.Run(ctx, "old"); err != nil || st.TicketKey != "SEC-1" || st.TicketOwner != "a" {
		t.Fatalf("after reopening: %+v, %v", st, err)
	}
}

// schema2 is what version 2 wrote: the ticket lease, no held results,
// deadline or ad-hoc slot.
const schema2 = `
CREATE TABLE runs (
	run_id       TEXT PRIMARY KEY,
	started      BLOB,
	results      INTEGER NOT NULL DEFAULT 0,
	generated_at INTEGER,
	claim_owner  TEXT NOT NULL DEFAULT '',
	claim_until  INTEGER,
	emitted      INTEGER NOT NULL DEFAULT 0,
	emitted_at   INTEGER,
	report_key   TEXT NOT NULL DEFAULT '',
	ticket_key   TEXT NOT NULL DEFAULT '',
	ticket_owner TEXT NOT NULL DEFAULT '',
	ticket_until INTEGER
);
CREATE INDEX runs_pending ON runs(run_id) WHERE started IS NOT NULL AND emitted = 0;
CREATE INDEX runs_unticketed ON runs(run_id) WHERE emitted = 1 AND ticket_key = '';
CREATE TABLE results (run_id TEXT NOT NULL, account_id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (run_id, account_id));
PRAGMA user_version = 2;
`

// TestMigratesSchema2: a pending run of a version-2 file (no deadline
// column) stays pending, before the runs recorded after the migration;
// held results and the ad-hoc slot work at once.
func TestMigratesSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old := storetest.NewRun("old", 1)
	old.Deadline = storetest.T0.Add(time.Hour)
	started, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO runs (run_id, started) VALUES ('old', ?)`, started); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, nil)
	ctx := t.Context()
	if _, err := s.RecordRun(ctx, storetest.NewRun("new", 1)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Pending(ctx, 10)
	if err != nil || len(p) != 2 || p[0].RunID != "old" || p[1].RunID != "new" {
		t.Fatalf("Pending after migration = %+v, %v; want old, new", p, err)
	}
	res := storetest.Covering(storetest.NewResult("old", storetest.Account(1), 1), "us-east-1")
	if held, err := s.HoldResult(ctx, res); err != nil || !held {
		t.Fatalf("HoldResult after migration = %v, %v", held, err)
	}
	for _, id := range []string{"a1", "a2"} {
		if _, err := s.RecordRun(ctx, storetest.NewAdhocRun(ident.RunID(id), storetest.Account(5), storetest.T0)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.Run(ctx, "a2"); err != nil || st.JoinedTo != "a1" {
		t.Fatalf("a2 after migration: JoinedTo %q, %v; want a1", st.JoinedTo, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var v int
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 4 {
		t.Fatalf("user_version = %d, %v; want 4", v, err)
	}
}

// schema3 is what version 3 wrote: no findings key, baseline or latest
// scheduled run.
const schema3 = `
CREATE TABLE runs (
	run_id       TEXT PRIMARY KEY,
	started      BLOB,
	results      INTEGER NOT NULL DEFAULT 0,
	generated_at INTEGER,
	claim_owner  TEXT NOT NULL DEFAULT '',
	claim_until  INTEGER,
	emitted      INTEGER NOT NULL DEFAULT 0,
	emitted_at   INTEGER,
	report_key   TEXT NOT NULL DEFAULT '',
	ticket_key   TEXT NOT NULL DEFAULT '',
	ticket_owner TEXT NOT NULL DEFAULT '',
	ticket_until INTEGER,
	deadline     INTEGER,
	adhoc_account TEXT NOT NULL DEFAULT '',
	joined_to    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_unticketed ON runs(run_id) WHERE emitted = 1 AND ticket_key = '';
CREATE TABLE results (run_id TEXT NOT NULL, account_id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (run_id, account_id));
CREATE TABLE held (run_id TEXT NOT NULL, account_id TEXT NOT NULL, breadth INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (run_id, account_id));
CREATE TABLE adhoc_open (account_id TEXT PRIMARY KEY, run_id TEXT NOT NULL);
CREATE INDEX runs_pending_deadline ON runs(deadline, run_id) WHERE started IS NOT NULL AND emitted = 0 AND joined_to = '';
PRAGMA user_version = 3;
`

// TestMigratesSchema3: runs of a version-3 file have no baseline fixed
// until claimed (an unclaimed one and one claimed before the migration
// alike), an emitted one has no findings key and is no baseline, and a
// run emitted after the migration is.
func TestMigratesSchema3(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema3); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id                      string
		startedAt               time.Duration
		owner, reportKey        string
		generated, until, emits int64
	}{
		{"old-emitted", 0, "o", "old.xlsx", storetest.T0.UnixNano(), storetest.T0.Add(time.Minute).UnixNano(), 1},
		{"old-claimed", time.Hour, "o", "", storetest.T0.UnixNano(), storetest.T0.Add(time.Minute).UnixNano(), 0},
		{"old-pending", 2 * time.Hour, "", "", 0, 0, 0},
	} {
		run := storetest.NewRun(ident.RunID(r.id), 1)
		run.StartedAt = storetest.T0.Add(r.startedAt)
		started, err := json.Marshal(run)
		if err != nil {
			t.Fatal(err)
		}
		nullable := func(n int64) any {
			if n == 0 {
				return nil
			}
			return n
		}
		if _, err := db.Exec(`INSERT INTO runs (run_id, started, generated_at, claim_owner, claim_until, emitted, emitted_at, report_key, deadline)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.id, started, nullable(r.generated), r.owner, nullable(r.until), r.emits,
			nullable(r.emits*storetest.T0.UnixNano()), r.reportKey, run.Deadline.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, nil)
	ctx := t.Context()
	for _, id := range []ident.RunID{"old-emitted", "old-claimed", "old-pending"} {
		st, err := s.Run(ctx, id)
		if err != nil || st.BaselineFixed || st.Baseline != nil || st.FindingsKey != "" {
			t.Fatalf("%s after migration: BaselineFixed %v, Baseline %v, FindingsKey %q, %v; want false, none, empty",
				id, st.BaselineFixed, st.Baseline, st.FindingsKey, err)
		}
	}
	if st, _ := s.Run(ctx, "old-emitted"); !st.Emitted || st.ReportKey != "old.xlsx" {
		t.Fatalf("old-emitted after migration: Emitted %v, ReportKey %q", st.Emitted, st.ReportKey)
	}
	if ref, err := s.LatestScheduled(ctx); err != nil || ref != nil {
		t.Fatalf("LatestScheduled after migration = %v, %v; want none (no old run has a findings file)", ref, err)
	}
	// A run recorded and emitted after the migration becomes the baseline
	// of the old runs' first claims after it.
	newRun := storetest.NewRun("new", 1)
	newRun.StartedAt = storetest.T0.Add(3 * time.Hour)
	if _, err := s.RecordRun(ctx, newRun); err != nil {
		t.Fatal(err)
	}
	now := storetest.T0.Add(4 * time.Hour)
	if _, err := s.Claim(ctx, "new", "a", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, "new", "a", "new.xlsx", "new.jsonl.gz", now); err != nil {
		t.Fatal(err)
	}
	want := &store.BaselineRef{RunID: "new", GeneratedAt: now, FindingsKey: "new.jsonl.gz"}
	for _, id := range []ident.RunID{"old-claimed", "old-pending"} {
		c, err := s.Claim(ctx, id, "b", now, time.Minute)
		if err != nil || !c.Baseline.Equal(want) {
			t.Fatalf("claim of %s after migration: Baseline %v, %v; want new", id, c.Baseline, err)
		}
		if !c.GeneratedAt.Equal(map[ident.RunID]time.Time{"old-claimed": storetest.T0, "old-pending": now}[id]) {
			t.Fatalf("claim of %s after migration: GeneratedAt %s changed", id, c.GeneratedAt)
		}
	}
}
