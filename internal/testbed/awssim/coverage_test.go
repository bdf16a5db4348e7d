package awssim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// The tests of issue 16: opt-in regions an account has not enabled (EC2
// DescribeRegions), configuration recorders that are stopped or missing,
// and account tags (Organizations ListTagsForResource), read with the SDK
// as the scanner and the trigger will read them, and the picks of
// -disabled-regions and -not-recording.

// coverageEnv is a 40-account org with every coverage knob on.
func coverageEnv(t *testing.T) *env {
	return newEnv(t, 40, Config{Deny: 2, FailRegions: 2, DisabledRegions: 3, NotRecording: 5})
}

func TestDescribeRegions(t *testing.T) {
	e := coverageEnv(t)
	ctx := context.Background()
	org := e.sim.Org()
	disabled := org.DisabledRegions()
	if len(disabled) != 3 {
		t.Fatalf("disabled %v, want 3 pairs", disabled)
	}
	// Every account a knob touched, and one it did not.
	ids := []string{activeMember(t, org).ID}
	for _, l := range [][]AccountRegion{disabled, org.FailingRegions(), org.NoRecorderRegions(), org.StoppedRecorderRegions()} {
		for _, p := range l {
			if !slices.Contains(ids, p.AccountID) {
				ids = append(ids, p.AccountID)
			}
		}
	}
	e.sim.ResetStats()
	for _, id := range ids {
		client := e.ec2(e.withCreds(e.assume(id, RoleRead)), "us-east-1")
		all, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
		if err != nil {
			t.Fatalf("%s: DescribeRegions AllRegions: %v", id, err)
		}
		got := map[string]string{}
		for _, r := range all.Regions {
			got[aws.ToString(r.RegionName)] = aws.ToString(r.OptInStatus)
			if want := "ec2." + aws.ToString(r.RegionName) + ".amazonaws.com"; aws.ToString(r.Endpoint) != want {
				t.Errorf("%s: endpoint %q, want %q", id, aws.ToString(r.Endpoint), want)
			}
		}
		if len(got) < len(standardRegions)+len(optInRegions) {
			t.Errorf("%s: %d regions with AllRegions, want every region AWS lists", id, len(got))
		}
		for r, st := range got {
			if want := org.OptInStatus(id, r); st != want {
				t.Errorf("%s %s: %s, truth %s", id, r, st, want)
			}
		}
		a, _ := org.Account(id)
		for _, r := range a.Regions {
			want := OptInNotRequired
			switch {
			case slices.Contains(a.DisabledRegions, r):
				want = NotOptedIn
			case IsOptInRegion(r):
				want = OptedIn
			}
			if got[r] != want {
				t.Errorf("%s configured region %s: %q, want %q", id, r, got[r], want)
			}
		}
		// Without AllRegions, only the enabled ones.
		enabled, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, st := range got {
			if st != NotOptedIn {
				n++
			}
		}
		if len(enabled.Regions) != n {
			t.Errorf("%s: %d enabled regions, want %d", id, len(enabled.Regions), n)
		}
		for _, r := range enabled.Regions {
			if aws.ToString(r.OptInStatus) == NotOptedIn {
				t.Errorf("%s: disabled %s listed without AllRegions", id, aws.ToString(r.RegionName))
			}
		}
	}
	// Each call counted against the account it was signed for (at least
	// twice: the SDK retries a connection closed under it, aws-sdk-go-v2#2737).
	st := e.sim.Stats()
	for acct, n := range st.Calls["DescribeRegions"] {
		if !slices.Contains(ids, acct) || n < 2 {
			t.Errorf("stats: %d DescribeRegions of %s", n, acct)
		}
	}
	if len(st.Calls["DescribeRegions"]) != len(ids) {
		t.Errorf("stats: DescribeRegions of %d accounts, want %d", len(st.Calls["DescribeRegions"]), len(ids))
	}

	// Named regions, whether enabled or not; filters.
	p := disabled[0]
	client := e.ec2(e.withCreds(e.assume(p.AccountID, RoleRead)), "us-east-1")
	named, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{p.Region, "us-east-1"}})
	if err != nil || len(named.Regions) != 2 || aws.ToString(named.Regions[0].RegionName) != p.Region || aws.ToString(named.Regions[0].OptInStatus) != NotOptedIn {
		t.Errorf("RegionNames: %v %+v", err, named)
	}
	filtered, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true),
		Filters: []ec2types.Filter{{Name: aws.String("opt-in-status"), Values: []string{NotOptedIn}}, {Name: aws.String("region-name"), Values: []string{p.Region}}}})
	if err != nil || len(filtered.Regions) != 1 {
		t.Errorf("filters: %v %+v", err, filtered)
	}

	// Refusals, typed as EC2 types them.
	for _, tc := range []struct {
		name   string
		client *ec2.Client
		in     *ec2.DescribeRegionsInput
		code   string
	}{
		{"hub", e.ec2(e.hub, "us-east-1"), &ec2.DescribeRegionsInput{}, "UnauthorizedOperation"},
		{"list-org role", e.ec2(e.withCreds(e.assume(org.ManagementAccountID, RoleListOrg)), "us-east-1"), &ec2.DescribeRegionsInput{}, "UnauthorizedOperation"},
		{"signed for the disabled region", e.ec2(e.withCreds(e.assume(p.AccountID, RoleRead)), p.Region), &ec2.DescribeRegionsInput{}, "AuthFailure"},
		{"unknown region", client, &ec2.DescribeRegionsInput{RegionNames: []string{"mars-east-1"}}, "InvalidParameterValue"},
		{"bad filter", client, &ec2.DescribeRegionsInput{Filters: []ec2types.Filter{{Name: aws.String("zone-id"), Values: []string{"x"}}}}, "InvalidParameterValue"},
		{"dry run", client, &ec2.DescribeRegionsInput{DryRun: aws.Bool(true)}, "DryRunOperation"},
	} {
		tc.client = ec2.New(tc.client.Options(), func(o *ec2.Options) { o.Retryer = noRetries() })
		if _, err := tc.client.DescribeRegions(ctx, tc.in); apiCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
}

func TestRecorderAndDisabledRegions(t *testing.T) {
	e := coverageEnv(t)
	ctx := context.Background()
	org := e.sim.Org()
	none, stopped := org.NoRecorderRegions(), org.StoppedRecorderRegions()
	if len(none) != 3 || len(stopped) != 2 {
		t.Fatalf("-not-recording 5: %d without recorder, %d stopped, want 3 and 2", len(none), len(stopped))
	}
	pairs := slices.Concat(none, stopped, org.DisabledRegions())
	a := activeMember(t, org)
	for _, r := range a.Regions {
		pairs = append(pairs, AccountRegion{a.ID, r})
	}
	for _, p := range pairs {
		client := configservice.New(e.config(e.withCreds(e.assume(p.AccountID, RoleRead)), p.Region).Options(),
			func(o *configservice.Options) { o.Retryer = noRetries() })
		rec, err := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
		rules, rerr := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
		if org.RegionDisabled(p.AccountID, p.Region) {
			if apiCode(err) != "UnrecognizedClientException" || apiCode(rerr) != "UnrecognizedClientException" {
				t.Errorf("%v disabled: recorder %v, rules %v", p, err, rerr)
			}
			continue
		}
		if err != nil || rerr != nil {
			t.Fatalf("%v: %v, %v", p, err, rerr)
		}
		// Not recording or not, the rules are answered.
		if want := len(org.Rules(p.AccountID, p.Region)); len(rules.ConfigRules) != min(want, configPageSize) || want == 0 {
			t.Errorf("%v: %d rules, truth %d", p, len(rules.ConfigRules), want)
		}
		_, named := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{ConfigurationRecorderNames: []string{"default"}})
		switch org.Recorder(p.AccountID, p.Region) {
		case RecorderNone:
			var nsr *cfgtypes.NoSuchConfigurationRecorderException
			if len(rec.ConfigurationRecordersStatus) != 0 || !errors.As(named, &nsr) {
				t.Errorf("%v no recorder: %+v, named: %v", p, rec.ConfigurationRecordersStatus, named)
			}
		case RecorderStopped:
			if len(rec.ConfigurationRecordersStatus) != 1 || named != nil {
				t.Fatalf("%v stopped: %+v, %v", p, rec.ConfigurationRecordersStatus, named)
			}
			s := rec.ConfigurationRecordersStatus[0]
			if s.Recording || s.LastStatus != cfgtypes.RecorderStatusSuccess || s.LastStopTime == nil || !s.LastStatusChangeTime.Before(*s.LastStopTime) {
				t.Errorf("%v stopped: %+v", p, s)
			}
		default:
			if len(rec.ConfigurationRecordersStatus) != 1 || !rec.ConfigurationRecordersStatus[0].Recording || rec.ConfigurationRecordersStatus[0].LastStopTime != nil || named != nil {
				t.Errorf("%v recording: %+v, %v", p, rec.ConfigurationRecordersStatus, named)
			}
		}
	}
}

func TestListTagsForResource(t *testing.T) {
	gen, err := Generate(GenConfig{Accounts: 60, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	// Add an account with more tags than one page holds.
	f := gen.File()
	many := map[string]string{}
	for i := range maxTags {
		many[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
	}
	f.Accounts[len(f.Accounts)-1].Tags = many
	b, _ := json.Marshal(f)
	org, err := ParseOrg(b)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 0, Config{Org: org})
	ctx := context.Background()
	for _, who := range []struct {
		name   string
		client *organizations.Client
	}{
		{"hub", e.orgs(e.hub)},
		{"list-org role", e.orgs(e.withCreds(e.assume(org.ManagementAccountID, RoleListOrg)))},
	} {
		e.sim.ResetStats()
		emptyPages := 0
		for _, a := range org.Accounts {
			pages := organizations.NewListTagsForResourcePaginator(who.client, &organizations.ListTagsForResourceInput{ResourceId: aws.String(a.ID)})
			var got []Tag
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					t.Fatalf("%s: %s: %v", who.name, a.ID, err)
				}
				if len(page.Tags) > orgsMaxResults {
					t.Errorf("%s: page of %d tags", a.ID, len(page.Tags))
				}
				if len(page.Tags) == 0 && page.NextToken != nil {
					emptyPages++
				}
				for _, tg := range page.Tags {
					got = append(got, Tag{aws.ToString(tg.Key), aws.ToString(tg.Value)})
				}
			}
			if !reflect.DeepEqual(got, org.Tags(a.ID)) {
				t.Errorf("%s: %s: tags %v, truth %v", who.name, a.ID, got, org.Tags(a.ID))
			}
		}
		if emptyPages != 1 {
			t.Errorf("%s: %d empty pages with a token, want the one of the 50-tag account", who.name, emptyPages)
		}
		st := e.sim.Stats()
		if n := st.OpCalls("ListTagsForResource"); n < int64(len(org.Accounts)) {
			t.Errorf("stats: %d ListTagsForResource calls for %d accounts", n, len(org.Accounts))
		}
		var tnf *orgtypes.TargetNotFoundException
		if _, err := who.client.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String("999999999999")}); !errors.As(err, &tnf) {
			t.Errorf("%s: unknown account: %v", who.name, err)
		}
		var iie *orgtypes.InvalidInputException
		if _, err := who.client.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String("nope")}); !errors.As(err, &iie) || iie.Reason != orgtypes.InvalidInputExceptionReasonInvalidPatternTargetId {
			t.Errorf("%s: bad id: %v", who.name, err)
		}
	}
	// The read role may not list tags.
	_, err = e.orgs(e.withCreds(e.assume(org.ManagementAccountID, RoleRead))).ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: aws.String(org.ManagementAccountID)})
	if apiCode(err) != "AccessDeniedException" {
		t.Errorf("read role: %v", err)
	}
}

// TestGeneratedTags: about one account in ten has no tags, a few spell the
// key owner, the others carry Owner (an e-mail address) and Team; the same
// seed gives the same tags.
func TestGeneratedTags(t *testing.T) {
	o, err := Generate(GenConfig{Accounts: 2000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Generate(GenConfig{Accounts: 2000, Seed: 5})
	none, lower, upper := 0, 0, 0
	for i, a := range o.Accounts {
		if !maps.Equal(a.Tags, again.Accounts[i].Tags) {
			t.Fatalf("%s: same seed, tags %v then %v", a.ID, a.Tags, again.Accounts[i].Tags)
		}
		owner, hasUpper := a.Tags["Owner"]
		lowerOwner, hasLower := a.Tags["owner"]
		switch {
		case len(a.Tags) == 0:
			none++
			continue
		case hasUpper && hasLower:
			t.Errorf("%s: both Owner and owner", a.ID)
		case hasUpper:
			upper++
		case hasLower:
			lower++
			owner = lowerOwner
		}
		if !strings.HasSuffix(owner, "@example.com") || a.Tags["Team"] == "" || len(a.Tags) != 2 {
			t.Errorf("%s: tags %v", a.ID, a.Tags)
		}
	}
	n := float64(len(o.Accounts))
	if f := float64(none) / n; f < 0.07 || f > 0.13 {
		t.Errorf("%.3f of accounts without tags, want about 0.1", f)
	}
	if f := float64(lower) / n; f < 0.02 || f > 0.06 {
		t.Errorf("%.3f of accounts with owner in lower case, want a few (about 0.04)", f)
	}
	if upper == 0 {
		t.Error("no Owner tag")
	}
}

// TestCoveragePicks: the picks of -disabled-regions and -not-recording are
// deterministic, disjoint from each other and from -deny and -fail-regions
// (by account), among ACTIVE members and their regions, a prefix of one
// order as N grows, and leave the -deny and -fail-regions picks as they
// were.
func TestCoveragePicks(t *testing.T) {
	gen, err := Generate(GenConfig{Accounts: 120, Seed: 21, Regions: []string{"us-east-1", "ap-east-1", "eu-south-1"}})
	if err != nil {
		t.Fatal(err)
	}
	org := func(cfg Config) *Org {
		t.Helper()
		cfg.Org, cfg.Logger = gen, quietLogger()
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s.Org()
	}
	base := org(Config{Deny: 3, FailRegions: 4})
	var prevDisabled, prevNone, prevStopped []AccountRegion
	for _, n := range []int{0, 1, 2, 5, 9} {
		o := org(Config{Deny: 3, FailRegions: 4, DisabledRegions: n, NotRecording: n})
		if !reflect.DeepEqual(o.DeniedAccounts(), base.DeniedAccounts()) || !reflect.DeepEqual(o.FailingRegions(), base.FailingRegions()) {
			t.Errorf("N=%d moved the -deny or -fail-regions picks", n)
		}
		if again := org(Config{Deny: 3, FailRegions: 4, DisabledRegions: n, NotRecording: n}); !reflect.DeepEqual(again.Accounts, o.Accounts) {
			t.Errorf("N=%d: same seed, different picks", n)
		}
		disabled, none, stopped := o.DisabledRegions(), o.NoRecorderRegions(), o.StoppedRecorderRegions()
		if len(disabled) != n || len(none) != (n+1)/2 || len(stopped) != n/2 {
			t.Errorf("N=%d: %d disabled, %d without recorder, %d stopped", n, len(disabled), len(none), len(stopped))
		}
		for _, prev := range []struct{ was, now []AccountRegion }{{prevDisabled, disabled}, {prevNone, none}, {prevStopped, stopped}} {
			for _, p := range prev.was {
				if !slices.Contains(prev.now, p) {
					t.Errorf("N=%d dropped the pick %v of a smaller N (or changed its kind)", n, p)
				}
			}
		}
		prevDisabled, prevNone, prevStopped = disabled, none, stopped
		owner := map[string]string{}
		claim := func(id, knob string) {
			if k, ok := owner[id]; ok && k != knob {
				t.Errorf("N=%d: account %s picked by %s and %s", n, id, k, knob)
			}
			owner[id] = knob
		}
		for _, id := range o.DeniedAccounts() {
			claim(id, "deny")
		}
		for knob, l := range map[string][]AccountRegion{"fail": o.FailingRegions(), "disabled": disabled, "recorder": slices.Concat(none, stopped)} {
			for _, p := range l {
				claim(p.AccountID, knob)
				a, _ := o.Account(p.AccountID)
				if a.Status != StatusActive || a.ID == o.ManagementAccountID || !slices.Contains(a.Regions, p.Region) {
					t.Errorf("N=%d: %s picked %v (%s)", n, knob, p, a.Status)
				}
				if knob == "disabled" && !IsOptInRegion(p.Region) {
					t.Errorf("N=%d: disabled a region AWS does not let accounts disable: %v", n, p)
				}
			}
		}
	}
	if gen.DisabledRegions() != nil || gen.NoRecorderRegions() != nil {
		t.Error("New modified the caller's org")
	}

	// Refusals.
	for _, tc := range []struct {
		name string
		gen  GenConfig
		cfg  Config
		want string
	}{
		{"no opt-in region", GenConfig{Accounts: 10, Seed: 1, Regions: []string{"us-east-1", "eu-west-1"}}, Config{DisabledRegions: 1}, "no opt-in region"},
		{"too many disabled", GenConfig{Accounts: 10, Seed: 1}, Config{DisabledRegions: 40}, "disabled regions 40: only"},
		{"too many not recording", GenConfig{Accounts: 10, Seed: 1}, Config{NotRecording: 40}, "not recording 40: only"},
		{"negative", GenConfig{Accounts: 10, Seed: 1}, Config{DisabledRegions: -1, NotRecording: -2}, "disabled regions -1: negative"},
	} {
		o, err := Generate(tc.gen)
		if err != nil {
			t.Fatal(err)
		}
		tc.cfg.Org, tc.cfg.Logger = o, quietLogger()
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// The picks survive File and ParseOrg: a test can write a generated org
// with its faults and serve it from the file.
func TestCoverageFileRoundTrip(t *testing.T) {
	e := coverageEnv(t)
	o := e.sim.Org()
	b, err := json.Marshal(o.File())
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseOrg(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []func(*Org) []AccountRegion{(*Org).DisabledRegions, (*Org).NoRecorderRegions, (*Org).StoppedRecorderRegions, (*Org).FailingRegions} {
		if got, want := l(back), l(o); !reflect.DeepEqual(got, want) || len(want) == 0 {
			t.Errorf("back from the file: %v, want %v", got, want)
		}
	}
	tagged := 0
	for _, a := range o.Accounts {
		if !reflect.DeepEqual(back.Tags(a.ID), o.Tags(a.ID)) {
			t.Errorf("%s: tags %v back, want %v", a.ID, back.Tags(a.ID), o.Tags(a.ID))
		}
		if len(a.Tags) > 0 {
			tagged++
		}
	}
	if tagged == 0 {
		t.Error("no tagged account compared")
	}
}

func TestOrgFileCoverageFields(t *testing.T) {
	const tmpl = `{"management_account_id":"111111111111","ous":[],"accounts":[{"id":"222222222222","name":"a","ou_path":"Root","status":"ACTIVE",%s"regions":{%s}}]}`
	long := strings.Repeat("k", 129)
	var fifty1 []string
	for i := range maxTags + 1 {
		fifty1 = append(fifty1, fmt.Sprintf(`"k%d":"v"`, i))
	}
	cases := []struct {
		name, tags, regions, want string
	}{
		{"ok", `"tags":{"Owner":"a@example.com","owner":"b","Team":""},`, `"ap-east-1":{"enabled":false,"rules":[]},"us-east-1":{"recorder":"stopped","rules":[]},"eu-west-1":{"recorder":"none","rules":[]},"eu-south-1":{"enabled":true,"recorder":"recording","rules":[]}`, ""},
		{"disable a standard region", ``, `"us-east-1":{"enabled":false,"rules":[]}`, `region us-east-1: "enabled": false, but AWS enables us-east-1 in every account`},
		{"fail and disabled", ``, `"ap-east-1":{"enabled":false,"fail":true,"rules":[]}`, `region ap-east-1: "fail" with "enabled": false`},
		{"bad recorder", ``, `"us-east-1":{"recorder":"paused","rules":[]}`, `recorder "paused": want recording, stopped or none`},
		{"too many tags", `"tags":{` + strings.Join(fifty1, ",") + `},`, ``, `tags: 51, AWS allows at most 50`},
		{"long key", `"tags":{"` + long + `":"v"},`, ``, `want 1 to 128 characters`},
		{"empty key", `"tags":{"":"v"},`, ``, `tag key "": want 1 to 128 characters`},
		{"reserved key", `"tags":{"aws:createdBy":"v"},`, ``, `not starting aws:`},
		{"long value", `"tags":{"Owner":"` + strings.Repeat("é", 257) + `"},`, ``, `tag "Owner": value is 257 characters, AWS allows at most 256`},
		{"tags not strings", `"tags":{"Owner":1},`, ``, `invalid JSON`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOrg([]byte(fmt.Sprintf(tmpl, tc.tags, tc.regions)))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := o.Tags("222222222222"); len(got) != 3 || got[0] != (Tag{"Owner", "a@example.com"}) {
					t.Errorf("tags %v", got)
				}
				for r, want := range map[string]string{"ap-east-1": RecorderRecording, "us-east-1": RecorderStopped, "eu-west-1": RecorderNone, "eu-south-1": RecorderRecording} {
					if got := o.Recorder("222222222222", r); got != want {
						t.Errorf("%s: recorder %s, want %s", r, got, want)
					}
				}
				for r, want := range map[string]string{"ap-east-1": NotOptedIn, "eu-south-1": OptedIn, "us-east-1": OptInNotRequired, "me-south-1": NotOptedIn} {
					if got := o.OptInStatus("222222222222", r); got != want {
						t.Errorf("%s: %s, want %s", r, got, want)
					}
				}
				if !o.RegionDisabled("222222222222", "ap-east-1") || o.RegionFails("222222222222", "ap-east-1") {
					t.Error("a region not enabled is disabled, not failing")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// -error-rate fails DescribeRegions too, in EC2's spelling, and the SDK's
// retryer absorbs it as it does for the other services.
func TestDescribeRegionsErrorRate(t *testing.T) {
	e := newEnv(t, 3, Config{ErrorRate: 0.3})
	ctx := context.Background()
	a := activeMember(t, e.sim.Org())
	client := e.ec2(e.withCreds(e.assume(a.ID, RoleRead)), "us-east-1")
	// Enough attempts that 30 answers never miss by chance: at a fault
	// rate of 0.3, the helpers' 5 attempts all fail for one call in 412
	// (one run in 14 failed so); 20 attempts, one in 3e10.
	retrying := ec2.New(client.Options(), func(o *ec2.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 20
			so.RateLimiter = ratelimit.None
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	})
	for range 30 {
		if _, err := retrying.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)}); err != nil {
			t.Fatalf("DescribeRegions through the retryer: %v", err)
		}
	}
	if st := e.sim.Stats(); st.Errors == 0 || st.OpCalls("DescribeRegions") <= 30 {
		t.Errorf("error rate 0.3: %d errors, %d DescribeRegions calls for 30 answers", st.Errors, st.OpCalls("DescribeRegions"))
	}
	raw := ec2.New(client.Options(), func(o *ec2.Options) { o.Retryer = noRetries() })
	codes := map[string]bool{}
	for range 60 {
		if _, err := raw.DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); err != nil {
			codes[apiCode(err)] = true
		}
	}
	for c := range codes {
		if c != "InternalError" && c != "Unavailable" {
			t.Errorf("transient fault %q, want EC2's InternalError or Unavailable", c)
		}
	}
	if len(codes) == 0 {
		t.Error("no transient fault in 60 calls at rate 0.3")
	}
}
