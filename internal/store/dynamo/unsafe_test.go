//go:build chaos

// The proof that the conformance suite catches a store without conditional
// writes needs store.Unsafe, which only the chaos build has (the shipped
// binaries must not link testing): make test runs it with -tags chaos
// (mk/store.mk, test-store-unsafe).
package dynamo_test

import (
	"testing"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// TestConformanceFailsWhenUnsafe proves the suite catches a DynamoDB store
// whose writes are not conditional.
func TestConformanceFailsWhenUnsafe(t *testing.T) {
	c := client(t) // skip or fail like the others when there is no emulator
	storetest.RunUnsafe(t, func(t *testing.T, u *store.Unsafe) store.Store {
		return newStore(t, c, newTable(t, c), dynamo.Config{Unsafe: u})
	})
}
