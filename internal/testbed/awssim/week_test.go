package awssim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// orgDigest hashes everything an org answers: accounts (all their fields),
// tags and every rule and result, asking for the rules in the given order
// of accounts so that a cache or an order dependence would show.
func orgDigest(t *testing.T, o *Org, reverse bool) string {
	t.Helper()
	h := sha256.New()
	fmt.Fprintf(h, "%s %s %s %d %v\n", o.ID, o.RootID, o.ManagementAccountID, o.Week, o.OUs)
	idx := make([]int, len(o.Accounts))
	for i := range idx {
		idx[i] = i
	}
	if reverse {
		slices.Reverse(idx)
	}
	lines := make([]strings.Builder, len(o.Accounts))
	for _, i := range idx {
		a := o.Accounts[i]
		h := &lines[i]
		fmt.Fprintf(h, "%d %s %s %s %s %s %v %v %v %v %v %v joined %d\n", i, a.ID, a.Name, a.Email, a.OUPath, a.Status, a.Denied,
			a.Regions, a.FailRegions, a.DisabledRegions, a.NoRecorderRegions, a.StoppedRecorderRegions, o.JoinedWeek(a.ID))
		fmt.Fprintf(h, "%v\n", o.Tags(a.ID))
		for _, region := range a.Regions {
			for _, r := range o.Rules(a.ID, region) {
				fmt.Fprintf(h, "%s %+v\n", region, r)
			}
		}
	}
	for i := range lines {
		h.Write([]byte(lines[i].String()))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func generate(t *testing.T, cfg GenConfig) *Org {
	t.Helper()
	o, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestWeekDeterministic: week N is derived from the seed and N alone, so two
// generations of it, asked in any order, are the same org, and each week
// differs from the one before.
func TestWeekDeterministic(t *testing.T) {
	cfg := GenConfig{Accounts: 300, Seed: 5, Regions: []string{"us-east-1", "eu-west-1", "ap-east-1"}}
	var prev string
	for _, week := range []int{1, 2, 3, 5} {
		cfg.Week = week
		a := orgDigest(t, generate(t, cfg), false)
		// Another order of the regions given, the rules asked backwards.
		other := cfg
		other.Regions = []string{"ap-east-1", "us-east-1", "eu-west-1"}
		if b := orgDigest(t, generate(t, other), true); a != b {
			t.Errorf("week %d: two generations differ: %s, %s", week, a, b)
		}
		if a == prev {
			t.Errorf("week %d is the week before's org", week)
		}
		prev = a
	}
	// Another seed, another week 2.
	w2 := orgDigest(t, generate(t, GenConfig{Accounts: 300, Seed: 5, Week: 2}), false)
	if w2 == orgDigest(t, generate(t, GenConfig{Accounts: 300, Seed: 6, Week: 2}), false) {
		t.Error("seeds 5 and 6 give the same week 2")
	}
}

func TestWeekRefused(t *testing.T) {
	for _, tc := range []struct {
		week int
		want string
	}{
		{-1, "week -1: want 1 to 520"},
		{MaxWeek + 1, "week 521: want 1 to 520"},
	} {
		if _, err := Generate(GenConfig{Accounts: 3, Seed: 1, Week: tc.week}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("week %d: %v, want %q", tc.week, err, tc.want)
		}
	}
	if o, err := Generate(GenConfig{Accounts: 3, Seed: 1, Week: MaxWeek}); err != nil || o.Week != MaxWeek {
		t.Errorf("week %d: %v", MaxWeek, err)
	}
	err := Run(context.Background(), Options{Addr: "127.0.0.1:0", OrgFile: "testdata/none.json", Gen: GenConfig{Week: 2}}, quietLogger())
	if err == nil || !strings.Contains(err.Error(), "-week and -org are exclusive") {
		t.Errorf("Run with an org file and week 2: %v", err)
	}
}

// resultState is one result as two weeks compare it.
type resultState struct {
	Compliance, Annotation string
	RecordedAt             time.Time
}

// resultsOf maps every result of the account's rules, by key.
func resultsOf(o *Org, a Account) (map[ResultKey]resultState, map[string][]string) {
	out := map[ResultKey]resultState{}
	rules := map[string][]string{}
	for _, region := range a.Regions {
		for _, r := range o.Rules(a.ID, region) {
			rules[region] = append(rules[region], r.Name)
			for _, res := range r.Results {
				out[ResultKey{a.ID, region, r.Name, res.ResourceType, res.ResourceID}] = resultState{res.Compliance, res.Annotation, res.RecordedAt}
			}
		}
	}
	return out, rules
}

func ownerOf(tags map[string]string) string {
	if v, ok := tags["Owner"]; ok {
		return v
	}
	return tags["owner"]
}

// TestWeekChurn checks the churn between consecutive weeks against
// AWSSIM.md: about 10% of NON_COMPLIANT results become COMPLIANT on the same
// resource, about as many new ones appear (on existing and new resources),
// about 2% of accounts change Owner, one in 200 joins and one in 200 is
// suspended, result times move by 7 days, and nothing else changes.
func TestWeekChurn(t *testing.T) {
	cfg := GenConfig{Accounts: 1000, Seed: 1, Regions: []string{"us-east-1", "ap-east-1"}}
	annotation := map[string]string{}
	for _, d := range append(slices.Clone(managedRules), customRules...) {
		annotation[d.name] = d.annotation
	}
	prev := generate(t, cfg)
	for week := 2; week <= 4; week++ {
		cfg.Week = week
		cur := generate(t, cfg)
		if cur.Week != week || cur.ID != prev.ID || cur.RootID != prev.RootID || !reflect.DeepEqual(cur.OUs, prev.OUs) {
			t.Fatalf("week %d: org, root or OUs changed", week)
		}
		n := len(prev.Accounts)
		if len(cur.Accounts) < n {
			t.Fatalf("week %d: %d accounts, the week before %d", week, len(cur.Accounts), n)
		}
		lo, hi := n/weekPerJoin, n/weekPerJoin+1

		// Accounts.
		suspended, owners := 0, 0
		for i, p := range prev.Accounts {
			c := cur.Accounts[i]
			if c.ID != p.ID || c.Name != p.Name || c.Email != p.Email || c.OUPath != p.OUPath {
				t.Fatalf("week %d: account %d was %+v, is %+v", week, i, p, c)
			}
			switch {
			case p.Status == StatusSuspended && c.Status != StatusSuspended:
				t.Errorf("week %d: %s came back from SUSPENDED", week, c.ID)
			case p.Status == StatusActive && c.Status == StatusSuspended:
				suspended++
				if c.ID == cur.ManagementAccountID {
					t.Errorf("week %d: the management account was suspended", week)
				}
				if len(c.Regions) != 0 || cur.Rules(c.ID, "us-east-1") != nil {
					t.Errorf("week %d: suspended %s still has rules", week, c.ID)
				}
			}
			if ownerOf(c.Tags) != ownerOf(p.Tags) {
				owners++
				if p.Tags != nil && (c.Tags["Team"] != p.Tags["Team"] || len(c.Tags) != len(p.Tags)) {
					t.Errorf("week %d: %s: tags %v became %v, want only the owner changed", week, c.ID, p.Tags, c.Tags)
				}
			}
			if p.Tags != nil && cur.Tags(c.ID) == nil {
				t.Errorf("week %d: %s lost its tags", week, c.ID)
			}
		}
		joined := cur.Accounts[n:]
		if len(joined) < lo || len(joined) > hi || suspended < lo || suspended > hi {
			t.Errorf("week %d: %d joined, %d suspended of %d; want %d or %d each", week, len(joined), suspended, n, lo, hi)
		}
		for _, a := range joined {
			if _, dup := prev.Account(a.ID); dup || len(a.ID) != 12 || a.Status != StatusActive || !reflect.DeepEqual(a.Regions, []string{"ap-east-1", "us-east-1"}) ||
				cur.JoinedWeek(a.ID) != week || !strings.HasPrefix(a.OUPath, "Root/Workloads/") || len(cur.Rules(a.ID, "us-east-1")) == 0 {
				t.Errorf("week %d: joined account %+v (joined week %d)", week, a, cur.JoinedWeek(a.ID))
			}
		}
		if frac := float64(owners) / float64(n); frac < 0.01 || frac > 0.03 {
			t.Errorf("week %d: %d of %d accounts changed owner (%.3f), want about 2%%", week, owners, n, frac)
		}

		// Results, of the accounts ACTIVE both weeks.
		var ncBefore, resolved, newOnExisting, newOnNew int
		off := WeekOffset(week)
		for i, p := range prev.Accounts {
			c := cur.Accounts[i]
			if c.Status != StatusActive {
				continue
			}
			before, rulesBefore := resultsOf(prev, p)
			after, rulesAfter := resultsOf(cur, c)
			if !reflect.DeepEqual(rulesBefore, rulesAfter) {
				t.Fatalf("week %d: %s: rules %v became %v", week, c.ID, rulesBefore, rulesAfter)
			}
			for k, b := range before {
				if b.Compliance == NonCompliant {
					ncBefore++
				}
				a, ok := after[k]
				switch {
				case !ok:
					t.Errorf("week %d: result %+v vanished", week, k)
				case a.Compliance == b.Compliance:
					if !a.RecordedAt.Equal(b.RecordedAt.Add(7 * 24 * time.Hour)) {
						t.Errorf("week %d: unchanged %+v recorded at %s, a week before %s", week, k, a.RecordedAt, b.RecordedAt)
					}
				case b.Compliance == NonCompliant && a.Compliance == Compliant:
					resolved++
				case a.Compliance == NonCompliant:
					newOnExisting++
				default:
					t.Errorf("week %d: %+v went from %s to %s", week, k, b.Compliance, a.Compliance)
				}
			}
			for k, a := range after {
				if _, ok := before[k]; !ok {
					if a.Compliance != NonCompliant {
						t.Errorf("week %d: new result %+v is %s", week, k, a.Compliance)
					}
					newOnNew++
				}
				if want := map[bool]string{true: annotation[k.Rule]}[a.Compliance == NonCompliant]; a.Annotation != want {
					t.Errorf("week %d: %+v %s has annotation %q, want %q", week, k, a.Compliance, a.Annotation, want)
				}
				if a.RecordedAt.After(evaluatedAt.Add(off)) || !a.RecordedAt.After(evaluatedAt.Add(off-72*time.Hour)) {
					t.Errorf("week %d: %+v recorded at %s, outside the week's 72 hours before %s", week, k, a.RecordedAt, evaluatedAt.Add(off))
				}
			}
		}
		newNC := newOnExisting + newOnNew
		t.Logf("week %d: %d NON_COMPLIANT before, %d resolved, %d new (%d on existing resources), %d owners, %d joined, %d suspended",
			week, ncBefore, resolved, newNC, newOnExisting, owners, len(joined), suspended)
		if frac := float64(resolved) / float64(ncBefore); frac < 0.08 || frac > 0.12 {
			t.Errorf("week %d: %d of %d NON_COMPLIANT resolved (%.3f), want about 10%%", week, resolved, ncBefore, frac)
		}
		if r := float64(newNC) / float64(resolved); r < 0.75 || r > 1.25 || newOnExisting == 0 || newOnNew == 0 {
			t.Errorf("week %d: %d new (%d on existing resources, %d on new), %d resolved: want about as many, on both", week, newNC, newOnExisting, newOnNew, resolved)
		}
		prev = cur
	}
}

// TestWeekNonCompliantResults: the ground-truth listing of NON_COMPLIANT
// results is sorted, complete, and tells two weeks' findings apart.
func TestWeekNonCompliantResults(t *testing.T) {
	w1 := generate(t, GenConfig{Accounts: 250, Seed: 3})
	w2 := generate(t, GenConfig{Accounts: 250, Seed: 3, Week: 2})
	for _, o := range []*Org{w1, w2} {
		keys := o.NonCompliantResults()
		want := 0
		for _, a := range o.Accounts {
			for _, region := range a.Regions {
				for _, r := range o.Rules(a.ID, region) {
					want += r.NonCompliantCount()
				}
			}
		}
		if len(keys) != want || want == 0 {
			t.Errorf("week %d: %d keys, %d NON_COMPLIANT results", o.Week, len(keys), want)
		}
		less := func(x, y ResultKey) int {
			for _, c := range []int{strings.Compare(x.AccountID, y.AccountID), strings.Compare(x.Region, y.Region),
				strings.Compare(x.Rule, y.Rule), strings.Compare(x.ResourceType, y.ResourceType), strings.Compare(x.ResourceID, y.ResourceID)} {
				if c != 0 {
					return c
				}
			}
			return 0
		}
		if !slices.IsSortedFunc(keys, less) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Errorf("week %d: keys not sorted or not unique", o.Week)
		}
	}
	in := func(keys []ResultKey) map[ResultKey]bool {
		m := map[ResultKey]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	k1, k2 := in(w1.NonCompliantResults()), in(w2.NonCompliantResults())
	gone, came := 0, 0
	for k := range k1 {
		if !k2[k] {
			gone++
		}
	}
	for k := range k2 {
		if !k1[k] {
			came++
		}
	}
	if gone == 0 || came == 0 {
		t.Errorf("week 1 to 2: %d findings gone, %d new", gone, came)
	}
}

// TestWeekFaultPicks: the -deny, -fail-regions, -disabled-regions and
// -not-recording picks are the accounts of week 1 every week; an account
// that joined is never picked, one that left ACTIVE keeps no fault and is
// not replaced.
func TestWeekFaultPicks(t *testing.T) {
	gen := GenConfig{Accounts: 1000, Seed: 4}
	faults := Config{Deny: 30, FailRegions: 30, DisabledRegions: 30, NotRecording: 30, Logger: quietLogger()}
	serve := func(week int) *Org {
		t.Helper()
		gen.Week = week
		cfg := faults
		cfg.Org = generate(t, gen)
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s.Org()
	}
	type faultsOf struct {
		Denied                                      bool
		Fail, Disabled, NoRecorder, StoppedRecorder []string
	}
	picks := func(o *Org) map[string]faultsOf {
		m := map[string]faultsOf{}
		for _, a := range o.Accounts {
			f := faultsOf{a.Denied, a.FailRegions, a.DisabledRegions, a.NoRecorderRegions, a.StoppedRecorderRegions}
			if !reflect.DeepEqual(f, faultsOf{}) {
				m[a.ID] = f
			}
		}
		return m
	}
	first := picks(serve(1))
	if len(first) != 120 {
		t.Fatalf("week 1: %d accounts picked, want 120", len(first))
	}
	dropped := 0
	for _, week := range []int{2, 5, 10} {
		o := serve(week)
		got := picks(o)
		for id, f := range first {
			a, _ := o.Account(id)
			if a.Status != StatusActive {
				if _, ok := got[id]; ok {
					t.Errorf("week %d: suspended %s keeps its fault", week, id)
				}
				dropped++
				continue
			}
			if !reflect.DeepEqual(got[id], f) {
				t.Errorf("week %d: %s has %+v, week 1 %+v", week, id, got[id], f)
			}
		}
		for id := range got {
			if _, ok := first[id]; !ok {
				t.Errorf("week %d: %s (joined week %d) picked, not in week 1", week, id, o.JoinedWeek(id))
			}
		}
		if len(o.DeniedAccounts()) > 30 || len(o.FailingRegions()) > 30 {
			t.Errorf("week %d: a pick was replaced", week)
		}
	}
	if dropped == 0 {
		t.Error("no picked account was suspended by week 10: the test shows nothing about them")
	}
}
