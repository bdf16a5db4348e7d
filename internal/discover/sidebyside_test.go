package discover_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
)

// blockingOrg is a two-level org (the root r-1 with account 111111111111
// and the OU ou-1 with account 222222222222) whose listing named by hold
// blocks until release is closed, recording which listings were asked.
type blockingOrg struct {
	discover.API        // the calls the walk does not make
	hold         string // "ous" or "accounts": the root's listing that blocks
	release      chan struct{}
	mu           sync.Mutex
	asked        map[string]bool // "ous r-1", "accounts ou-1", ...
}

func (o *blockingOrg) ask(what, parent string) {
	o.mu.Lock()
	o.asked[what+" "+parent] = true
	o.mu.Unlock()
	if parent == "r-1" && what == o.hold {
		<-o.release
	}
}

func (o *blockingOrg) wasAsked(what, parent string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.asked[what+" "+parent]
}

func (o *blockingOrg) ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	return &organizations.ListRootsOutput{Roots: []types.Root{{Id: aws.String("r-1")}}}, nil
}

func (o *blockingOrg) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	parent := aws.ToString(in.ParentId)
	o.ask("ous", parent)
	out := &organizations.ListOrganizationalUnitsForParentOutput{}
	if parent == "r-1" {
		out.OrganizationalUnits = []types.OrganizationalUnit{{Id: aws.String("ou-1"), Name: aws.String("Prod")}}
	}
	return out, nil
}

func (o *blockingOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	parent := aws.ToString(in.ParentId)
	o.ask("accounts", parent)
	id := map[string]string{"r-1": "111111111111", "ou-1": "222222222222"}[parent]
	return &organizations.ListAccountsForParentOutput{Accounts: []types.Account{
		{Id: aws.String(id), Name: aws.String("acct-" + id), State: types.AccountStateActive}}}, nil
}

// TestListingsSideBySide: a parent's OUs and its accounts are listed side
// by side, so that while one listing waits the other goes on: the root's
// accounts reach the caller while its OUs are still being listed (a run's
// first accounts come one call sooner), and a child OU's walk starts while
// the root's accounts are being listed.
func TestListingsSideBySide(t *testing.T) {
	cases := []struct {
		name string
		hold string // the root's listing that blocks
		// meanwhile: a listing asked while the held one blocks, and the
		// account the caller has by then
		meanwhile, parent, account string
	}{
		{name: "accounts while the OUs wait", hold: "ous", meanwhile: "accounts", parent: "r-1", account: "111111111111"},
		{name: "a child OU while the accounts wait", hold: "accounts", meanwhile: "accounts", parent: "ou-1", account: "222222222222"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				org := &blockingOrg{hold: c.hold, release: make(chan struct{}), asked: map[string]bool{}}
				w := newWalker(t, org, discover.Config{Concurrency: 4})
				var (
					mu  sync.Mutex
					got []string
				)
				done := make(chan error, 1)
				go func() {
					_, err := w.Accounts(t.Context(), func(a events.Account) error {
						mu.Lock()
						got = append(got, string(a.AccountID))
						mu.Unlock()
						return nil
					})
					done <- err
				}()
				synctest.Wait() // every goroutine blocked: the held listing, and what waits on it
				if !org.wasAsked(c.meanwhile, c.parent) {
					t.Errorf("%s of %s not asked while the root's %s listing waited", c.meanwhile, c.parent, c.hold)
				}
				mu.Lock()
				have := append([]string(nil), got...)
				mu.Unlock()
				if len(have) != 1 || have[0] != c.account {
					t.Errorf("accounts found while the root's %s listing waited: %v, want [%s]", c.hold, have, c.account)
				}
				close(org.release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 {
					t.Errorf("accounts %v, want both", got)
				}
			})
		})
	}
}
