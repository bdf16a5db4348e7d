//go:build chaos

package storetest

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/store"
)

// unsafeChildEnv makes the test binary, re-executed by RunUnsafe, run the
// suite against a store with first-write-wins off.
const unsafeChildEnv = "STORETEST_UNSAFE_CHILD"

// unsafeMustFail are the subtests that check first-write-wins; unsafeMustPass
// are two that do not (proof the child works otherwise).
var (
	unsafeMustFail = []string{"RecordRunFirstWriteWins", "RecordResultFirstWriteWins", "ConcurrentRecord"}
	unsafeMustPass = []string{"ClaimLifecycle", "NotFound"}
)

// RunUnsafe proves the suite catches a store whose writes are not
// conditional. It re-runs the test binary on t's test alone, where it runs
// the suite against newStore given a store.Unsafe with first-write-wins
// off; then it checks that the subtests of first-write-wins failed there
// and the others passed (the failure is the suite's, not a crash). It
// needs the chaos build, as store.Unsafe does.
func RunUnsafe(t *testing.T, newStore func(t *testing.T, u *store.Unsafe) store.Store) {
	if os.Getenv(unsafeChildEnv) == "1" {
		Run(t, func(t *testing.T) store.Store {
			u := new(store.Unsafe)
			u.AllowOverwrite(t)
			return newStore(t, u)
		})
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	subtests := strings.Join(append(append([]string{}, unsafeMustFail...), unsafeMustPass...), "|")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$/^("+subtests+")$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), unsafeChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the conformance suite passed against a store without first-write-wins:\n%s", out)
	}
	failed := map[string]bool{}
	for _, m := range regexp.MustCompile(`--- FAIL: `+regexp.QuoteMeta(t.Name())+`/(\S+)`).FindAllStringSubmatch(string(out), -1) {
		failed[m[1]] = true
	}
	for _, want := range unsafeMustFail {
		if !failed[want] {
			t.Errorf("subtest %s did not fail with first-write-wins off", want)
		}
	}
	for _, other := range unsafeMustPass {
		if failed[other] {
			t.Errorf("unrelated subtest %s failed too (%v): the child broke for another reason", other, failed)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", lastLines(string(out), 60))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
