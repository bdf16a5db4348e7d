//go:build !chaos

package chaos

// Enabled reports whether this binary was built with the chaos tag.
const Enabled = false

// Point does nothing outside chaos builds.
func Point(string) {}

// Hold does nothing outside chaos builds.
func Hold(string) {}
