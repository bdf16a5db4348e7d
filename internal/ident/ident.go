// Package ident holds the identifiers that cross the pipeline's boundaries
// (account ids, regions, run ids, role names and ARNs) as named types with a
// Parse function each, so that an unvalidated string never reaches an ARN, a
// store key or an S3 key. It is not a general AWS ARN library: it knows only
// the shapes this project builds or accepts.
package ident

import (
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// AccountID is a 12-digit AWS account id. It is text: leading zeros matter.
type AccountID string

// Region is an AWS region name such as us-east-1 or ap-east-1.
type Region string

// RunID names one report run: 1-64 characters of [A-Za-z0-9._-], a ULID when
// generated.
type RunID string

// RoleName is an IAM role name (without path).
type RoleName string

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	// Partition prefixes AWS uses today: commercial, GovCloud, China and the
	// ISO partitions (us-iso-east-1, us-isob-east-1, eu-isoe-west-1).
	// The direction word is at most 9 letters today ("southeast"); 16
	// leaves room for new ones while keeping a region id short.
	regionRe = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]{1,16}-[0-9]{1,2}$`)
	runIDRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// IAM: 1-64 characters of alphanumerics and +=,.@_-
	roleNameRe = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	// arn:<partition>:iam::<account>:role/<optional path/><name>
	roleARNRe = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::([0-9]{12}):role/((?:[A-Za-z0-9+=,.@_-]+/)*)([A-Za-z0-9+=,.@_-]{1,64})$`)
)

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("invalid identifier")

func invalid(kind, value, why string) error {
	return fmt.Errorf("%w: %s %q: %s", ErrInvalid, kind, clip(value), why)
}

// clip keeps error messages one readable line even for hostile input.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// ParseAccountID accepts exactly 12 ASCII digits.
func ParseAccountID(s string) (AccountID, error) {
	if !accountRe.MatchString(s) {
		return "", invalid("account id", s, "want 12 digits")
	}
	return AccountID(s), nil
}

// ParseRegion accepts a region name in AWS's format (e.g. eu-west-1,
// us-gov-west-1). It does not check that the region exists: new regions
// appear without a release of this code.
func ParseRegion(s string) (Region, error) {
	if !regionRe.MatchString(s) {
		return "", invalid("region", s, "want a region name such as us-east-1")
	}
	return Region(s), nil
}

// ParseRunID accepts 1-64 characters of [A-Za-z0-9._-], except names
// made only of dots: a run id becomes a key segment (claim-check objects
// live under <prefix>/<run id>/), and "." or ".." there would be cleaned
// away by path.Join and escape the prefix.
func ParseRunID(s string) (RunID, error) {
	if !runIDRe.MatchString(s) {
		return "", invalid("run id", s, "want 1-64 characters of A-Z a-z 0-9 . _ -")
	}
	if strings.Trim(s, ".") == "" {
		return "", invalid("run id", s, "must not be only dots")
	}
	return RunID(s), nil
}

// NewRunID returns a ULID for a run starting at t: sortable by start time.
func NewRunID(t time.Time) RunID {
	return RunID(ulid.MustNew(ulid.Timestamp(t), rand.Reader).String())
}

// ParseRoleName accepts an IAM role name.
func ParseRoleName(s string) (RoleName, error) {
	if !roleNameRe.MatchString(s) {
		return "", invalid("role name", s, "want 1-64 characters of A-Z a-z 0-9 + = , . @ _ -")
	}
	return RoleName(s), nil
}

// RoleARN is a parsed IAM role ARN.
type RoleARN struct {
	Partition string
	Account   AccountID
	Path      string // "/" or "/a/b/"
	Name      RoleName
}

// ParseRoleARN accepts arn:<partition>:iam::<12 digits>:role/[path/]name.
func ParseRoleARN(s string) (RoleARN, error) {
	m := roleARNRe.FindStringSubmatch(s)
	if m == nil {
		return RoleARN{}, invalid("role ARN", s, "want arn:aws:iam::<12-digit account>:role/<name>")
	}
	return RoleARN{Partition: m[1], Account: AccountID(m[2]), Path: "/" + m[3], Name: RoleName(m[4])}, nil
}

// String renders the ARN.
func (a RoleARN) String() string {
	return "arn:" + a.Partition + ":iam::" + string(a.Account) + ":role" + a.Path + string(a.Name)
}

// RoleIn returns the ARN of role name in account, in the commercial
// partition unless partition is given.
func RoleIn(partition string, account AccountID, name RoleName) RoleARN {
	if partition == "" {
		partition = "aws"
	}
	return RoleARN{Partition: partition, Account: account, Path: "/", Name: name}
}

// SplitList splits a comma-separated flag value, trimming blanks and
// dropping empty items ("a, b,," is [a b]).
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseAccountIDs parses a comma-separated list of account ids, reporting
// every bad one at once.
func ParseAccountIDs(s string) ([]AccountID, error) {
	var out []AccountID
	var errs []error
	for _, p := range SplitList(s) {
		a, err := ParseAccountID(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// ParseRegions parses a comma-separated list of regions, keeping the given
// order, refusing duplicates and reporting every bad one at once.
func ParseRegions(s string) ([]Region, error) {
	var out []Region
	var errs []error
	seen := map[Region]bool{}
	for _, p := range SplitList(s) {
		r, err := ParseRegion(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[r] {
			errs = append(errs, invalid("region", p, "listed twice"))
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}
