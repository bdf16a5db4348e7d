//go:build chaos

// The proof that the conformance suite can fail needs store.Unsafe, which
// only the chaos build has (the shipped binaries must not link testing):
// make test runs it with -tags chaos (mk/store.mk, test-store-unsafe).
package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// TestConformanceFailsWhenUnsafe proves the suite can fail: with
// first-write-wins switched off, the subtests that check it must fail (and
// the others still pass, so the failure is the suite's, not a crash).
func TestConformanceFailsWhenUnsafe(t *testing.T) {
	storetest.RunUnsafe(t, func(t *testing.T, u *store.Unsafe) store.Store {
		return open(t, filepath.Join(t.TempDir(), sqlite.FileName), u)
	})
}
