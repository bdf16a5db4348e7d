package iampolicy

import "slices"

// Used by this package's tests only.

// Roles lists every role in the order they are deployed.
func Roles() []Role { return []Role{Hub, Keda, OrgList, Read} }

// Table returns a copy of every declared permission.
func Table() []Permission {
	out := make([]Permission, len(table))
	for i, p := range table {
		p.Callers = slices.Clone(p.Callers)
		out[i] = p
	}
	return out
}
