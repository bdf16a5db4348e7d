package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

const cacheRun ident.RunID = "run-cache"

// readAll reads a run's results, failing the test on an error.
func readAll(t *testing.T, s store.Store, id ident.RunID) []*events.AccountScanned {
	t.Helper()
	out, err := tryReadAll(t, s, id)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tryReadAll(t *testing.T, s store.Store, id ident.RunID) ([]*events.AccountScanned, error) {
	t.Helper()
	var out []*events.AccountScanned
	for res, err := range s.Results(t.Context(), id) {
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// corrupt overwrites every stored body behind the store's back: a Results
// that still yields the results did not read the file.
func corrupt(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `UPDATE results SET body = 'not json'`); err != nil {
		t.Fatal(err)
	}
}

func openCfg(t *testing.T, cfg sqlite.Config) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A run's results recorded by this Store are served from memory (the
// file's bodies are not decoded again) exactly when the Store holds all of
// them within its budget; otherwise they are read from the file.
func TestResultsFromMemory(t *testing.T) {
	local := time.FixedZone("CET", 3600)
	odd := storetest.NewResult(cacheRun, storetest.Account(2), 3)
	odd.Findings[0].Annotation = "not UTF-8: \xff"
	for _, tc := range []struct {
		name       string
		cacheBytes int64
		before     int // results recorded by another Store before this one opened
		results    []*events.AccountScanned
		fromMemory bool
	}{
		{name: "all recorded here", results: []*events.AccountScanned{
			storetest.NewResult(cacheRun, storetest.Account(3), 4), storetest.NewResult(cacheRun, storetest.Account(1), 0),
			storetest.NewResult(cacheRun, storetest.Account(2), 7)}, fromMemory: true},
		{name: "one recorded before this Store opened", before: 1, results: []*events.AccountScanned{
			storetest.NewResult(cacheRun, storetest.Account(1), 2), storetest.NewResult(cacheRun, storetest.Account(2), 2)}},
		{name: "over the budget", cacheBytes: 600, results: []*events.AccountScanned{
			storetest.NewResult(cacheRun, storetest.Account(1), 2), storetest.NewResult(cacheRun, storetest.Account(2), 2)}},
		{name: "cache off", cacheBytes: -1, results: []*events.AccountScanned{storetest.NewResult(cacheRun, storetest.Account(1), 2)}},
		{name: "a string JSON would alter", results: []*events.AccountScanned{storetest.NewResult(cacheRun, storetest.Account(1), 2), odd}},
		{name: "times JSON would change", results: []*events.AccountScanned{func() *events.AccountScanned {
			r := storetest.NewResult(cacheRun, storetest.Account(1), 2)
			r.ScannedAt = time.Now() // monotonic reading, local zone
			r.Findings[1].RecordedAt = r.Findings[1].RecordedAt.In(local)
			r.Errors = nil
			return r
		}()}, fromMemory: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), sqlite.FileName)
			if tc.before > 0 {
				s0 := openCfg(t, sqlite.Config{Path: path})
				for _, r := range tc.results[:tc.before] {
					if _, err := s0.RecordResult(ctx, r); err != nil {
						t.Fatal(err)
					}
				}
				if err := s0.Close(); err != nil {
					t.Fatal(err)
				}
			}
			s := openCfg(t, sqlite.Config{Path: path, ResultCacheBytes: tc.cacheBytes})
			if _, err := s.RecordRun(ctx, storetest.NewRun(cacheRun, 3)); err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.results[tc.before:] {
				if _, err := s.RecordResult(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			// What decoding the file gives, read by a Store that recorded
			// nothing.
			want := readAll(t, openCfg(t, sqlite.Config{Path: path}), cacheRun)
			if len(want) != len(tc.results) {
				t.Fatalf("%d results from the file, want %d", len(want), len(tc.results))
			}
			got := readAll(t, s, cacheRun)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Results differ from the file's:\n got %+v\nwant %+v", got, want)
			}
			// Each Results hands out its own copies.
			got[0].AccountID, got[0].Findings = "mutated", nil
			if again := readAll(t, s, cacheRun); !reflect.DeepEqual(again, want) {
				t.Fatalf("a caller's change reached the store: %+v", again[0])
			}

			corrupt(t, path)
			got, err := tryReadAll(t, s, cacheRun)
			switch {
			case tc.fromMemory && err != nil:
				t.Fatalf("read the file, want memory: %v", err)
			case tc.fromMemory && !reflect.DeepEqual(got, want):
				t.Fatalf("from memory:\n got %+v\nwant %+v", got, want)
			case !tc.fromMemory && err == nil:
				t.Fatal("served from memory, want the file read")
			}
		})
	}
}

// A result recorded after the cache was read stays consistent: the next
// Results has it, and a run that is emitted is read from the file again.
func TestResultsFromMemoryFollowsWrites(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	s := openCfg(t, sqlite.Config{Path: path})
	if _, err := s.RecordRun(ctx, storetest.NewRun(cacheRun, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordResult(ctx, storetest.NewResult(cacheRun, storetest.Account(2), 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, s, cacheRun)); n != 1 {
		t.Fatalf("%d results, want 1", n)
	}
	if _, err := s.RecordResult(ctx, storetest.NewResult(cacheRun, storetest.Account(1), 1)); err != nil {
		t.Fatal(err)
	}
	if created, err := s.RecordResult(ctx, storetest.NewResult(cacheRun, storetest.Account(1), 5)); err != nil || created {
		t.Fatalf("second write: created %v, err %v", created, err)
	}
	got := readAll(t, s, cacheRun)
	if len(got) != 2 || got[0].AccountID != storetest.Account(1) || len(got[0].Findings) != 1 {
		t.Fatalf("after a second result: %+v", got)
	}
	if _, err := s.Claim(ctx, cacheRun, "a", storetest.T0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, cacheRun, "a", "reports/x.xlsx", "reports/x.findings.jsonl.gz", storetest.T0); err != nil {
		t.Fatal(err)
	}
	corrupt(t, path)
	if _, err := tryReadAll(t, s, cacheRun); err == nil {
		t.Fatal("an emitted run's results still served from memory")
	}
}
