//go:build chaos

// The proof that the conformance suite can fail needs store.Unsafe, which
// only the chaos build has (the shipped binaries must not link testing):
// make test runs it with -tags chaos (mk/store.mk, test-store-unsafe).
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
