//go:build chaos

package store

import (
	"sync/atomic"
	"testing"
)

// Unsafe breaks the store's guarantees on purpose, so that a test can prove
// the conformance suite (and the chaos suite) notice when they are broken: a
// suite that passes against a store without first-write-wins is worthless.
//
// It exists only in builds with the chaos tag (unsafe_off.go is the shipped
// one, without the package testing), is switched on only through a
// testing.TB, and Overwrite reports false unless the process is a test
// binary (testing.Testing), so even a chaos-built cmd/* is unaffected.
// Implementations take a *Unsafe in their Config and consult it on every
// conditional write; a nil *Unsafe is off.
type Unsafe struct {
	overwrite atomic.Bool
}

// AllowOverwrite turns first-write-wins off: RecordRun and RecordResult then
// replace what is stored and report created. For tests only; it is undone
// when tb ends.
func (u *Unsafe) AllowOverwrite(tb testing.TB) {
	tb.Helper()
	tb.Logf("store: first-write-wins DISABLED for this test (store.Unsafe)")
	u.overwrite.Store(true)
	tb.Cleanup(func() { u.overwrite.Store(false) })
}

// Overwrite reports whether first-write-wins is off; always false outside a
// test binary.
func (u *Unsafe) Overwrite() bool {
	return u != nil && testing.Testing() && u.overwrite.Load()
}
