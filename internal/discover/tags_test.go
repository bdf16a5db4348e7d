package discover_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// tagTruth is awssim's ground truth for an account: its tags among keys,
// nil when it has none of them.
func tagTruth(org *awssim.Org, id ident.AccountID, keys []string) map[string]string {
	var out map[string]string
	for _, t := range org.Tags(string(id)) {
		for _, k := range keys {
			if t.Key == k {
				if out == nil {
					out = map[string]string{}
				}
				out[k] = t.Value
			}
		}
	}
	return out
}

// TestWalkReadsTags: with TagKeys, every kept account's tags are read once
// (every page) and only the keys named are kept; without, no tag is read.
// The accounts the filter drops are not asked.
func TestWalkReadsTags(t *testing.T) {
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 60, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	// One account with more tags than a page (20), the wanted key last.
	var paged ident.AccountID
	for i := range org.Accounts {
		a := &org.Accounts[i]
		if a.Status == awssim.StatusActive && a.ID != org.ManagementAccountID && a.Tags["Owner"] != "" {
			for j := range 30 {
				a.Tags[fmt.Sprintf("a-filler-%02d", j)] = "x"
			}
			a.Tags["zz-Team"] = "platform"
			paged = ident.AccountID(a.ID)
			break
		}
	}
	env := discovertest.Serve(t, awssim.Config{Org: org})
	keys := []string{"Owner", "owner", "Team", "zz-Team"}
	exclude := ident.AccountID(env.Active()[1].ID)
	if exclude == paged {
		exclude = ident.AccountID(env.Active()[2].ID)
	}
	tests := []struct {
		name   string
		keys   []string
		filter discover.Filter
	}{
		{"no owner tags: none read", nil, discover.Filter{}},
		{"owner tags", keys, discover.Filter{}},
		{"owner tags, one account filtered out", keys, discover.Filter{ExcludeAccounts: []ident.AccountID{exclude}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.Sim.ResetStats()
			w := newWalker(t, env.Orgs(), discover.Config{TagKeys: tt.keys, Filter: tt.filter, Concurrency: 4})
			got, st, err := w.List(discovertest.Ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			calls := env.Sim.Stats().Calls["ListTagsForResource"]
			none, lower, withTags := 0, 0, 0
			for _, a := range got {
				wantTags := tagTruth(env.Sim.Org(), a.AccountID, tt.keys)
				if !maps.Equal(a.Tags, wantTags) {
					t.Errorf("%s: tags %v, want %v", a.AccountID, a.Tags, wantTags)
				}
				// Calls count against the signer (the management account)
				// in awssim's stats; count the reads by the answers instead.
				switch {
				case a.Tags == nil:
					none++
				case a.Tags["owner"] != "":
					lower++
				default:
					withTags++
				}
				if a.AccountID == exclude && !tt.filter.IsZero() {
					t.Errorf("%s filtered out but listed", a.AccountID)
				}
			}
			var n int64
			for _, c := range calls {
				n += c
			}
			if tt.keys == nil {
				if n != 0 || st.Tagged != 0 {
					t.Errorf("%d ListTagsForResource calls, %d tagged, without owner tags", n, st.Tagged)
				}
				return
			}
			// One listing per kept account; the paged one takes three
			// pages (awssim, like AWS, answers an empty page with a token
			// in between).
			want := int64(len(got))
			for _, a := range got {
				if a.AccountID == paged {
					want += 2
				}
			}
			if n != want || st.Tagged != len(got) {
				t.Errorf("%d ListTagsForResource calls, %d tagged, for %d accounts; want %d calls", n, st.Tagged, len(got), want)
			}
			if none == 0 || lower == 0 || withTags == 0 {
				t.Errorf("%d accounts without tags, %d with a lower-case owner, %d with Owner: the org does not exercise them all", none, lower, withTags)
			}
			for _, a := range got {
				if a.AccountID == paged && a.Tags["zz-Team"] != "platform" {
					t.Errorf("%s: tags %v: the second page was not read", a.AccountID, a.Tags)
				}
			}
		})
	}
}

// TestWalkStopsOnTagError: a tag read refused for good stops the walk,
// as a listing does: a run never starts with owners silently missing.
func TestWalkStopsOnTagError(t *testing.T) {
	env := discovertest.New(t, 40)
	api := &tagFaulty{API: env.Orgs(), fail: ident.AccountID(env.Active()[3].ID)}
	w := newWalker(t, api, discover.Config{TagKeys: []string{"Owner"}})
	_, _, err := w.List(discovertest.Ctx(t))
	if err == nil || !strings.Contains(err.Error(), "list tags of account "+string(api.fail)) {
		t.Fatalf("error %v, want the refused tag read named", err)
	}
}

// TestLookupReadsTags: an ad-hoc account's tags come with its lookup.
func TestLookupReadsTags(t *testing.T) {
	env := discovertest.New(t, 30)
	keys := []string{"Owner", "owner", "Team"}
	var ids []ident.AccountID
	for _, a := range env.Active()[:8] {
		ids = append(ids, ident.AccountID(a.ID))
	}
	for _, k := range [][]string{nil, keys} {
		w := newWalker(t, env.Orgs(), discover.Config{TagKeys: k})
		got, err := w.Lookup(discovertest.Ctx(t), ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			if want := tagTruth(env.Sim.Org(), a.AccountID, k); !maps.Equal(a.Tags, want) {
				t.Errorf("keys %v: %s: tags %v, want %v", k, a.AccountID, a.Tags, want)
			}
		}
	}
}

// tagFaulty refuses ListTagsForResource for one account.
type tagFaulty struct {
	discover.API
	fail ident.AccountID
}

func (f *tagFaulty) ListTagsForResource(ctx context.Context, in *organizations.ListTagsForResourceInput, optFns ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error) {
	if aws.ToString(in.ResourceId) == string(f.fail) {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}
	}
	return f.API.ListTagsForResource(ctx, in, optFns...)
}
