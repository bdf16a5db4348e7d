package sqlite_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// childEnv makes the test binary, re-executed by TestConformanceFailsWhenUnsafe,
// run the suite against a store with first-write-wins off.
const childEnv = "STORETEST_UNSAFE_CHILD"

// unsafeSubtests are what the child runs: the three that must fail, and
// two that must not (proof the child works otherwise).
var unsafeSubtests = []string{"RecordRunFirstWriteWins", "RecordResultFirstWriteWins", "ConcurrentRecord", "ClaimLifecycle", "NotFound"}

func TestUnsafeChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("run by TestConformanceFailsWhenUnsafe only")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		u := new(store.Unsafe)
		u.AllowOverwrite(t)
		return open(t, filepath.Join(t.TempDir(), sqlite.FileName), u)
	})
}

// TestConformanceFailsWhenUnsafe proves the suite can fail: with
// first-write-wins switched off, the subtests that check it must fail (and
// the others still pass, so the failure is the suite's, not a crash).
func TestConformanceFailsWhenUnsafe(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		t.Skip("in the child")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestUnsafeChild$/^("+strings.Join(unsafeSubtests, "|")+")$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the conformance suite passed against a store without first-write-wins:\n%s", out)
	}
	failed := map[string]bool{}
	for _, m := range regexp.MustCompile(`--- FAIL: TestUnsafeChild/(\S+)`).FindAllStringSubmatch(string(out), -1) {
		failed[m[1]] = true
	}
	for _, want := range []string{"RecordRunFirstWriteWins", "RecordResultFirstWriteWins", "ConcurrentRecord"} {
		if !failed[want] {
			t.Errorf("subtest %s did not fail with first-write-wins off", want)
		}
	}
	if failed["ClaimLifecycle"] || failed["NotFound"] {
		t.Errorf("unrelated subtests failed too (%v): the child broke for another reason", failed)
	}
	if t.Failed() {
		t.Logf("child output:\n%s", tail(string(out), 60))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
