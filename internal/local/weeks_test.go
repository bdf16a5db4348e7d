package local

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

// Three weeks of one generated org through local mode into one -out, with
// denied accounts, failing regions, opt-in regions not enabled, and one
// more failing (account, region) in week 2 only (-fail-regions one larger:
// the larger N keeps the smaller N's picks). Every Changes row, every First
// Seen and every findings file line of each week is checked against the
// truth of the weeks (reportcheck.CheckChanges, chained: each week's
// expected findings are the next week's baseline), and the three cases the
// issue names are checked directly on the workbooks:
//   - the week-2-only failing region: no Changes row of it in week 2, its
//     week-1 findings carried into week 2's file with their First Seen, and
//     in week 3 (read again) the ones still there keep week 1's First Seen;
//   - an account that joined has only NEW rows;
//   - a suspended account's findings are not RESOLVED (no row at all).
func TestThreeWeeksChanges(t *testing.T) {
	ctx := context.Background()
	// Seed 26 of 200 accounts: weeks 2 and 3 each have a join and a
	// suspension of an account with findings the week before, and the extra
	// failing pair of week 2 has three week-1 findings, two fixed in week 2
	// or 3 (RESOLVED in week 3, not in week 2), one still there (all
	// checked below).
	gen := awssim.GenConfig{Accounts: 200, Seed: 26, Regions: regions, Rules: 6}
	faults := func(week int) awssim.Config {
		c := awssim.Config{Deny: 2, FailRegions: 3, DisabledRegions: 2}
		if week == 2 {
			c.FailRegions = 4
		}
		return c
	}
	week1At := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	cfg := baseConfig(t)
	cfg.Concurrency = 32

	type week struct {
		org      *awssim.Org
		res      Result
		at       time.Time
		expected *reportcheck.Findings
		file     *reportcheck.Findings
		rows     [][]string // the Changes table
	}
	weeks := make([]week, 4) // 1-based
	var extra awssim.AccountRegion
	for w := 1; w <= 3; w++ {
		g := gen
		g.Week = w
		org, err := awssim.Generate(g)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvOrg(t, org, faults(w))
		org = e.sim.Org()
		if w == 2 {
			extra = onlyIn(org.FailingRegions(), weeks[1].org.FailingRegions())
		}
		c := cfg
		c.GeneratedAt = week1At.Add(awssim.WeekOffset(w))
		var progress strings.Builder
		start := time.Now()
		res, err := Run(ctx, c, e.hub, &progress, quiet())
		if err != nil {
			t.Fatalf("week %d: Run: %v\nprogress:\n%s", w, err, progress.String())
		}
		t.Logf("week %d: run %s in %v", w, res.RunID, time.Since(start).Round(time.Millisecond))
		if _, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: org, Regions: regions, RunID: string(res.RunID), Trigger: "scheduled"}); err != nil {
			t.Errorf("week %d's workbook differs from the ground truth:\n%v", w, err)
		}
		wk := week{org: org, res: res, at: c.GeneratedAt}
		var base *reportcheck.Findings
		if w > 1 {
			base = weeks[w-1].expected
		}
		var st reportcheck.ChangeStats
		wk.expected, st, err = reportcheck.CheckChanges(res.Path, reportcheck.WeekExpect{
			Org: org, Regions: regions, RunID: string(res.RunID), GeneratedAt: c.GeneratedAt, Baseline: base})
		if err != nil {
			t.Errorf("week %d's Changes, First Seen or findings file differ from the truth:\n%v", w, err)
		}
		t.Logf("week %d: %+v", w, st)
		if w > 1 && (st.New == 0 || st.Resolved == 0) {
			t.Errorf("week %d: %d NEW, %d RESOLVED: want both", w, st.New, st.Resolved)
		}
		if wk.file, err = reportcheck.ReadFindings(reportcheck.FindingsPath(res.Path)); err != nil {
			t.Fatal(err)
		}
		wk.rows = changeRows(t, res.Path)
		weeks[w] = wk
	}
	if t.Failed() {
		return
	}

	// The region that failed in week 2 only.
	if extra.AccountID == "" {
		t.Fatal("week 2 has no failing pair more than week 1")
	}
	inPair := func(k awssim.ResultKey) bool { return k.AccountID == extra.AccountID && k.Region == extra.Region }
	for _, r := range weeks[2].rows {
		if r[1] == extra.AccountID && r[3] == extra.Region {
			t.Errorf("week 2 lists %v for %v, a region it could not read", r, extra)
		}
	}
	carried := 0
	for k, f := range weeks[1].file.Lines {
		if !inPair(k) {
			continue
		}
		g, ok := weeks[2].file.Lines[k]
		if !ok || !g.Carried || !g.FirstSeen.Equal(f.FirstSeen) {
			t.Errorf("week 2's findings file has %v as %+v (present %v), want week 1's line carried", k, g, ok)
		}
		carried++
	}
	if carried == 0 {
		t.Fatalf("the pair %v has no week-1 finding: the seed does not exercise a carried finding", extra)
	}
	kept := 0
	for k, f := range weeks[3].file.Lines {
		if !inPair(k) {
			continue
		}
		if f.Carried {
			t.Errorf("week 3 read %v again, yet carries %v", extra, k)
		}
		if w1, ok := weeks[1].file.Lines[k]; ok {
			kept++
			if !f.FirstSeen.Equal(w1.FirstSeen) {
				t.Errorf("week 3's %v first seen %s, want week 1's %s (the week-2 outage must not reset it)", k, f.FirstSeen, w1.FirstSeen)
			}
		}
	}
	resolved := 0
	for _, r := range weeks[3].rows {
		if r[1] != extra.AccountID || r[3] != extra.Region || r[0] != "RESOLVED" {
			continue
		}
		resolved++
		if want := week1At.Format("2006-01-02 15:04"); r[7] != want {
			t.Errorf("week 3 RESOLVED %v: First Seen %q, want week 1's %q", r, r[7], want)
		}
	}
	if kept == 0 || resolved == 0 {
		t.Errorf("pair %v: %d week-1 findings still there in week 3, %d RESOLVED in week 3: the seed should give both", extra, kept, resolved)
	}
	t.Logf("pair %v: %d findings carried through week 2, %d still there in week 3, %d RESOLVED in week 3", extra, carried, kept, resolved)

	// Joins and suspensions.
	joinedRows, suspendedWithFindings := 0, 0
	for w := 2; w <= 3; w++ {
		org, prev := weeks[w].org, weeks[w-1].org
		joined, suspended := map[string]bool{}, map[string]bool{}
		for _, a := range org.Accounts {
			if org.JoinedWeek(a.ID) == w {
				joined[a.ID] = true
			}
			if p, ok := prev.Account(a.ID); ok && p.Status == awssim.StatusActive && a.Status != awssim.StatusActive {
				suspended[a.ID] = true
			}
		}
		if len(joined) == 0 || len(suspended) == 0 {
			t.Errorf("week %d: %d joined, %d suspended: want both", w, len(joined), len(suspended))
		}
		for _, r := range weeks[w].rows {
			switch {
			case joined[r[1]] && r[0] != "NEW":
				t.Errorf("week %d: %v of an account that joined this week is not NEW", w, r)
			case joined[r[1]]:
				joinedRows++
			case suspended[r[1]]:
				t.Errorf("week %d: %v of a suspended account: it was not read", w, r)
			}
		}
		for k := range weeks[w-1].file.Lines {
			if suspended[k.AccountID] {
				suspendedWithFindings++
			}
		}
	}
	if joinedRows == 0 || suspendedWithFindings == 0 {
		t.Errorf("%d rows of joined accounts, %d findings of suspended accounts the week before: the seed exercises neither case", joinedRows, suspendedWithFindings)
	}
}

// onlyIn is the one pair of a not in b.
func onlyIn(a, b []awssim.AccountRegion) awssim.AccountRegion {
	in := map[awssim.AccountRegion]bool{}
	for _, p := range b {
		in[p] = true
	}
	var out []awssim.AccountRegion
	for _, p := range a {
		if !in[p] {
			out = append(out, p)
		}
	}
	if len(out) != 1 {
		panic(fmt.Sprintf("want one pair more, have %v", out))
	}
	return out[0]
}

// changeRows reads the Changes table (below its header, row 6).
func changeRows(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Changes")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 6 {
		t.Fatalf("%s: Changes has %d rows, want its header in row 6", path, len(rows))
	}
	return rows[6:]
}
