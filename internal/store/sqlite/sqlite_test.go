package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

func open(t testing.TB, path string, unsafe *store.Unsafe) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Unsafe: unsafe}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), sqlite.FileName), nil)
	})
}

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	ctx := t.Context()
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := storetest.NewRun("run-restart", 3)
	if _, err := s.RecordRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := s.RecordResult(ctx, storetest.NewResult("run-restart", storetest.Account(i), 5)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, "run-restart", "a", storetest.T0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, path, nil)
	st, err := s2.Run(ctx, "run-restart")
	if err != nil {
		t.Fatal(err)
	}
	if st.Started == nil || len(st.Started.Accounts) != 3 || st.Results != 2 || st.ClaimOwner != "a" || !st.GeneratedAt.Equal(storetest.T0) {
		t.Fatalf("after reopen: %+v", st)
	}
	if created, err := s2.RecordResult(ctx, storetest.NewResult("run-restart", storetest.Account(1), 9)); err != nil || created {
		t.Fatalf("first write must still win after reopen: created %v, err %v", created, err)
	}
	n := 0
	for res, err := range s2.Results(ctx, "run-restart") {
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Findings) != 5 {
			t.Fatalf("result %s has %d findings after reopen", res.AccountID, len(res.Findings))
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d results after reopen, want 2", n)
	}
}

func TestConfigValidate(t *testing.T) {
	err := sqlite.Config{BusyTimeout: -1, ReadConns: -2}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"path is required", "busy timeout", "read conns"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// BenchmarkStore: go test -run '^$' -bench . ./internal/store/sqlite/
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		return open(b, filepath.Join(b.TempDir(), sqlite.FileName), nil)
	})
}

// TestRunAfterDecode: once a run's RunStarted is decoded, Run reads the rest
// of the row only; what it returns must still follow every write.
func TestRunAfterDecode(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), sqlite.FileName), nil)
	run := storetest.NewRun("run-cached", 2)
	if _, err := s.RecordRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	first, err := s.Run(ctx, run.RunID) // decodes
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := s.RecordResult(ctx, storetest.NewResult(run.RunID, storetest.Account(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, run.RunID, "a", storetest.T0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, run.RunID, "a", "k.xlsx", "", storetest.T0); err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Started != first.Started || st.Results != 2 || !st.Emitted || st.ReportKey != "k.xlsx" || st.ClaimOwner != "a" || !st.GeneratedAt.Equal(storetest.T0) {
		t.Errorf("Run after decode: %+v", st)
	}
}
