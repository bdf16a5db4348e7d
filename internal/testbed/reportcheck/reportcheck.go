// Package reportcheck compares a compliance workbook with the ground truth
// of the awssim organisation it was scanned from, row for row: every ACTIVE
// account with its status and counts, every NON_COMPLIANT result, every
// error, every rule, every (account, region) of the Coverage sheet, and the
// owner columns. CheckChanges (changes.go) checks week over week: the
// Changes sheet, First Seen and the findings file, against a chain of
// weeks' truth. The local end-to-end test, the services' end-to-end run,
// the load harness and the chaos suite all judge a report with it.
//
// It is test infrastructure: it knows awssim's faults (denied accounts,
// failing regions, opt-in regions not enabled, recorders stopped or absent)
// and REPORT_FORMAT.md's counting rules, and nothing of how the pipeline
// computed its answer. The check is exact: a region DescribeRegions calls
// enabled is Region Enabled `yes` and its recorder's state is shown, so a
// workbook from a scanner that asks neither fails it.
package reportcheck

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// Expect is what the workbook should say.
type Expect struct {
	Org *awssim.Org
	// Regions scanned, in configured order.
	Regions []string
	// Accounts the run set out to scan; nil means every ACTIVE account.
	Accounts []string
	// Missing accounts are expected MISSING (kept from being scanned
	// before the deadline).
	Missing map[string]bool
	// RunID and Trigger, when set, are checked on the Summary block.
	RunID, Trigger string
	// OwnerTags are the run's -owner-tags entries: the owner columns
	// expected at the right end of Summary, Non-compliant Resources,
	// Errors and Coverage, each account's value read from the org's tags
	// through the same rules (events.OwnerTag.Value).
	OwnerTags []events.OwnerTag
	// TransientFaults: the org also answers some calls with 5xx
	// (-error-rate), so a permanent error may come after retried transient
	// ones and its Attempts is at least 1 instead of exactly 1.
	TransientFaults bool
}

// Stats summarise a checked workbook.
type Stats struct {
	Accounts, Findings, Errors, Rules, Coverage int
}

const (
	sheetSummary  = "Summary"
	sheetRules    = "Rules"
	sheetFindings = "Non-compliant Resources"
	sheetErrors   = "Errors"
	sheetChanges  = "Changes" // accepted here; its content is checked elsewhere
	sheetCoverage = "Coverage"
	tableHeader   = 10 // Summary's table header row
)

// Headers of the tables, less the owner columns.
var (
	summaryHeaders  = []string{"Account ID", "Account Name", "OU Path", "Rules Evaluated", "Compliant Rules", "Non-compliant Rules", "Non-compliant Resources", "Compliance %", "Scan Status"}
	findingsHeaders = []string{"Account ID", "Account Name", "Region", "Rule Name", "Resource Type", "Resource ID", "Compliance", "Annotation", "Last Evaluated (UTC)", "First Seen (UTC)"}
	errorsHeaders   = []string{"Account ID", "Account Name", "Region", "Stage", "Error Code", "Message", "Attempts"}
	coverageHeaders = []string{"Account ID", "Account Name", "Region", "Region Enabled", "Config Recorder", "Rules", "Read"}
)

type acctTruth struct {
	id, name, ou, status          string
	evaluated, compliant, nonComp int
	ncResources                   int
	owners                        []string // one per Expect.OwnerTags
	// coverage: one Coverage row per configured region, as the sheet
	// shows it (Region Enabled, Config Recorder, Rules, Read).
	coverage [][4]string
}

type problems struct {
	errs []error
	more int
}

func (p *problems) add(format string, args ...any) {
	if len(p.errs) >= 25 {
		p.more++
		return
	}
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *problems) err() error {
	if p.more > 0 {
		p.errs = append(p.errs, fmt.Errorf("... and %d more differences", p.more))
	}
	return errors.Join(p.errs...)
}

// Check opens the workbook at path and compares it with e. The error lists
// every difference found (capped).
func Check(path string, e Expect) (Stats, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return Stats{}, fmt.Errorf("open workbook: %w", err)
	}
	defer f.Close()
	var p problems
	var st Stats

	ids := e.Accounts
	if ids == nil {
		for _, a := range e.Org.Accounts {
			if a.Status == awssim.StatusActive {
				ids = append(ids, a.ID)
			}
		}
	}
	ids = slices.Clone(ids)
	sort.Strings(ids)

	// Ground truth.
	var accts []acctTruth
	var wantFindings, wantErrors [][]string
	type ruleAgg struct {
		source              string
		evaluated, ncAccts  map[string]bool
		ncResources         int
		sourceFrom, srcRank string
	}
	rules := map[string]*ruleAgg{}
	for _, id := range ids {
		a, ok := e.Org.Account(id)
		if !ok {
			p.add("account %s is not in the org", id)
			continue
		}
		t := acctTruth{id: id, name: a.Name, ou: a.OUPath}
		tags := make(map[string]string)
		for _, tg := range e.Org.Tags(id) {
			tags[tg.Key] = tg.Value
		}
		for _, ot := range e.OwnerTags {
			t.owners = append(t.owners, ot.Value(tags))
		}
		switch {
		case e.Missing[id]:
			t.status = "MISSING"
			wantErrors = append(wantErrors, []string{id, a.Name, "", "missing", "NoResult", "no result before the deadline", "0"})
			for range e.Regions {
				t.coverage = append(t.coverage, [4]string{"", "", "", "missing"})
			}
		case a.Denied:
			t.status = "FAILED"
			wantErrors = append(wantErrors, []string{id, a.Name, "", "assume-role", "AccessDenied", "*", "1"})
			for range e.Regions {
				t.coverage = append(t.coverage, [4]string{"", "", "", "failed"})
			}
		default:
			enabled, failed, notRecording := 0, 0, 0
			for ri, region := range e.Regions {
				// What DescribeRegions says: a configured opt-in region the
				// account has not enabled is skipped, and is no error.
				if e.Org.OptInStatus(id, region) == awssim.NotOptedIn {
					t.coverage = append(t.coverage, [4]string{"no", "", "", "skipped"})
					continue
				}
				enabled++
				if e.Org.RegionFails(id, region) {
					// Every Config call fails, the recorder's included: one
					// config row, nothing read.
					failed++
					wantErrors = append(wantErrors, []string{id, a.Name, region, "config", "UnrecognizedClientException", "*", "1"})
					t.coverage = append(t.coverage, [4]string{"yes", "", "", "failed"})
					continue
				}
				// Read and counted whatever the recorder's state: a stopped
				// or absent recorder is a recorder row and makes the
				// account PARTIAL.
				switch rec := e.Org.Recorder(id, region); rec {
				case awssim.RecorderNone:
					notRecording++
					wantErrors = append(wantErrors, []string{id, a.Name, region, "recorder", "NoRecorder", "*", "1"})
				case awssim.RecorderStopped:
					notRecording++
					wantErrors = append(wantErrors, []string{id, a.Name, region, "recorder", "NotRecording", "*", "1"})
				}
				regionRules := e.Org.Rules(id, region)
				t.coverage = append(t.coverage, [4]string{"yes", e.Org.Recorder(id, region), strconv.Itoa(len(regionRules)), "yes"})
				for _, r := range regionRules {
					t.evaluated++
					comp := r.Compliance()
					switch comp {
					case awssim.Compliant:
						t.compliant++
					case awssim.NonCompliant:
						t.nonComp++
					}
					ra := rules[r.Name]
					if ra == nil {
						ra = &ruleAgg{evaluated: map[string]bool{}, ncAccts: map[string]bool{}}
						rules[r.Name] = ra
					}
					src := r.SourceIdentifier
					if r.SourceOwner() != "AWS" {
						src = "CUSTOM"
					}
					// Lowest account id, then first configured region, stands.
					rank := id + "/" + fmt.Sprintf("%03d", ri)
					if ra.srcRank == "" || rank < ra.srcRank {
						ra.source, ra.srcRank = src, rank
					}
					ra.evaluated[id] = true
					if comp == awssim.NonCompliant {
						ra.ncAccts[id] = true
					}
					for _, res := range r.Results {
						if res.Compliance != awssim.NonCompliant {
							continue
						}
						t.ncResources++
						ra.ncResources++
						wantFindings = append(wantFindings, []string{id, a.Name, region, r.Name, res.ResourceType, res.ResourceID, "NON_COMPLIANT", res.Annotation, res.RecordedAt.UTC().Format(time.RFC3339)})
					}
				}
			}
			switch {
			case enabled > 0 && failed == enabled:
				t.status = "FAILED" // every enabled region failed
			case failed > 0 || notRecording > 0:
				t.status = "PARTIAL"
			default:
				t.status = "OK" // no configured region enabled included
			}
		}
		accts = append(accts, t)
	}

	// Sheets and their order.
	sheets := f.GetSheetList()
	var wantSheets []string
	wantSheets = append(wantSheets, sheetSummary, sheetRules, sheetFindings)
	for _, s := range sheets {
		if strings.HasPrefix(s, sheetFindings+" (") {
			wantSheets = append(wantSheets, s)
		}
	}
	wantSheets = append(wantSheets, sheetErrors, sheetChanges, sheetCoverage)
	if !slices.Equal(sheets, wantSheets) {
		p.add("sheets %q, want %q", sheets, wantSheets)
	}

	raw := excelize.Options{RawCellValue: true}
	rows := func(sheet string) [][]string {
		r, err := f.GetRows(sheet, raw)
		if err != nil {
			p.add("read %s: %v", sheet, err)
		}
		return r
	}
	cell := func(r []string, i int) string {
		if i < len(r) {
			return r[i]
		}
		return ""
	}

	// Summary block.
	sum := rows(sheetSummary)
	block := map[string]string{}
	for i := 0; i < 8 && i < len(sum); i++ {
		block[cell(sum[i], 0)] = cell(sum[i], 1)
	}
	scanned, failedOrMissing := 0, 0
	for _, a := range accts {
		if a.status == "OK" || a.status == "PARTIAL" {
			scanned++
		} else {
			failedOrMissing++
		}
	}
	for k, want := range map[string]string{
		"Report": "AWS Config compliance report", "Regions": strings.Join(e.Regions, ","),
		"Accounts expected": strconv.Itoa(len(accts)), "Accounts scanned": strconv.Itoa(scanned),
		"Accounts failed or missing": strconv.Itoa(failedOrMissing),
	} {
		if block[k] != want {
			p.add("Summary %s = %q, want %q", k, block[k], want)
		}
	}
	if e.RunID != "" && block["Run ID"] != e.RunID {
		p.add("Summary Run ID = %q, want %q", block["Run ID"], e.RunID)
	}
	if e.Trigger != "" && block["Trigger"] != e.Trigger {
		p.add("Summary Trigger = %q, want %q", block["Trigger"], e.Trigger)
	}

	var owners []string
	for _, ot := range e.OwnerTags {
		owners = append(owners, ot.Header())
	}
	byID := make(map[string]*acctTruth, len(accts))
	for i := range accts {
		byID[accts[i].id] = &accts[i]
	}
	// header checks a table's header row: its columns, then the owners'.
	header := func(sheet string, r []string, want []string) {
		want = append(slices.Clone(want), owners...)
		if len(r) != len(want) || !slices.Equal(r, want) {
			p.add("%s header %q, want %q", sheet, r, want)
		}
	}
	// ownerCells checks the owner columns of a row, from column first on.
	ownerCells := func(where string, r []string, first int, id string) {
		a := byID[id]
		if a == nil {
			return // reported elsewhere
		}
		for k, w := range a.owners {
			if got := cell(r, first+k); got != w {
				p.add("%s (%s) owner column %q = %q, want %q", where, id, owners[k], got, w)
			}
		}
		if len(r) > first+len(owners) {
			p.add("%s (%s) has %d columns, want %d", where, id, len(r), first+len(owners))
		}
	}

	// Summary table, one row per expected account in id order.
	var table [][]string
	if len(sum) >= tableHeader {
		header(sheetSummary, sum[tableHeader-1], summaryHeaders)
	}
	if len(sum) > tableHeader {
		table = sum[tableHeader:]
	}
	if len(table) != len(accts) {
		p.add("Summary has %d account rows, want %d", len(table), len(accts))
	}
	for i := 0; i < len(table) && i < len(accts); i++ {
		r, a := table[i], accts[i]
		want := []string{a.id, a.name, a.ou, "", "", "", "", "", a.status}
		if a.status == "OK" || a.status == "PARTIAL" {
			want[3], want[4], want[5], want[6] = strconv.Itoa(a.evaluated), strconv.Itoa(a.compliant), strconv.Itoa(a.nonComp), strconv.Itoa(a.ncResources)
		}
		for c, w := range want {
			if c == 7 {
				continue
			}
			if got := cell(r, c); got != w {
				p.add("Summary row %d (%s) column %c = %q, want %q", tableHeader+1+i, a.id, 'A'+c, got, w)
			}
		}
		pct := cell(r, 7)
		if den := a.compliant + a.nonComp; den > 0 && (a.status == "OK" || a.status == "PARTIAL") {
			if !near(pct, float64(a.compliant)/float64(den)) {
				p.add("Summary %s Compliance %% = %q, want %v", a.id, pct, float64(a.compliant)/float64(den))
			}
		} else if pct != "" {
			p.add("Summary %s Compliance %% = %q, want empty", a.id, pct)
		}
		ownerCells(fmt.Sprintf("Summary row %d", tableHeader+1+i), r, len(summaryHeaders), a.id)
	}
	st.Accounts = len(table)

	// Findings across the findings sheet and its spill sheets, sorted.
	// The report's order, then annotation and time, as the aggregator
	// breaks ties between results of the same resource.
	sort.Slice(wantFindings, func(i, j int) bool { return less(wantFindings[i], wantFindings[j], []int{0, 2, 3, 4, 5, 7, 8}) })
	var gotFindings [][]string
	for _, s := range sheets {
		if s != sheetFindings && !strings.HasPrefix(s, sheetFindings+" (") {
			continue
		}
		r := rows(s)
		if len(r) > 0 {
			header(s, r[0], findingsHeaders)
			gotFindings = append(gotFindings, r[1:]...)
		}
	}
	if len(gotFindings) != len(wantFindings) {
		p.add("%d non-compliant resources, want %d", len(gotFindings), len(wantFindings))
	}
	for i := 0; i < len(gotFindings) && i < len(wantFindings); i++ {
		g, w := gotFindings[i], wantFindings[i]
		for c := 0; c < 8; c++ {
			if cell(g, c) != w[c] {
				p.add("finding %d column %c = %q, want %q (%v)", i+1, 'A'+c, cell(g, c), w[c], w[:6])
				break
			}
		}
		wantT, _ := time.Parse(time.RFC3339, w[8])
		if got, err := excelTime(cell(g, 8)); err != nil || got.Sub(wantT).Abs() > time.Second {
			p.add("finding %d Last Evaluated = %q (%v), want %s", i+1, cell(g, 8), got, w[8])
		}
		ownerCells(fmt.Sprintf("finding %d", i+1), g, len(findingsHeaders), w[0])
	}
	st.Findings = len(gotFindings)

	// Errors: sorted by account, region (empty first), stage.
	sort.Slice(wantErrors, func(i, j int) bool { return less(wantErrors[i], wantErrors[j], []int{0, 2, 3}) })
	er := rows(sheetErrors)
	if len(er) == 0 {
		p.add("Errors sheet has no header")
	} else {
		header(sheetErrors, er[0], errorsHeaders)
		er = er[1:]
	}
	if len(er) != len(wantErrors) {
		p.add("%d error rows, want %d", len(er), len(wantErrors))
	}
	for i := 0; i < len(er) && i < len(wantErrors); i++ {
		for c, w := range wantErrors[i] {
			if w == "*" {
				if cell(er[i], c) == "" {
					p.add("error row %d has an empty message", i+2)
				}
				continue
			}
			if c == 6 && w == "1" && e.TransientFaults {
				if n, err := strconv.Atoi(cell(er[i], c)); err != nil || n < 1 {
					p.add("error row %d attempts = %q, want at least 1", i+2, cell(er[i], c))
				}
				continue
			}
			if got := cell(er[i], c); got != w {
				p.add("error row %d column %c = %q, want %q (%v)", i+2, 'A'+c, got, w, wantErrors[i][:4])
				break
			}
		}
		ownerCells(fmt.Sprintf("error row %d", i+2), er[i], len(errorsHeaders), wantErrors[i][0])
	}
	st.Errors = len(er)

	// Coverage: one row per (account, configured region), accounts in id
	// order, regions in configured order.
	cv := rows(sheetCoverage)
	if len(cv) == 0 {
		p.add("Coverage sheet has no header")
	} else {
		header(sheetCoverage, cv[0], coverageHeaders)
		cv = cv[1:]
	}
	if want := len(accts) * len(e.Regions); len(cv) != want {
		p.add("%d coverage rows, want %d", len(cv), want)
	}
	n := 0
	for _, a := range accts {
		for ri, region := range e.Regions {
			if n >= len(cv) {
				break
			}
			r := cv[n]
			n++
			want := append([]string{a.id, a.name, region}, a.coverage[ri][:]...)
			for c, w := range want {
				if got := cell(r, c); got != w {
					p.add("coverage row %d (%s %s) %s = %q, want %q", n+1, a.id, region, coverageHeaders[c], got, w)
				}
			}
			ownerCells(fmt.Sprintf("coverage row %d", n+1), r, len(coverageHeaders), a.id)
		}
	}
	st.Coverage = len(cv)

	// Rules: one row per rule name.
	rr := rows(sheetRules)
	if len(rr) > 0 {
		rr = rr[1:]
	}
	if len(rr) != len(rules) {
		p.add("%d rule rows, want %d", len(rr), len(rules))
	}
	for i, r := range rr {
		name := cell(r, 0)
		ra := rules[name]
		if ra == nil {
			p.add("rule row %d: unexpected rule %q", i+2, name)
			continue
		}
		want := []string{name, ra.source, strconv.Itoa(len(ra.evaluated)), strconv.Itoa(len(ra.ncAccts)), strconv.Itoa(ra.ncResources)}
		for c, w := range want {
			if got := cell(r, c); got != w {
				p.add("rule %s column %c = %q, want %q", name, 'A'+c, got, w)
			}
		}
		if i > 0 {
			prevNC, _ := strconv.Atoi(cell(rr[i-1], 3))
			nc, _ := strconv.Atoi(cell(r, 3))
			if nc > prevNC || (nc == prevNC && name < cell(rr[i-1], 0)) {
				p.add("rule row %d (%s) out of order", i+2, name)
			}
		}
	}
	st.Rules = len(rr)
	return st, p.err()
}

func less(a, b []string, cols []int) bool {
	for _, c := range cols {
		if a[c] != b[c] {
			return a[c] < b[c]
		}
	}
	return false
}

func near(s string, want float64) bool {
	v, err := strconv.ParseFloat(s, 64)
	return err == nil && math.Abs(v-want) < 1e-9
}

func excelTime(s string) (time.Time, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, err
	}
	return excelize.ExcelDateToTime(v, false)
}
