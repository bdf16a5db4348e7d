package awssim

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The weekly churn of a generated org (AWSSIM.md -week). Week N is week 1
// advanced one week at a time, each week's changes drawn from generators
// seeded by the seed and that week (and, for results, the account and
// region) alone: week 5 started directly is the same org whoever asks, and
// the org of week N+1 is that of week N with one more week's changes.
const (
	// MaxWeek bounds GenConfig.Week: ten years of weekly reports. Deriving
	// an account-region's rules costs one step per week.
	MaxWeek = 520
	// weekResolved is the fraction of NON_COMPLIANT results that become
	// COMPLIANT from one week to the next.
	weekResolved = 0.10
	// weekOwnerChange is the fraction of accounts whose Owner tag changes.
	weekOwnerChange = 0.02
	// weekPerJoin: one account in this many joins each week, and one
	// ACTIVE member in as many becomes SUSPENDED.
	weekPerJoin = 200
)

// WeekOffset is how far week's ResultRecordedTimes lie after week 1's:
// 7 × (week − 1) days.
func WeekOffset(week int) time.Duration {
	return time.Duration(max(week-1, 0)) * 7 * 24 * time.Hour
}

// advance returns week cfg.Week of the org whose week 1 is first. Ids,
// names, OUs and rules stay; each week about one account in weekPerJoin
// joins (ACTIVE, a new id, in a workload OU of leaves), as many ACTIVE
// members become SUSPENDED (never the management account; their fault
// picks are not replaced, see applyFaults) and about weekOwnerChange of the
// accounts get a new Owner. Results change lazily, in generator.advanceRules.
func advance(first *Org, cfg GenConfig, leaves []string) *Org {
	o := *first
	o.Week = cfg.Week
	o.first = first
	o.Accounts = slices.Clone(first.Accounts)
	g := *first.gen
	g.week, g.cache = cfg.Week, &ruleCache{}
	o.gen = &g
	regions := slices.Clone(cfg.Regions)
	slices.Sort(regions)

	used := make(map[string]bool, len(o.Accounts))
	for _, a := range o.Accounts {
		used[a.ID] = true
	}
	for w := 2; w <= cfg.Week; w++ {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7765656b0000^uint64(w)))
		n := len(o.Accounts)
		joins, suspensions := perWeek(rng, n), perWeek(rng, n)

		// Suspensions first, among the members ACTIVE last week.
		var active []int
		for i, a := range o.Accounts {
			if a.Status == StatusActive && a.ID != o.ManagementAccountID {
				active = append(active, i)
			}
		}
		for range min(suspensions, len(active)) {
			k := rng.IntN(len(active))
			a := &o.Accounts[active[k]]
			a.Status, a.Regions = StatusSuspended, nil
			active = slices.Delete(active, k, k+1)
		}

		for range joins {
			var id string
			for id == "" || used[id] {
				id = fmt.Sprintf("%012d", 100000000000+rng.Int64N(900000000000))
			}
			used[id] = true
			leaf := leaves[rng.IntN(len(leaves))]
			parts := strings.Split(leaf, "/")
			env := "prod"
			if parts[2] == "NonProd" {
				env = "dev"
			}
			// len(o.Accounts) is above every index generation numbered a
			// name with, and grows: the name is new.
			name := fmt.Sprintf("%s-%s-%04d", strings.ToLower(parts[3]), env, len(o.Accounts))
			o.Accounts = append(o.Accounts, Account{ID: id, Name: name, Email: "aws+" + name + "@example.com",
				OUPath: leaf, Status: StatusActive, Regions: regions,
				Tags: generatedTags(cfg.Seed, id, name, leaf), joined: w})
		}

		// Owner changes, among the accounts there before this week.
		for i := range o.Accounts[:n] {
			if rng.Float64() >= weekOwnerChange {
				continue
			}
			a := &o.Accounts[i]
			key := "Owner"
			if _, ok := a.Tags["owner"]; ok {
				key = "owner"
			}
			old := a.Tags[key]
			owner := old
			for owner == old {
				owner = firstNames[rng.IntN(len(firstNames))] + "." + lastNames[rng.IntN(len(lastNames))] + "@example.com"
			}
			// A fresh map: week 1's accounts share theirs with this one.
			tags := maps.Clone(a.Tags)
			if tags == nil {
				tags = map[string]string{"Team": teamOf(a.Name, a.OUPath)}
			}
			tags[key] = owner
			a.Tags = tags
		}
	}
	o.index()
	return &o
}

// perWeek is how many of n accounts join (or are suspended) in a week: one
// in weekPerJoin, the fraction rounded up or down at random so that the mean
// is n/weekPerJoin. An org of weekPerJoin accounts or more has at least one
// every week.
func perWeek(rng *rand.Rand, n int) int {
	k := n / weekPerJoin
	if rng.IntN(weekPerJoin) < n%weekPerJoin {
		k++
	}
	return k
}

// advanceRules applies to rules, the account's rules in region in the week
// it appeared, the churn of every later week up to the generator's, then
// moves every ResultRecordedTime to the generator's week.
func (g *generator) advanceRules(rules []Rule, a *Account, region string) {
	h := fnv.New64a()
	h.Write([]byte(a.ID))
	h.Write([]byte{0})
	h.Write([]byte(region))
	key := h.Sum64()
	for w := max(a.joined, 1) + 1; w <= g.week; w++ {
		rng := rand.New(rand.NewPCG(g.seed^0x636875726e, key^uint64(w)*0x9e3779b97f4a7c15))
		for i := range rules {
			g.churnRule(rng, &rules[i], a, region)
		}
	}
	off := WeekOffset(g.week)
	for i := range rules {
		for j := range rules[i].Results {
			rules[i].Results[j].RecordedAt = rules[i].Results[j].RecordedAt.Add(off)
		}
	}
}

// churnRule is one week of one rule: each NON_COMPLIANT result becomes
// COMPLIANT with probability weekResolved, and a new NON_COMPLIANT result
// appears with the probability that makes as many appear, on average, as
// resolve in week 1's org: the mean number of NON_COMPLIANT results of a
// rule is nonCompliant × E[bad] (generator.firstRules: k uniform in 1..6
// results, bad uniform in 1..k, so E[bad] = 2.25; an account-level rule has
// one result, which can only turn NON_COMPLIANT when it is not already).
// Half the new ones fall on a resource the rule already evaluates
// (COMPLIANT or NOT_APPLICABLE until now), half on a new one (all on a new
// one when the rule has no other). A result
// changed this week is not changed again the same week; results are never
// removed, so a resource keeps its place.
func (g *generator) churnRule(rng *rand.Rand, r *Rule, a *Account, region string) {
	def := g.defs[r.Name]
	recorded := func() time.Time {
		return evaluatedAt.Add(-time.Duration(rng.IntN(72*3600)) * time.Second)
	}
	var changed []int
	for i := range r.Results {
		res := &r.Results[i]
		if res.Compliance == NonCompliant && rng.Float64() < weekResolved {
			res.Compliance, res.Annotation, res.RecordedAt = Compliant, "", recorded()
			changed = append(changed, i)
		}
	}
	pNew := weekResolved * g.nonCompliant * 2.25
	if singleton(def.resourceType) {
		// Its one result can only turn NON_COMPLIANT when it is not already,
		// which it is in week 1 with probability nonCompliant.
		pNew = weekResolved * g.nonCompliant / max(1-g.nonCompliant, weekResolved)
	}
	if rng.Float64() >= pNew {
		return
	}
	var existing []int
	for i, res := range r.Results {
		if res.Compliance != NonCompliant && !slices.Contains(changed, i) {
			existing = append(existing, i)
		}
	}
	onExisting := rng.IntN(2) == 0
	if singleton(def.resourceType) {
		// One resource at most: the account, or its organisation trail.
		onExisting = len(r.Results) > 0
	}
	if onExisting && len(existing) == 0 && singleton(def.resourceType) {
		return
	}
	if onExisting && len(existing) > 0 {
		res := &r.Results[existing[rng.IntN(len(existing))]]
		res.Compliance, res.Annotation, res.RecordedAt = NonCompliant, def.annotation, recorded()
		return
	}
	id := resourceID(rng, a, region, def.resourceType)
	taken := func(id string) bool {
		return slices.ContainsFunc(r.Results, func(x Result) bool { return x.ResourceID == id })
	}
	for i, base := 2, id; taken(id); i++ {
		id = base + "-" + strconv.Itoa(i)
	}
	r.Results = append(r.Results, Result{ResourceType: def.resourceType, ResourceID: id,
		Compliance: NonCompliant, Annotation: def.annotation, RecordedAt: recorded()})
}

// ResultKey names one evaluation result: the identity of a finding from one
// week to the next.
type ResultKey struct {
	AccountID, Region, Rule, ResourceType, ResourceID string
}

// NonCompliantResults lists, sorted, every NON_COMPLIANT result of the org:
// of every account in every region it has rules in (ACTIVE accounts only
// have rules), whether or not a fault keeps a scan from reading it. Two
// weeks' lists give the findings that appeared and those that went.
func (o *Org) NonCompliantResults() []ResultKey {
	var out []ResultKey
	for i := range o.Accounts {
		a := &o.Accounts[i]
		for _, region := range a.Regions {
			for _, r := range o.rulesShared(a, region) {
				for _, res := range r.Results {
					if res.Compliance == NonCompliant {
						out = append(out, ResultKey{a.ID, region, r.Name, res.ResourceType, res.ResourceID})
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(x, y ResultKey) int {
		for _, c := range [...]int{strings.Compare(x.AccountID, y.AccountID), strings.Compare(x.Region, y.Region),
			strings.Compare(x.Rule, y.Rule), strings.Compare(x.ResourceType, y.ResourceType)} {
			if c != 0 {
				return c
			}
		}
		return strings.Compare(x.ResourceID, y.ResourceID)
	})
	return out
}

// JoinedWeek is the week the account joined the org: 1 for one there from
// the start (and for an account of an org file), 0 for an unknown account.
func (o *Org) JoinedWeek(accountID string) int {
	a, ok := o.Account(accountID)
	if !ok {
		return 0
	}
	return max(a.joined, 1)
}
