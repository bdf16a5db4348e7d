package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

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
