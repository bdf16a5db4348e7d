package discover_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func TestLookup(t *testing.T) {
	env := discovertest.New(t, 300)
	org := env.Sim.Org()
	var deep, deep2, suspended awssim.Account
	for _, a := range org.Accounts {
		switch {
		case a.Status != awssim.StatusActive:
			suspended = a
		case strings.Count(a.OUPath, "/") == 4 && deep.ID == "":
			deep = a
		case strings.Count(a.OUPath, "/") == 4 && a.OUPath == deep.OUPath:
			deep2 = a
		}
	}
	if deep.ID == "" || deep2.ID == "" || suspended.ID == "" {
		t.Fatal("generated org lacks a deep OU with two accounts or a SUSPENDED account")
	}
	mgmt, _ := org.Account(org.ManagementAccountID)
	as := func(a awssim.Account) events.Account {
		return events.Account{AccountID: ident.AccountID(a.ID), Name: a.Name, OUPath: a.OUPath}
	}

	t.Run("found", func(t *testing.T) {
		// Filters do not apply to an ad-hoc lookup.
		f, _ := discover.ParseFilter("", org.ManagementAccountID, "", "")
		api := &counting{API: env.OrgsAsListRole()}
		w := newWalker(t, api, discover.Config{Filter: f})
		env.Sim.ResetStats()
		ids := []ident.AccountID{ident.AccountID(deep2.ID), ident.AccountID(mgmt.ID), ident.AccountID(deep.ID), ident.AccountID(deep.ID)}
		got, err := w.Lookup(discovertest.Ctx(t), ids)
		if err != nil {
			t.Fatal(err)
		}
		exp := []events.Account{as(deep), as(deep2), as(mgmt)}
		discover.SortAccounts(exp)
		diff(t, got, exp)
		st := env.Sim.Stats()
		for op := range st.Calls {
			switch op {
			case "DescribeAccount", "ListParents", "DescribeOrganizationalUnit", "AssumeRole":
			default:
				t.Errorf("lookup called %s", op)
			}
		}
		// Four levels of OU above deep, described once though two accounts share them.
		if n := api.describeOU.Load(); n != 4 {
			t.Errorf("%d DescribeOrganizationalUnit calls, want 4 (cached per OU)", n)
		}
	})

	t.Run("not scannable", func(t *testing.T) {
		w := newWalker(t, env.Orgs(), discover.Config{})
		_, err := w.Lookup(discovertest.Ctx(t), []ident.AccountID{ident.AccountID(suspended.ID), "999999999999", ident.AccountID(deep.ID), "12"})
		if !errors.Is(err, events.ErrNotScannable) {
			t.Fatalf("err = %v, want ErrNotScannable", err)
		}
		for _, want := range []string{suspended.ID + " is SUSPENDED", "999999999999 is not in the organization", `"12"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not say %q: %v", want, err)
			}
		}
		if strings.Contains(err.Error(), deep.ID) {
			t.Errorf("error names a good account: %v", err)
		}
	})
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// counting counts the calls the code makes (awssim counts attempts).
type counting struct {
	discover.API
	describeOU atomic.Int64
}

func (c *counting) DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	c.describeOU.Add(1)
	return c.API.DescribeOrganizationalUnit(ctx, in, optFns...)
}
