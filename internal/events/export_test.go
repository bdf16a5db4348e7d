package events

import "strings"

// Used by this package's tests only.

// FormatOwnerTags is ParseOwnerTags's inverse (flags, logs).
func FormatOwnerTags(ts []OwnerTag) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strings.Join(t.Keys, "|")
	}
	return strings.Join(parts, ",")
}
