package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// The diff's organisation: two regions, and one account per situation.
const (
	acctRead    = "111111111111" // OK: both regions read
	acctFailed  = "222222222222" // PARTIAL: eu-west-1 failed
	acctSkipped = "333333333333" // OK: eu-west-1 not enabled
	acctMissing = "444444444444" // MISSING: no result
	acctGone    = "555555555555" // in baselines only
)

var (
	lastWeek  = time.Date(2026, 11, 16, 1, 0, 0, 0, time.UTC)
	longAgo   = time.Date(2026, 8, 3, 1, 0, 0, 0, time.UTC)
	evaluated = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
)

// diffAccounts returns the accounts of the diff's organisation whose ids
// are given (all of them when none are).
func diffAccounts(ids ...string) ([]Account, []ErrorRow) {
	rules := func(regions ...string) []RuleResult {
		var rr []RuleResult
		for _, r := range regions {
			rr = append(rr, RuleResult{Region: r, Name: "rule", SourceOwner: "AWS", SourceIdentifier: "RULE", Compliance: NonCompliant})
		}
		return rr
	}
	all := []Account{
		{ID: acctRead, Name: "read", Status: StatusOK, Rules: rules("us-east-1", "eu-west-1"), Owners: []string{"ops"}},
		{ID: acctFailed, Name: "failed", Status: StatusPartial, Rules: rules("us-east-1")},
		{ID: acctSkipped, Name: "skipped", Status: StatusOK, Rules: rules("us-east-1"), Coverage: []Coverage{
			{Region: "us-east-1", Read: ReadYes, Rules: ptr(1)}, {Region: "eu-west-1", Enabled: ptr(false), Read: ReadSkipped}}},
		{ID: acctMissing, Name: "missing", Status: StatusMissing},
	}
	var accts []Account
	for _, a := range all {
		if len(ids) == 0 || slices.Contains(ids, a.ID) {
			accts = append(accts, a)
		}
	}
	var errs []ErrorRow
	if len(ids) == 0 || slices.Contains(ids, acctFailed) {
		errs = []ErrorRow{{AccountID: acctFailed, Region: "eu-west-1", Stage: "config", Code: "RequestTimeout", Message: "timeout", Attempts: 3}}
	}
	return accts, errs
}

// fd is a finding of this run; bf one of the baseline.
func fd(acct, region, id string) Finding {
	return Finding{AccountID: acct, Region: region, RuleName: "rule", ResourceType: "AWS::S3::Bucket", ResourceID: id,
		Compliance: NonCompliant, RecordedAt: evaluated}
}

func bf(acct, region, id string, first time.Time, carried bool) BaselineFinding {
	return BaselineFinding{AccountID: acct, AccountName: "old-" + acct[:1], Region: region, RuleName: "rule",
		ResourceType: "AWS::S3::Bucket", ResourceID: id, LastEvaluated: lastWeek.Add(-time.Hour), FirstSeen: first, Carried: carried}
}

func diffRun() Run {
	run := baseRun()
	run.OwnerColumns = []string{"Owner"}
	return run
}

func hm(t time.Time) string { return t.Format("2006-01-02 15:04") }

// TestDiff runs the merge over one situation per case and checks the
// Changes rows, the counts, the First Seen column and the findings file's
// finding lines.
func TestDiff(t *testing.T) {
	gen := hm(genAt)
	cases := []struct {
		name     string
		accounts []string // nil: every account of the organisation
		run      []Finding
		base     []BaselineFinding // nil with noBase: no baseline
		noBase   bool
		// Changes rows as "CHANGE account region id first-seen".
		changes []string
		counts  ChangeCounts
		// First Seen of each Non-compliant Resources row, in order.
		firstSeen []string
		// Finding lines of the findings file as "account region id first-seen carried".
		lines []string
	}{
		{
			name:      "no baseline: First Seen is Generated at, no Changes rows",
			run:       []Finding{fd(acctRead, "us-east-1", "a")},
			noBase:    true,
			firstSeen: []string{gen},
			lines:     []string{"111111111111 us-east-1 a " + gen + " false"},
		},
		{
			name:      "NEW: a key the baseline does not have",
			run:       []Finding{fd(acctRead, "eu-west-1", "b"), fd(acctRead, "us-east-1", "a")},
			base:      []BaselineFinding{bf(acctRead, "us-east-1", "a", longAgo, false)},
			changes:   []string{"NEW 111111111111 eu-west-1 b " + gen},
			counts:    ChangeCounts{New: 1},
			firstSeen: []string{gen, hm(longAgo)},
			lines:     []string{"111111111111 eu-west-1 b " + gen + " false", "111111111111 us-east-1 a " + hm(longAgo) + " false"},
		},
		{
			name:    "RESOLVED: a key of a region read in full that this run does not have",
			run:     []Finding{fd(acctRead, "us-east-1", "b")},
			base:    []BaselineFinding{bf(acctRead, "eu-west-1", "z", longAgo, false), bf(acctRead, "us-east-1", "a", lastWeek, false)},
			changes: []string{"NEW 111111111111 us-east-1 b " + gen, "RESOLVED 111111111111 eu-west-1 z " + hm(longAgo), "RESOLVED 111111111111 us-east-1 a " + hm(lastWeek)},
			counts:  ChangeCounts{New: 1, Resolved: 2}, firstSeen: []string{gen},
			lines: []string{"111111111111 us-east-1 b " + gen + " false"},
		},
		{
			name:      "unread region: neither RESOLVED nor NEW, carried with its First Seen",
			run:       []Finding{fd(acctFailed, "us-east-1", "a")},
			base:      []BaselineFinding{bf(acctFailed, "eu-west-1", "x", longAgo, false), bf(acctFailed, "us-east-1", "a", lastWeek, false)},
			firstSeen: []string{hm(lastWeek)},
			lines:     []string{"222222222222 eu-west-1 x " + hm(longAgo) + " true", "222222222222 us-east-1 a " + hm(lastWeek) + " false"},
		},
		{
			name: "carried lines stay carried, a missing account's findings are carried too",
			base: []BaselineFinding{bf(acctFailed, "eu-west-1", "x", longAgo, true), bf(acctFailed, "eu-west-1", "x", longAgo, true),
				bf(acctMissing, "us-east-1", "m", lastWeek, false)},
			lines: []string{"222222222222 eu-west-1 x " + hm(longAgo) + " true", "222222222222 eu-west-1 x " + hm(longAgo) + " true",
				"444444444444 us-east-1 m " + hm(lastWeek) + " true"},
		},
		{
			name:    "a carried line in a region read again is RESOLVED like any other",
			base:    []BaselineFinding{bf(acctRead, "eu-west-1", "x", longAgo, true)},
			changes: []string{"RESOLVED 111111111111 eu-west-1 x " + hm(longAgo)},
			counts:  ChangeCounts{Resolved: 1},
		},
		{
			name: "skipped region: neither RESOLVED nor carried",
			base: []BaselineFinding{bf(acctSkipped, "eu-west-1", "s", lastWeek, false)},
		},
		{
			name: "account not in this run and a region it does not configure: ignored",
			base: []BaselineFinding{bf(acctRead, "ap-east-1", "o", lastWeek, false), bf(acctGone, "us-east-1", "g", lastWeek, false)},
		},
		{
			name:     "ad-hoc restriction: only this run's accounts are compared",
			accounts: []string{acctRead},
			run:      []Finding{fd(acctRead, "us-east-1", "a")},
			base: []BaselineFinding{bf(acctRead, "us-east-1", "a", lastWeek, false), bf(acctRead, "us-east-1", "fixed", lastWeek, false),
				bf(acctFailed, "us-east-1", "other", lastWeek, false), bf(acctSkipped, "us-east-1", "other", lastWeek, false)},
			changes:   []string{"RESOLVED 111111111111 us-east-1 fixed " + hm(lastWeek)},
			counts:    ChangeCounts{Resolved: 1},
			firstSeen: []string{hm(lastWeek)},
			lines:     []string{"111111111111 us-east-1 a " + hm(lastWeek) + " false"},
		},
		{
			name: "repeats: one NEW and one RESOLVED per key, the earliest First Seen for every repeat",
			run: []Finding{fd(acctRead, "us-east-1", "a"), fd(acctRead, "us-east-1", "a"), fd(acctRead, "us-east-1", "n"),
				fd(acctRead, "us-east-1", "n")},
			base: []BaselineFinding{bf(acctRead, "us-east-1", "a", lastWeek, false), bf(acctRead, "us-east-1", "a", longAgo, false),
				bf(acctRead, "us-east-1", "r", lastWeek, false), bf(acctRead, "us-east-1", "r", lastWeek, false)},
			changes:   []string{"NEW 111111111111 us-east-1 n " + gen, "RESOLVED 111111111111 us-east-1 r " + hm(lastWeek)},
			counts:    ChangeCounts{New: 1, Resolved: 1},
			firstSeen: []string{hm(longAgo), hm(longAgo), gen, gen},
			lines: []string{"111111111111 us-east-1 a " + hm(longAgo) + " false", "111111111111 us-east-1 a " + hm(longAgo) + " false",
				"111111111111 us-east-1 n " + gen + " false", "111111111111 us-east-1 n " + gen + " false"},
		},
		{
			name:    "empty baseline: every finding NEW",
			run:     []Finding{fd(acctRead, "us-east-1", "a")},
			base:    []BaselineFinding{},
			changes: []string{"NEW 111111111111 us-east-1 a " + gen}, counts: ChangeCounts{New: 1},
			firstSeen: []string{gen},
			lines:     []string{"111111111111 us-east-1 a " + gen + " false"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			accts, errs := diffAccounts(c.accounts...)
			run := diffRun()
			var base *Baseline
			if !c.noBase {
				base = sliceBaseline("prev", lastWeek, c.base)
			}
			var wb, ff bytes.Buffer
			counts, err := RenderRun(context.Background(), Output{Workbook: &wb, Findings: &ff}, run, accts, errs, sliceFindings(c.run), base)
			if err != nil {
				t.Fatal(err)
			}
			if counts != c.counts {
				t.Errorf("counts %+v, want %+v", counts, c.counts)
			}
			f := open(t, wb.Bytes())
			rows, err := f.GetRows(SheetChanges)
			if err != nil {
				t.Fatal(err)
			}
			var changes []string
			for _, r := range rows[changesHeaderRow:] {
				changes = append(changes, strings.Join([]string{r[0], r[1], r[3], r[6], r[7]}, " "))
				if r[2] != map[string]string{acctRead: "read", acctFailed: "failed"}[r[1]] {
					t.Errorf("row %q: account name is not this run's", r)
				}
			}
			if !slices.Equal(changes, c.changes) {
				t.Errorf("Changes rows\n got %q\nwant %q", changes, c.changes)
			}
			wantBlock := []string{"prev", hm(lastWeek), fmt.Sprint(c.counts.New), fmt.Sprint(c.counts.Resolved)}
			if c.noBase {
				wantBlock = []string{"", "", "", ""}
			}
			for i, w := range wantBlock {
				if got := cell(rows, i, 1); got != w {
					t.Errorf("Changes block row %d = %q, want %q", i+1, got, w)
				}
			}
			frows, err := f.GetRows(SheetFindings)
			if err != nil {
				t.Fatal(err)
			}
			var first []string
			for _, r := range frows[1:] {
				first = append(first, r[9])
			}
			if !slices.Equal(first, c.firstSeen) {
				t.Errorf("First Seen column %q, want %q", first, c.firstSeen)
			}
			b, err := ReadFindingsFile(&ff)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for l, err := range b.Findings {
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, fmt.Sprintf("%s %s %s %s %v", l.AccountID, l.Region, l.ResourceID, hm(l.FirstSeen), l.Carried))
				if l.Carried && l.AccountName != "old-"+l.AccountID[:1] {
					t.Errorf("carried line %+v: account name not copied as it was", l)
				}
			}
			if !slices.Equal(lines, c.lines) {
				t.Errorf("findings file lines\n got %q\nwant %q", lines, c.lines)
			}
		})
	}
}

func cell(rows [][]string, r, c int) string {
	if r < len(rows) && c < len(rows[r]) {
		return rows[r][c]
	}
	return ""
}

// TestBaselineRejected: a baseline out of order, or whose iterator fails,
// fails the render with an error that wraps ErrBaseline.
func TestBaselineRejected(t *testing.T) {
	accts, errs := diffAccounts()
	boom := errors.New("boom")
	cases := []struct {
		name string
		base *Baseline
		want error
	}{
		{"out of order", sliceBaseline("prev", lastWeek, []BaselineFinding{
			bf(acctRead, "us-east-1", "b", lastWeek, false), bf(acctRead, "us-east-1", "a", lastWeek, false)}), nil},
		{"out of order by account", sliceBaseline("prev", lastWeek, []BaselineFinding{
			bf(acctFailed, "us-east-1", "a", lastWeek, false), bf(acctRead, "us-east-1", "a", lastWeek, false)}), nil},
		{"iterator error", &Baseline{RunID: "prev", GeneratedAt: lastWeek, Findings: func(yield func(BaselineFinding, error) bool) {
			if yield(bf(acctRead, "us-east-1", "a", lastWeek, false), nil) {
				yield(BaselineFinding{}, boom)
			}
		}}, boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RenderRun(context.Background(), Output{Workbook: &bytes.Buffer{}, Findings: &bytes.Buffer{}}, diffRun(), accts, errs,
				sliceFindings([]Finding{fd(acctRead, "us-east-1", "a")}), c.base)
			if !errors.Is(err, ErrBaseline) {
				t.Fatalf("err %v, want one wrapping ErrBaseline", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err %v does not wrap %v", err, c.want)
			}
		})
	}
}

// TestDeterministicRun renders the workbook and the findings file ten times
// against the same baseline, inputs shuffled, and wants the same bytes.
func TestDeterministicRun(t *testing.T) {
	defer lowerLimits(3, 2)()
	fx := loadFixture(t, "testdata/small.json")
	var firstWB, firstFF []byte
	for i := range 10 {
		accts := slices.Clone(fx.Accounts)
		errs := slices.Clone(fx.Errors)
		r := rand.New(rand.NewPCG(uint64(i), 11))
		r.Shuffle(len(accts), func(a, b int) { accts[a], accts[b] = accts[b], accts[a] })
		r.Shuffle(len(errs), func(a, b int) { errs[a], errs[b] = errs[b], errs[a] })
		in := fx
		in.Accounts, in.Errors = accts, errs
		wb, ff, _ := renderRun(t, in, loadBaseline(t, "testdata/small_baseline.json"))
		if i == 0 {
			firstWB, firstFF = wb, ff
			continue
		}
		if !bytes.Equal(firstWB, wb) {
			t.Fatalf("workbook %d differs from workbook 0", i)
		}
		if !bytes.Equal(firstFF, ff) {
			t.Fatalf("findings file %d differs from findings file 0", i)
		}
	}
}

// TestChangesEmpty: with a baseline and nothing changed, the block says 0
// and 0 and the table has its header only; the conditional formats stay on
// the first data row, like the other sheets'.
func TestChangesEmpty(t *testing.T) {
	accts, errs := diffAccounts()
	var wb bytes.Buffer
	_, err := RenderRun(context.Background(), Output{Workbook: &wb}, diffRun(), accts, errs,
		sliceFindings([]Finding{fd(acctRead, "us-east-1", "a")}), sliceBaseline("prev", lastWeek, []BaselineFinding{bf(acctRead, "us-east-1", "a", lastWeek, false)}))
	if err != nil {
		t.Fatal(err)
	}
	f := open(t, wb.Bytes())
	rows, _ := f.GetRows(SheetChanges)
	if len(rows) != changesHeaderRow || !slices.Equal(rows[changesHeaderRow-1], withOwners(changesHeaders, diffRun())) {
		t.Fatalf("rows %q", rows)
	}
	if cell(rows, 2, 1) != "0" || cell(rows, 3, 1) != "0" {
		t.Errorf("block %q", rows[:4])
	}
	cfs, _ := f.GetConditionalFormats(SheetChanges)
	if len(cfs["A7:A7"]) != 2 {
		t.Errorf("conditional formats %v", cfs)
	}
	p, _ := f.GetPanes(SheetChanges)
	if !p.Freeze || p.YSplit != changesHeaderRow {
		t.Errorf("panes %+v", p)
	}
	tables, _ := f.GetTables(SheetChanges)
	if len(tables) != 1 || tables[0].Range != "A6:I7" {
		t.Errorf("tables %+v", tables)
	}
}
