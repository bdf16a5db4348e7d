package events

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// OwnerTag is one entry of -owner-tags: a report column holding the first
// of Keys the account has with a non-empty value, headed by Keys[0]
// (REPORT_FORMAT.md, "Owner columns").
type OwnerTag struct {
	Keys []string
}

// Header is the column's header: the entry's first alternative.
func (t OwnerTag) Header() string { return t.Keys[0] }

// Value is the account's value for the column: the first alternative it
// has with a non-empty value, or "" when it has none.
func (t OwnerTag) Value(tags map[string]string) string {
	for _, k := range t.Keys {
		if v := tags[k]; v != "" {
			return v
		}
	}
	return ""
}

// ParseOwnerTags reads -owner-tags: comma-separated entries, each listing
// alternatives separated by "|" ("Owner|owner,Team"). Empty gives none.
func ParseOwnerTags(s string) ([]OwnerTag, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []OwnerTag
	var errs []error
	headers := make(map[string]bool)
	for i, entry := range strings.Split(s, ",") {
		var t OwnerTag
		for _, k := range strings.Split(entry, "|") {
			k = strings.TrimSpace(k)
			if n := utf8.RuneCountInString(k); n == 0 || n > maxTagKey {
				errs = append(errs, fmt.Errorf("owner tags entry %d (%q): a tag key of %d characters, want 1 to %d", i+1, entry, n, maxTagKey))
				continue
			}
			t.Keys = append(t.Keys, k)
		}
		if len(t.Keys) == 0 {
			continue
		}
		if headers[t.Header()] {
			errs = append(errs, fmt.Errorf("owner tags entry %d: column %q named twice", i+1, t.Header()))
			continue
		}
		headers[t.Header()] = true
		out = append(out, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// OwnerTagKeys is every tag key the entries name, each once, in order:
// the tags the trigger keeps from ListTagsForResource.
func OwnerTagKeys(ts []OwnerTag) []string {
	var out []string
	seen := make(map[string]bool)
	for _, t := range ts {
		for _, k := range t.Keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}
