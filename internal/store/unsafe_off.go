//go:build !chaos

package store

// Unsafe is the switch that turns first-write-wins off in a test proving
// the suites notice (unsafe.go, built with the chaos tag only). Without
// the tag it cannot be switched on, so the shipped binaries neither link
// the package testing nor can be told to overwrite.
type Unsafe struct{}

// Overwrite reports false: first-write-wins always holds without the tag.
func (*Unsafe) Overwrite() bool { return false }
