package local

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// plainStore hides every optional interface of the store it wraps.
type plainStore struct{ store.Store }

// The aggregator is handed the guarded store: it must still see the
// store's ResultCounter (without it, the run is read back after every
// result), and say nothing of the run when the inner store has none.
func TestGuardedStoreCountsResults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		plain   bool
		started bool
		want    store.Recorded
	}{
		{name: "counter, run started", started: true, want: store.Recorded{Results: 1, HasStarted: true}},
		{name: "counter, result before its run", want: store.Recorded{Results: 1}},
		{name: "no counter inside", plain: true, started: true, want: store.Recorded{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), sqlite.FileName)
			db, err := sqlite.Open(ctx, sqlite.Config{Path: path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var inner store.Store = db
			if tc.plain {
				inner = plainStore{db}
			}
			var s store.Store = guardedStore{Store: inner, g: newDiskGuard(path)}
			rc, ok := s.(store.ResultCounter)
			if !ok {
				t.Fatal("the guarded store hides the store's ResultCounter")
			}
			if tc.started {
				if _, err := s.RecordRun(ctx, storetest.NewRun("run-g", 2)); err != nil {
					t.Fatal(err)
				}
			}
			created, rec, err := rc.RecordResultCounted(ctx, storetest.NewResult("run-g", storetest.Account(1), 1))
			if err != nil || !created || rec != tc.want {
				t.Fatalf("RecordResultCounted: created %v, rec %+v, err %v; want created, %+v", created, rec, err, tc.want)
			}
			if has, err := s.HasResult(ctx, "run-g", storetest.Account(1)); err != nil || !has {
				t.Fatalf("result not recorded: %v %v", has, err)
			}
			created, _, err = rc.RecordResultCounted(ctx, storetest.NewResult("run-g", storetest.Account(1), 3))
			if err != nil || created {
				t.Fatalf("second result: created %v, err %v; first write must win", created, err)
			}
		})
	}
}

// An emitted mark wakes wait at once; a refused one does not.
func TestGuardedStoreSignalsEmitted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		owner  string // of the emitted mark; the claim is "me"
		signal bool
	}{
		{name: "marked", owner: "me", signal: true},
		{name: "lease held by another", owner: "other", signal: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), sqlite.FileName)
			db, err := sqlite.Open(ctx, sqlite.Config{Path: path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			emitted := make(chan struct{}, 1)
			s := guardedStore{Store: db, g: newDiskGuard(path), emitted: emitted}
			if _, err := s.RecordRun(ctx, storetest.NewRun("run-e", 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Claim(ctx, "run-e", "me", storetest.T0, time.Hour); err != nil {
				t.Fatal(err)
			}
			err = s.MarkEmitted(ctx, "run-e", tc.owner, "reports/r.xlsx", "reports/r.findings.jsonl.gz", storetest.T0)
			if (err == nil) != tc.signal {
				t.Fatalf("MarkEmitted: %v", err)
			}
			select {
			case <-emitted:
				if !tc.signal {
					t.Fatal("signalled a refused mark")
				}
			default:
				if tc.signal {
					t.Fatal("no signal after the emitted mark")
				}
			}
		})
	}
}
