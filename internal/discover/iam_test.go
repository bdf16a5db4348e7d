package discover_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/iampolicy"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// TestActionsDeclared records what a walk and an ad-hoc lookup send and
// checks it against internal/iampolicy: the Organizations reads belong to
// the org-list role, AssumeRole to the hub; nothing else is sent.
func TestActionsDeclared(t *testing.T) {
	env := discovertest.New(t, 60)
	rec := iampolicy.NewRecorder()
	hub := env.Hub.Copy()
	hub.APIOptions = append(hub.APIOptions, rec.AddTo)
	arn := "arn:aws:iam::" + env.Sim.Org().ManagementAccountID + ":role/" + awssim.RoleListOrg
	c, err := discover.NewClient(hub, arn, &assumer{url: env.URL}, func(o *organizations.Options) { o.BaseEndpoint = aws.String(env.URL) })
	if err != nil {
		t.Fatal(err)
	}
	w := newWalker(t, c, discover.Config{})
	accts, _, err := w.List(discovertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(accts, func(a events.Account) bool { return a.OUPath != discover.RootPath })
	if i < 0 {
		t.Fatal("no account in an OU")
	}
	if _, err := w.Lookup(discovertest.Ctx(t), []ident.AccountID{accts[i].AccountID}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Verify(false); err != nil {
		t.Fatal(err)
	}
	sent, err := rec.Actions()
	if err != nil {
		t.Fatal(err)
	}
	wantSent := []string{
		"organizations:DescribeAccount", "organizations:DescribeOrganizationalUnit", "organizations:ListAccountsForParent",
		"organizations:ListOrganizationalUnitsForParent", "organizations:ListParents", "organizations:ListRoots", "sts:AssumeRole",
	}
	if !slices.Equal(slices.Compact(sent), wantSent) {
		t.Errorf("sent %v, want %v", sent, wantSent)
	}
	for _, a := range sent {
		p, _ := iampolicy.Lookup(a)
		want := iampolicy.OrgList
		if a == "sts:AssumeRole" {
			want = iampolicy.Hub
		}
		if p.Role != want {
			t.Errorf("%s is declared for %s, the code sends it as %s", a, p.Role, want)
		}
		if !slices.Contains(p.Callers, iampolicy.Trigger) {
			// The table's callers column is documentation; DescribeAccount,
			// ListParents and DescribeOrganizationalUnit name only the
			// scanner so far, though -account sends them from the trigger.
			t.Logf("note: iampolicy lists %s for %v, not the trigger", a, p.Callers)
		}
	}
}
