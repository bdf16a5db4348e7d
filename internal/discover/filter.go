package discover

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cybsecops/configreport/internal/ident"
)

// RootPath is the OU path of the organisation's root: the path of every
// account directly under it, and the first segment of every other path.
const RootPath = "Root"

// Filter chooses which ACTIVE accounts a run scans.
//
// An account is kept when no include is given, or when it matches at least
// one include (its id is in IncludeAccounts, or its OU path is under one of
// IncludeOUs): includes add up, so "-include-ous Root/Prod -include-accounts
// 111111111111" scans Prod plus that one account. Exclusion wins over
// inclusion. OU prefixes match whole path segments: "Root/Prod" matches
// "Root/Prod" and "Root/Prod/Payments", never "Root/Production".
type Filter struct {
	IncludeAccounts []ident.AccountID
	ExcludeAccounts []ident.AccountID
	IncludeOUs      []string
	ExcludeOUs      []string
}

// ParseFilter builds a Filter from the four comma-separated flag values
// (-include-accounts, -exclude-accounts, -include-ous, -exclude-ous),
// reporting every bad value at once.
func ParseFilter(includeAccounts, excludeAccounts, includeOUs, excludeOUs string) (Filter, error) {
	var errs []error
	inc, err := ident.ParseAccountIDs(includeAccounts)
	if err != nil {
		errs = append(errs, fmt.Errorf("include accounts: %w", err))
	}
	exc, err := ident.ParseAccountIDs(excludeAccounts)
	if err != nil {
		errs = append(errs, fmt.Errorf("exclude accounts: %w", err))
	}
	f := Filter{
		IncludeAccounts: inc,
		ExcludeAccounts: exc,
		IncludeOUs:      normalizeOUs(ident.SplitList(includeOUs)),
		ExcludeOUs:      normalizeOUs(ident.SplitList(excludeOUs)),
	}
	if err := f.Validate(); err != nil {
		errs = append(errs, err)
	}
	return f, errors.Join(errs...)
}

// normalizeOUs drops a trailing slash, so "Root/Prod/" means "Root/Prod".
func normalizeOUs(ps []string) []string {
	for i, p := range ps {
		if len(p) > 1 {
			ps[i] = strings.TrimSuffix(p, "/")
		}
	}
	return ps
}

// Validate reports every bad account id and OU path of the filter.
func (f Filter) Validate() error {
	var errs []error
	for _, l := range []struct {
		name string
		ids  []ident.AccountID
	}{{"include accounts", f.IncludeAccounts}, {"exclude accounts", f.ExcludeAccounts}} {
		for _, id := range l.ids {
			if _, err := ident.ParseAccountID(string(id)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			}
		}
	}
	for _, l := range []struct {
		name  string
		paths []string
	}{{"include OUs", f.IncludeOUs}, {"exclude OUs", f.ExcludeOUs}} {
		for _, p := range l.paths {
			if err := checkOUPath(p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkOUPath accepts "Root" and "Root/<name>[/<name>...]" with no empty
// segment.
func checkOUPath(p string) error {
	if p != RootPath && !strings.HasPrefix(p, RootPath+"/") {
		return fmt.Errorf("OU path %q: must be %q or start with %q", p, RootPath, RootPath+"/")
	}
	if slices.Contains(strings.Split(p, "/"), "") {
		return fmt.Errorf("OU path %q: empty segment", p)
	}
	return nil
}

// IsZero tells whether the filter keeps every account.
func (f Filter) IsZero() bool {
	return len(f.IncludeAccounts) == 0 && len(f.ExcludeAccounts) == 0 && len(f.IncludeOUs) == 0 && len(f.ExcludeOUs) == 0
}

// Match tells whether the filter keeps the account with id under ouPath.
func (f Filter) Match(id ident.AccountID, ouPath string) bool {
	if slices.Contains(f.ExcludeAccounts, id) || underAny(ouPath, f.ExcludeOUs) {
		return false
	}
	if len(f.IncludeAccounts) == 0 && len(f.IncludeOUs) == 0 {
		return true
	}
	return slices.Contains(f.IncludeAccounts, id) || underAny(ouPath, f.IncludeOUs)
}

// descend tells whether any account below the OU at path could be kept, so
// that the walk does not list subtrees the filter drops whole: each OU
// skipped saves at least two Organizations calls, and the API allows few
// per second.
func (f Filter) descend(path string) bool {
	if underAny(path, f.ExcludeOUs) {
		return false
	}
	if len(f.IncludeAccounts) > 0 || len(f.IncludeOUs) == 0 {
		return true
	}
	for _, inc := range f.IncludeOUs {
		// Either path is inside an included subtree, or an included
		// subtree lies below path.
		if under(path, inc) || under(inc, path) {
			return true
		}
	}
	return false
}

// under tells whether path is prefix or inside it, segment-wise.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix) && path[len(prefix)] == '/'
}

func underAny(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if under(path, p) {
			return true
		}
	}
	return false
}
