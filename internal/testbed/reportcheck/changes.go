package reportcheck

// Week over week: the Changes sheet, the First Seen column and the findings
// file, checked against the ground truth of a chain of weeks.
//
// The model (REPORT_FORMAT.md "5. Changes", "First Seen", "The findings
// file"), computed from the awssim org of this week and the expected
// findings of the baseline run, never from the renderer's code:
//
//   - this run reads an (account, region) in full when the account is one
//     of the run's, not missing, not denied, the region is not an opt-in
//     region it has not enabled (skipped) and not a failing region (Coverage
//     Read = yes); it could not read it when the account is missing or
//     denied, or the region fails (Coverage failed or missing);
//   - the keys read: every NON_COMPLIANT result of a region read in full;
//     each is a finding line with carried false, First Seen the baseline's
//     when the baseline has the key (carried lines included), else this
//     run's Generated at; a key read and absent from the baseline is NEW;
//   - a baseline key of an account of this run: RESOLVED when this run read
//     its region in full and not the key; carried (line copied as it was,
//     carried true) when this run could not read its region; neither when
//     the region was skipped;
//   - a baseline key of an account not of this run (suspended since, or
//     outside an ad-hoc run's accounts) is nothing: not read, so not
//     RESOLVED, and not carried either.
//
// A joined account has no baseline key, so only NEW rows; a suspended
// account is not of the run, so no RESOLVED row.

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// Finding is one finding line of a findings file, less its key.
type Finding struct {
	AccountName   string
	Annotation    string // "" for null
	LastEvaluated time.Time
	FirstSeen     time.Time
	Carried       bool
}

// Findings is a run's findings file: its run line and its finding lines by
// key. ExpectFindings computes it from the truth; ReadFindings reads a file.
type Findings struct {
	RunID       string
	GeneratedAt time.Time
	// BaselineRunID is the run line's baseline_run_id ("" for null).
	BaselineRunID string
	Lines         map[awssim.ResultKey]Finding
}

// Change is one expected row of the Changes table.
type Change struct {
	Kind      string // NEW or RESOLVED
	Key       awssim.ResultKey
	FirstSeen time.Time
}

// WeekExpect is one run of the chain.
type WeekExpect struct {
	// Org is this week's org as served (faults applied).
	Org *awssim.Org
	// Regions scanned, in configured order.
	Regions []string
	// Accounts the run set out to scan; nil means every ACTIVE account.
	Accounts []string
	// Missing accounts had no result before the deadline.
	Missing map[string]bool
	// OwnerTags are the run's -owner-tags: owner columns at the right end of
	// the Changes table.
	OwnerTags []events.OwnerTag
	// RunID and GeneratedAt of this run; GeneratedAt zero means: take the
	// run line's of the findings file (the e2e, whose clock is not ours).
	RunID       string
	GeneratedAt time.Time
	// Baseline is the expected findings file of the run compared with (the
	// previous ExpectFindings of the chain); nil when there is none.
	Baseline *Findings
}

type readState int

const (
	notOfRun readState = iota // the account is not one of the run's
	readFull                  // Coverage Read yes
	unread                    // Coverage failed or missing
	skipped                   // an opt-in region not enabled
)

// state says what the run could see of (account, region).
func (e *WeekExpect) state(ofRun map[string]bool, account, region string) readState {
	switch {
	case !ofRun[account]:
		return notOfRun
	case e.Missing[account]:
		return unread
	}
	a, ok := e.Org.Account(account)
	switch {
	case !ok || a.Denied:
		return unread
	case e.Org.OptInStatus(account, region) == awssim.NotOptedIn:
		return skipped
	case e.Org.RegionFails(account, region):
		return unread
	}
	return readFull
}

func (e *WeekExpect) accounts() map[string]bool {
	ofRun := map[string]bool{}
	if e.Accounts != nil {
		for _, id := range e.Accounts {
			ofRun[id] = true
		}
		return ofRun
	}
	for _, a := range e.Org.Accounts {
		if a.Status == awssim.StatusActive {
			ofRun[a.ID] = true
		}
	}
	return ofRun
}

// ExpectFindings computes this run's findings file and Changes rows (sorted
// as the sheet sorts them) from the truth. e.GeneratedAt must be set.
func ExpectFindings(e WeekExpect) (*Findings, []Change) {
	ofRun := e.accounts()
	out := &Findings{RunID: e.RunID, GeneratedAt: e.GeneratedAt, Lines: map[awssim.ResultKey]Finding{}}
	var base map[awssim.ResultKey]Finding
	if e.Baseline != nil {
		out.BaselineRunID = e.Baseline.RunID
		base = e.Baseline.Lines
	}
	var changes []Change
	ids := make([]string, 0, len(ofRun))
	for id := range ofRun {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a, ok := e.Org.Account(id)
		if !ok {
			continue
		}
		for _, region := range e.Regions {
			if e.state(ofRun, id, region) != readFull {
				continue
			}
			for _, r := range e.Org.Rules(id, region) {
				for _, res := range r.Results {
					if res.Compliance != awssim.NonCompliant {
						continue
					}
					k := awssim.ResultKey{AccountID: id, Region: region, Rule: r.Name, ResourceType: res.ResourceType, ResourceID: res.ResourceID}
					f := Finding{AccountName: a.Name, Annotation: res.Annotation, LastEvaluated: res.RecordedAt.UTC(), FirstSeen: e.GeneratedAt}
					if b, ok := base[k]; ok {
						f.FirstSeen = b.FirstSeen
					} else if e.Baseline != nil {
						changes = append(changes, Change{Kind: "NEW", Key: k, FirstSeen: e.GeneratedAt})
					}
					out.Lines[k] = f
				}
			}
		}
	}
	for k, b := range base {
		if _, read := out.Lines[k]; read {
			continue
		}
		switch e.state(ofRun, k.AccountID, k.Region) {
		case readFull:
			changes = append(changes, Change{Kind: "RESOLVED", Key: k, FirstSeen: b.FirstSeen})
		case unread:
			b.Carried = true
			out.Lines[k] = b
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		if changes[i].Kind != changes[j].Kind {
			return changes[i].Kind == "NEW"
		}
		return keyLess(changes[i].Key, changes[j].Key)
	})
	return out, changes
}

func keyLess(a, b awssim.ResultKey) bool {
	x := [5]string{a.AccountID, a.Region, a.Rule, a.ResourceType, a.ResourceID}
	y := [5]string{b.AccountID, b.Region, b.Rule, b.ResourceType, b.ResourceID}
	return slices.Compare(x[:], y[:]) < 0
}

// ChangeStats summarise a checked week.
type ChangeStats struct {
	New, Resolved, Carried, Findings int
}

// FindingsPath is the findings file beside the workbook at xlsxPath.
func FindingsPath(xlsxPath string) string {
	base := strings.TrimSuffix(filepath.Base(xlsxPath), ".xlsx")
	return filepath.Join(filepath.Dir(xlsxPath), base+".findings.jsonl.gz")
}

// CheckChanges checks, against the truth of e, the workbook at xlsxPath
// (the Changes sheet's block and every row, column J of Non-compliant
// Resources) and the findings file beside it (its run line, and every
// finding line, carried ones included, with First Seen). It returns this
// run's expected findings, the next week's e.Baseline, and every difference
// found (capped).
func CheckChanges(xlsxPath string, e WeekExpect) (*Findings, ChangeStats, error) {
	var p problems
	got, err := ReadFindings(FindingsPath(xlsxPath))
	if err != nil {
		return nil, ChangeStats{}, err
	}
	if e.GeneratedAt.IsZero() {
		e.GeneratedAt = got.GeneratedAt
	}
	want, changes := ExpectFindings(e)
	var st ChangeStats
	for _, c := range changes {
		if c.Kind == "NEW" {
			st.New++
		} else {
			st.Resolved++
		}
	}
	for _, f := range want.Lines {
		if f.Carried {
			st.Carried++
		}
	}
	st.Findings = len(want.Lines) - st.Carried

	checkFindingsFile(&p, got, want)

	f, err := excelize.OpenFile(xlsxPath)
	if err != nil {
		return nil, st, fmt.Errorf("open workbook: %w", err)
	}
	defer f.Close()
	raw := excelize.Options{RawCellValue: true}
	cell := func(r []string, i int) string {
		if i < len(r) {
			return r[i]
		}
		return ""
	}
	timeIs := func(s string, want time.Time) bool {
		got, err := excelTime(s)
		return err == nil && got.Sub(want).Abs() <= time.Second
	}

	// Changes block, rows 1-4; row 5 empty; header row 6.
	rows, err := f.GetRows(sheetChanges, raw)
	if err != nil {
		return nil, st, fmt.Errorf("read %s: %w", sheetChanges, err)
	}
	for len(rows) < 6 {
		rows = append(rows, nil)
	}
	labels := []string{"Compared with", "Baseline generated at (UTC)", "New", "Resolved"}
	for i, l := range labels {
		if cell(rows[i], 0) != l {
			p.add("Changes A%d = %q, want %q", i+1, cell(rows[i], 0), l)
		}
	}
	if e.Baseline == nil {
		for i := range labels {
			if v := cell(rows[i], 1); v != "" {
				p.add("Changes B%d = %q, want no value (no baseline)", i+1, v)
			}
		}
	} else {
		if v := cell(rows[0], 1); v != e.Baseline.RunID {
			p.add("Changes Compared with = %q, want %q", v, e.Baseline.RunID)
		}
		if v := cell(rows[1], 1); !timeIs(v, e.Baseline.GeneratedAt) {
			p.add("Changes Baseline generated at = %q, want %s", v, e.Baseline.GeneratedAt.Format(time.RFC3339))
		}
		if v := cell(rows[2], 1); v != strconv.Itoa(st.New) {
			p.add("Changes New = %q, want %d", v, st.New)
		}
		if v := cell(rows[3], 1); v != strconv.Itoa(st.Resolved) {
			p.add("Changes Resolved = %q, want %d", v, st.Resolved)
		}
	}
	if len(rows[4]) != 0 {
		p.add("Changes row 5 = %q, want empty", rows[4])
	}
	var owners []string
	for _, ot := range e.OwnerTags {
		owners = append(owners, ot.Header())
	}
	wantHeader := append([]string{"Change", "Account ID", "Account Name", "Region", "Rule Name", "Resource Type", "Resource ID", "First Seen (UTC)"}, owners...)
	if !slices.Equal(rows[5], wantHeader) {
		p.add("Changes header %q, want %q", rows[5], wantHeader)
	}
	table := rows[6:]
	if len(table) != len(changes) {
		p.add("Changes has %d rows, want %d (%d NEW, %d RESOLVED)", len(table), len(changes), st.New, st.Resolved)
	}
	ownerValues := func(id string) []string {
		tags := map[string]string{}
		for _, tg := range e.Org.Tags(id) {
			tags[tg.Key] = tg.Value
		}
		var v []string
		for _, ot := range e.OwnerTags {
			v = append(v, ot.Value(tags))
		}
		return v
	}
	for i := 0; i < len(table) && i < len(changes); i++ {
		g, c := table[i], changes[i]
		name := ""
		if a, ok := e.Org.Account(c.Key.AccountID); ok {
			name = a.Name
		}
		w := append([]string{c.Kind, c.Key.AccountID, name, c.Key.Region, c.Key.Rule, c.Key.ResourceType, c.Key.ResourceID}, "")
		w = append(w, ownerValues(c.Key.AccountID)...)
		if len(g) > len(w) {
			p.add("Changes row %d has %d columns, want %d", i+7, len(g), len(w))
		}
		for col, wv := range w {
			if col == 7 {
				if !timeIs(cell(g, col), c.FirstSeen) {
					p.add("Changes row %d (%s %v) First Seen = %q, want %s", i+7, c.Kind, c.Key, cell(g, col), c.FirstSeen.Format(time.RFC3339))
				}
				continue
			}
			if cell(g, col) != wv {
				p.add("Changes row %d column %c = %q, want %q (%s %v)", i+7, 'A'+col, cell(g, col), wv, c.Kind, c.Key)
				break
			}
		}
	}

	// First Seen, column J of Non-compliant Resources and its spill sheets:
	// one row per key read, whatever its order (Check checks the order).
	seen := 0
	for _, s := range f.GetSheetList() {
		if s != sheetFindings && !strings.HasPrefix(s, sheetFindings+" (") {
			continue
		}
		r, err := f.GetRows(s, raw)
		if err != nil {
			p.add("read %s: %v", s, err)
			continue
		}
		if len(r) > 0 && cell(r[0], 9) != "First Seen (UTC)" {
			p.add("%s J1 = %q, want %q", s, cell(r[0], 9), "First Seen (UTC)")
		}
		for i := 1; i < len(r); i++ {
			seen++
			k := awssim.ResultKey{AccountID: cell(r[i], 0), Region: cell(r[i], 2), Rule: cell(r[i], 3), ResourceType: cell(r[i], 4), ResourceID: cell(r[i], 5)}
			wf, ok := want.Lines[k]
			switch {
			case !ok || wf.Carried:
				p.add("%s row %d: %v is not a finding this run read", s, i+1, k)
			case !timeIs(cell(r[i], 9), wf.FirstSeen):
				p.add("%s row %d (%v) First Seen = %q, want %s", s, i+1, k, cell(r[i], 9), wf.FirstSeen.Format(time.RFC3339))
			}
		}
	}
	if seen != st.Findings {
		p.add("%d non-compliant resource rows, want %d", seen, st.Findings)
	}
	return want, st, p.err()
}

// checkFindingsFile compares a findings file with the expected one: the
// run line, then every finding line (key, name, annotation, times, carried).
func checkFindingsFile(p *problems, got, want *Findings) {
	if got.RunID != want.RunID {
		p.add("findings file run_id = %q, want %q", got.RunID, want.RunID)
	}
	if !got.GeneratedAt.Equal(want.GeneratedAt) {
		p.add("findings file generated_at = %s, want %s", got.GeneratedAt.Format(time.RFC3339Nano), want.GeneratedAt.Format(time.RFC3339Nano))
	}
	if got.BaselineRunID != want.BaselineRunID {
		p.add("findings file baseline_run_id = %q, want %q", got.BaselineRunID, want.BaselineRunID)
	}
	if len(got.Lines) != len(want.Lines) {
		p.add("findings file has %d finding lines, want %d", len(got.Lines), len(want.Lines))
	}
	keys := make([]awssim.ResultKey, 0, len(want.Lines))
	for k := range want.Lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	for _, k := range keys {
		w := want.Lines[k]
		g, ok := got.Lines[k]
		switch {
		case !ok:
			p.add("findings file lacks %v (carried %v)", k, w.Carried)
		case g.Carried != w.Carried:
			p.add("findings file %v carried = %v, want %v", k, g.Carried, w.Carried)
		case !g.FirstSeen.Equal(w.FirstSeen):
			p.add("findings file %v first_seen = %s, want %s", k, g.FirstSeen.Format(time.RFC3339), w.FirstSeen.Format(time.RFC3339))
		case g.AccountName != w.AccountName || g.Annotation != w.Annotation || g.LastEvaluated.Sub(w.LastEvaluated).Abs() > time.Second:
			p.add("findings file %v = %+v, want %+v", k, g, w)
		}
	}
	for k := range got.Lines {
		if _, ok := want.Lines[k]; !ok {
			p.add("findings file has %v, not expected", k)
		}
	}
}

// ReadFindings reads a findings file with encoding/json (not the
// renderer's reader): the run line, then the finding lines, which must be
// in key order with no key twice; it checks the gzip header is fixed
// (mtime 0, no name).
func ReadFindings(path string) (*Findings, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("findings file: %w", err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return nil, fmt.Errorf("findings file %s: %w", path, err)
	}
	if !zr.Header.ModTime.IsZero() || zr.Header.Name != "" {
		return nil, fmt.Errorf("findings file %s: gzip header has mtime %v, name %q; want neither", path, zr.Header.ModTime, zr.Header.Name)
	}
	type line struct {
		Kind          string  `json:"kind"`
		RunID         string  `json:"run_id"`
		GeneratedAt   string  `json:"generated_at"`
		BaselineRunID *string `json:"baseline_run_id"`
		AccountID     string  `json:"account_id"`
		AccountName   string  `json:"account_name"`
		Region        string  `json:"region"`
		RuleName      string  `json:"rule_name"`
		ResourceType  string  `json:"resource_type"`
		ResourceID    string  `json:"resource_id"`
		Annotation    *string `json:"annotation"`
		LastEvaluated string  `json:"last_evaluated"`
		FirstSeen     string  `json:"first_seen"`
		Carried       bool    `json:"carried"`
	}
	out := &Findings{Lines: map[awssim.ResultKey]Finding{}}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	n := 0
	var prev *awssim.ResultKey
	for sc.Scan() {
		n++
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("findings file %s line %d: %w", path, n, err)
		}
		switch {
		case n == 1:
			if l.Kind != "run" {
				return nil, fmt.Errorf("findings file %s: line 1 is %q, want the run line", path, l.Kind)
			}
			out.RunID = l.RunID
			if out.GeneratedAt, err = time.Parse(time.RFC3339, l.GeneratedAt); err != nil {
				return nil, fmt.Errorf("findings file %s: generated_at: %w", path, err)
			}
			if l.BaselineRunID != nil {
				out.BaselineRunID = *l.BaselineRunID
			}
		case l.Kind == "coverage":
			if len(out.Lines) > 0 {
				return nil, fmt.Errorf("findings file %s line %d: a coverage line after the findings", path, n)
			}
		case l.Kind == "finding":
			k := awssim.ResultKey{AccountID: l.AccountID, Region: l.Region, Rule: l.RuleName, ResourceType: l.ResourceType, ResourceID: l.ResourceID}
			if prev != nil && !keyLess(*prev, k) {
				return nil, fmt.Errorf("findings file %s line %d: %v is not after %v", path, n, k, *prev)
			}
			prev = &k
			f := Finding{AccountName: l.AccountName, Carried: l.Carried}
			if l.Annotation != nil {
				f.Annotation = *l.Annotation
			}
			if f.FirstSeen, err = time.Parse(time.RFC3339, l.FirstSeen); err != nil {
				return nil, fmt.Errorf("findings file %s line %d: first_seen: %w", path, n, err)
			}
			if l.LastEvaluated != "" {
				if f.LastEvaluated, err = time.Parse(time.RFC3339, l.LastEvaluated); err != nil {
					return nil, fmt.Errorf("findings file %s line %d: last_evaluated: %w", path, n, err)
				}
			}
			out.Lines[k] = f
		default:
			return nil, fmt.Errorf("findings file %s line %d: kind %q", path, n, l.Kind)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("findings file %s: %w", path, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("findings file %s is empty", path)
	}
	return out, nil
}
