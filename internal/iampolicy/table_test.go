package iampolicy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var actionRE = regexp.MustCompile(`^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$`)

func TestTableIsWellFormed(t *testing.T) {
	prefixes := map[string]bool{}
	for _, p := range iamPrefix {
		prefixes[p] = true
	}
	roles := map[Role]bool{}
	for _, r := range Roles() {
		roles[r] = true
	}
	for _, p := range Table() {
		if !actionRE.MatchString(p.Action) || strings.ContainsAny(p.Action, "*?") {
			t.Errorf("%s: not a single, exact IAM action", p.Action)
		}
		if !prefixes[strings.SplitN(p.Action, ":", 2)[0]] {
			t.Errorf("%s: prefix has no SDK service id in iamPrefix, so the Recorder could never map to it", p.Action)
		}
		if !roles[p.Role] {
			t.Errorf("%s: unknown role %q", p.Action, p.Role)
		}
		if len(strings.Fields(p.Reason)) < 3 {
			t.Errorf("%s: reason %q does not say why", p.Action, p.Reason)
		}
		if len(p.Callers) == 0 {
			t.Errorf("%s: no caller", p.Action)
		}
	}
	// A create-only action is never granted to a role the services run as;
	// KEDA's role may hold one (sqs:GetQueueAttributes).
	for a := range createOnly {
		if p, ok := Lookup(a); ok && p.Role != Keda {
			t.Errorf("%s is both granted to %s and create-only", a, p.Role)
		}
	}
	for c, a := range renamed {
		if _, ok := iamPrefix[c.ServiceID]; !ok || !actionRE.MatchString(a) {
			t.Errorf("renamed %v -> %q: unknown service or malformed action", c, a)
		}
	}
}

// Every action belongs to one role, so an action recorded without knowing the
// credentials it was signed with still names its role.
func TestActionsBelongToOneRole(t *testing.T) {
	owner := map[string]Role{}
	for _, p := range Table() {
		if r, ok := owner[p.Action]; ok {
			t.Errorf("%s declared for %s and %s", p.Action, r, p.Role)
		}
		owner[p.Action] = p.Role
	}
}

func TestRolesSeparateDuties(t *testing.T) {
	for _, tt := range []struct {
		role   Role
		prefix string
	}{{Hub, "sts:"}, {OrgList, "organizations:"}, {Read, "config:"}} {
		for _, r := range Roles() {
			for _, a := range Actions(r) {
				if strings.HasPrefix(a, tt.prefix) && r != tt.role {
					t.Errorf("%s granted to %s; only %s may call %s*", a, r, tt.role, tt.prefix)
				}
			}
		}
	}
}

func TestActionsAreSortedAndUnique(t *testing.T) {
	for _, r := range Roles() {
		a := Actions(r)
		if len(a) == 0 {
			t.Errorf("%s: no actions", r)
		}
		if !slices.IsSorted(a) || len(slices.Compact(slices.Clone(a))) != len(a) {
			t.Errorf("%s: %v not sorted and unique", r, a)
		}
	}
	if got := Actions("no-such-role"); len(got) != 0 {
		t.Errorf("unknown role: %v", got)
	}
}

func TestTableReturnsACopy(t *testing.T) {
	a := Table()
	a[0].Action = "changed:Changed"
	a[0].Callers[0] = "changed"
	b := Table()
	if b[0].Action == "changed:Changed" || b[0].Callers[0] == "changed" {
		t.Fatal("Table exposes the package's table")
	}
}

func TestUndeclared(t *testing.T) {
	tests := []struct {
		name   string
		sent   []string
		create bool
		want   []string
	}{
		{"declared", []string{"sqs:ReceiveMessage", "config:DescribeConfigRules"}, false, nil},
		{"no permission needed", []string{"sts:GetCallerIdentity", "sts:AssumeRoleWithWebIdentity"}, false, nil},
		{"create-only in production", []string{"sqs:CreateQueue", "sns:Subscribe", "sns:Publish"}, false, []string{"sns:Subscribe", "sqs:CreateQueue"}},
		{"create-only with -create-resources", []string{"sqs:CreateQueue", "sns:Subscribe"}, true, nil},
		{"KEDA's action is not the services'", []string{"sqs:GetQueueAttributes"}, false, []string{"sqs:GetQueueAttributes"}},
		{"KEDA's action as create-only", []string{"sqs:GetQueueAttributes"}, true, nil},
		{"never declared", []string{"s3:DeleteObject", "s3:DeleteObject", "config:PutConfigRule"}, true, []string{"config:PutConfigRule", "s3:DeleteObject"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Undeclared(tt.sent, tt.create); !slices.Equal(got, tt.want) {
				t.Errorf("Undeclared = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnexercised(t *testing.T) {
	var all []string
	for _, p := range Table() {
		if !p.Implied {
			all = append(all, p.Action)
		}
	}
	if got := Unexercised(all); len(got) != 0 {
		t.Errorf("everything sent: Unexercised = %v", got)
	}
	missing := Unexercised(slices.DeleteFunc(slices.Clone(all), func(a string) bool { return a == "sns:Publish" }))
	if !slices.Equal(missing, []string{"sns:Publish"}) {
		t.Errorf("without sns:Publish: Unexercised = %v", missing)
	}
	for _, a := range Unexercised(nil) {
		if p, _ := Lookup(a); p.Implied {
			t.Errorf("implied %s expected to be sent", a)
		}
	}
}
