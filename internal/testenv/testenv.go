// Package testenv tells integration tests where the emulators started by
// scripts/with-emulators.sh listen. Under `make test` (REQUIRE_EMULATORS=1)
// a missing endpoint fails the test, so an integration test can never pass
// by silently skipping in CI; a plain `go test` on a laptop skips it.
package testenv

import (
	"os"
	"testing"
)

// Endpoint returns the value of the environment variable name (an
// emulator's URL), skipping or failing the test when it is unset.
func Endpoint(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv("REQUIRE_EMULATORS") == "1" {
		t.Fatalf("%s is not set but REQUIRE_EMULATORS=1: the emulator did not start (see scripts/with-emulators.sh)", name)
	}
	t.Skipf("%s not set: run under `make test` (scripts/with-emulators.sh) for this integration test", name)
	return ""
}
