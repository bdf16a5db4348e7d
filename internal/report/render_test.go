package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

var genAt = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

func baseRun() Run {
	return Run{RunID: "run-1", GeneratedAt: genAt, Trigger: TriggerScheduled, Regions: []string{"us-east-1", "eu-west-1"}}
}

func open(t testing.TB, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// cellsOf returns the raw cells of a sheet by reference: presence, type and
// formula are only visible in the XML.
func cellsOf(t testing.TB, data []byte, sheet string) map[string]rawCell {
	t.Helper()
	_, parts := zipEntries(t, data)
	p, ok := sheetPaths(t, parts)[sheet]
	if !ok {
		t.Fatalf("no sheet %q", sheet)
	}
	var ws rawSheet
	if err := xml.Unmarshal(parts[p], &ws); err != nil {
		t.Fatal(err)
	}
	m := map[string]rawCell{}
	for _, r := range ws.Rows {
		for _, c := range r.C {
			m[c.R] = c
		}
	}
	return m
}

func mustRender(t testing.TB, run Run, accts []Account, errs []ErrorRow, fs []Finding) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(context.Background(), &buf, run, accts, errs, sliceFindings(fs)); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.Bytes()
}

func renderErr(run Run, accts []Account, errs []ErrorRow, fs Findings) error {
	return Render(context.Background(), &bytes.Buffer{}, run, accts, errs, fs)
}

// TestDeterministic renders ten times, with the inputs shuffled and several
// streamed sheets (whose parts excelize writes in map order), and wants the
// same bytes every time.
func TestDeterministic(t *testing.T) {
	defer lowerLimits(3, 2)()
	fx := loadFixture(t, "testdata/small.json")
	var first []byte
	for i := range 10 {
		accts := slices.Clone(fx.Accounts)
		errs := slices.Clone(fx.Errors)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		r.Shuffle(len(accts), func(a, b int) { accts[a], accts[b] = accts[b], accts[a] })
		r.Shuffle(len(errs), func(a, b int) { errs[a], errs[b] = errs[b], errs[a] })
		for j := range accts {
			rules := slices.Clone(accts[j].Rules)
			r.Shuffle(len(rules), func(a, b int) { rules[a], rules[b] = rules[b], rules[a] })
			accts[j].Rules = rules
		}
		got := mustRender(t, fx.Run, accts, errs, fx.Findings)
		if i == 0 {
			first = got
			if n := len(open(t, got).GetSheetList()); n != 8 {
				t.Fatalf("want 8 sheets (two spills), got %d", n)
			}
			continue
		}
		if !bytes.Equal(first, got) {
			t.Fatalf("render %d differs from render 0 (%d vs %d bytes)", i, len(got), len(first))
		}
	}
	// The archive is not merely stable but stamped with GeneratedAt only.
	entries, _ := zipEntries(t, first)
	for _, e := range entries {
		if !e.Modified.Equal(fx.Run.GeneratedAt) {
			t.Errorf("entry %s modified %v, want %v", e.Name, e.Modified, fx.Run.GeneratedAt)
		}
	}
	if entries[0].Name != "[Content_Types].xml" {
		t.Errorf("first entry %s", entries[0].Name)
	}
}

func lowerLimits(rows, sample int) func() {
	r, s := maxDataRows, widthSample
	maxDataRows, widthSample = rows, sample
	return func() { maxDataRows, widthSample = r, s }
}

// TestTextCells: values from AWS stay text, whatever they look like, and
// text starting with =, +, - or @ carries the quote prefix (so editing it in
// Excel cannot turn it into a formula). One account (and one rule, one
// finding) per value, all in one workbook.
func TestTextCells(t *testing.T) {
	values := []string{
		"=1+1", "+1", "-1", "@SUM(A1)", `=HYPERLINK("http://x","y")`, "=cmd|'/c calc'!A1",
		"0012", "1e5", "TRUE", "  padded  ", "line1\nline2", "_x0041_", "tab\tand\u0001ctrl",
		"-", "@", "a=b", " =1+1", "1-2", "\uFF1D1+1",
	}
	var accts []Account
	var fs []Finding
	for i, v := range values {
		id := fmt.Sprintf("%012d", i)
		accts = append(accts, Account{ID: id, Name: v, OUPath: v, Status: StatusOK, Rules: []RuleResult{
			{Region: "us-east-1", Name: fmt.Sprintf("%02d", i) + v, SourceOwner: "AWS", SourceIdentifier: v, Compliance: NonCompliant},
		}})
		fs = append(fs, Finding{AccountID: id, Region: "us-east-1", RuleName: fmt.Sprintf("%02d", i) + v, ResourceType: v,
			ResourceID: v, Compliance: NonCompliant, Annotation: v, RecordedAt: genAt})
	}
	data := mustRender(t, baseRun(), accts, nil, fs)
	f := open(t, data)
	_, parts := zipEntries(t, data)
	quoted := quotePrefixedXfs(t, parts)
	raw := map[string]map[string]rawCell{}
	for _, sheet := range []string{SheetSummary, SheetRules, SheetFindings} {
		raw[sheet] = cellsOf(t, data, sheet)
	}
	for i, v := range values {
		want := strings.ReplaceAll(v, "\u0001", "\uFFFD") // not representable in XML
		// Rules are sorted by name; the two-digit prefix keeps them in value order.
		checks := map[string]map[string]string{
			SheetSummary:  {"B": want, "C": want},
			SheetRules:    {"A": fmt.Sprintf("%02d", i) + want, "B": want},
			SheetFindings: {"E": want, "F": want, "H": want},
		}
		rowOf := map[string]int{SheetSummary: 11 + i, SheetRules: 2 + i, SheetFindings: 2 + i}
		for sheet, cols := range checks {
			for col, exp := range cols {
				ref := fmt.Sprintf("%s%d", col, rowOf[sheet])
				c := raw[sheet][ref]
				if c.T != "inlineStr" || c.F != nil {
					t.Errorf("value %q: %s!%s type %q formula %v, want an inline string", v, sheet, ref, c.T, c.F)
				}
				got, err := f.GetCellValue(sheet, ref)
				if err != nil {
					t.Fatal(err)
				}
				if got != exp {
					t.Errorf("%s!%s = %q, want %q", sheet, ref, got, exp)
				}
				wantQuote := exp[0] == '=' || exp[0] == '+' || exp[0] == '-' || exp[0] == '@'
				if quoted[c.S] != wantQuote {
					t.Errorf("%s!%s = %q: style %d quotePrefix %v, want %v", sheet, ref, exp, c.S, quoted[c.S], wantQuote)
				}
			}
		}
	}
}

// TestLeadingZeros: account ids keep their zeros and sort as text.
func TestLeadingZeros(t *testing.T) {
	accts := []Account{
		{ID: "120000000000", Name: "b", OUPath: "Root", Status: StatusOK},
		{ID: "012000000000", Name: "a", OUPath: "Root", Status: StatusOK},
		{ID: "000000000009", Name: "c", OUPath: "Root", Status: StatusOK},
	}
	data := mustRender(t, baseRun(), accts, nil, nil)
	f := open(t, data)
	for i, want := range []string{"000000000009", "012000000000", "120000000000"} {
		ref := fmt.Sprintf("A%d", 11+i)
		got, _ := f.GetCellValue(SheetSummary, ref)
		if got != want {
			t.Errorf("%s = %q, want %q", ref, got, want)
		}
		if c := cellsOf(t, data, SheetSummary)[ref]; c.T != "inlineStr" {
			t.Errorf("%s type %q, want text", ref, c.T)
		}
	}
}

// TestEmptyRun: no accounts, no errors, no findings: five sheets with their
// headers only.
func TestEmptyRun(t *testing.T) {
	var buf bytes.Buffer
	// A nil iterator is an empty one.
	if err := Render(context.Background(), &buf, baseRun(), nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if !bytes.Equal(data, mustRender(t, baseRun(), nil, nil, nil)) {
		t.Errorf("nil and empty iterators render differently")
	}
	if cfs, _ := open(t, data).GetConditionalFormats(SheetSummary); len(cfs["I11:I11"]) != 0 {
		t.Errorf("the not-OK rule would paint the empty placeholder row red")
	}
	f := open(t, data)
	if got := f.GetSheetList(); !slices.Equal(got, []string{SheetSummary, SheetRules, SheetFindings, SheetErrors, SheetChanges, SheetCoverage}) {
		t.Fatalf("sheets %v", got)
	}
	for sheet, hdr := range map[string][]string{SheetRules: rulesHeaders, SheetFindings: findingsHeaders, SheetErrors: errorsHeaders, SheetCoverage: coverageHeaders} {
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || !slices.Equal(rows[0], hdr) {
			t.Errorf("%s rows %q, want only the header", sheet, rows)
		}
	}
	rows, _ := f.GetRows(SheetSummary)
	if len(rows) != 10 || !slices.Equal(rows[9], summaryHeaders) {
		t.Errorf("Summary rows %q", rows)
	}
	for ref, want := range map[string]string{"B6": "0", "B7": "0", "B8": "0"} {
		if got, _ := f.GetCellValue(SheetSummary, ref); got != want {
			t.Errorf("Summary!%s = %q, want %q", ref, got, want)
		}
	}
}

// TestFailedAndMissing: empty counts (no cell at all), the statuses, the
// block totals and the missing account's Errors row.
func TestFailedAndMissing(t *testing.T) {
	accts := []Account{
		{ID: "111111111111", Name: "failed", OUPath: "Root", Status: StatusFailed},
		{ID: "222222222222", Name: "missing", OUPath: "Root/Dev", Status: StatusMissing},
		{ID: "333333333333", Name: "ok", OUPath: "Root", Status: StatusOK, Rules: []RuleResult{
			{Region: "us-east-1", Name: "r1", SourceOwner: "AWS", SourceIdentifier: "R1", Compliance: "NOT_APPLICABLE"},
		}},
	}
	errs := []ErrorRow{{AccountID: "111111111111", Stage: "assume-role", Code: "AccessDenied", Message: "denied", Attempts: 1}}
	data := mustRender(t, baseRun(), accts, errs, nil)
	raw := cellsOf(t, data, SheetSummary)
	for _, row := range []int{11, 12} {
		for _, col := range "DEFGH" {
			ref := fmt.Sprintf("%c%d", col, row)
			if c, ok := raw[ref]; ok {
				t.Errorf("Summary!%s exists (%+v), want no cell", ref, c)
			}
		}
	}
	// OK account with only a NOT_APPLICABLE rule: counted, but nothing to divide.
	for ref, want := range map[string]string{"D13": "1", "E13": "0", "F13": "0", "G13": "0"} {
		if c := raw[ref]; c.V == nil || *c.V != want {
			t.Errorf("Summary!%s = %+v, want %s", ref, c, want)
		}
	}
	if _, ok := raw["H13"]; ok {
		t.Errorf("Compliance %% with nothing to divide must be no cell")
	}
	f := open(t, data)
	for ref, want := range map[string]string{"I11": "FAILED", "I12": "MISSING", "I13": "OK", "B6": "3", "B7": "1", "B8": "2"} {
		if got, _ := f.GetCellValue(SheetSummary, ref); got != want {
			t.Errorf("Summary!%s = %q, want %q", ref, got, want)
		}
	}
	rows, _ := f.GetRows(SheetErrors)
	want := [][]string{errorsHeaders,
		{"111111111111", "failed", "", "assume-role", "AccessDenied", "denied", "1"},
		{"222222222222", "missing", "", "missing", "NoResult", "no result before the deadline", "0"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("Errors rows\n got %q\nwant %q", rows, want)
	}
	if _, ok := cellsOf(t, data, SheetErrors)["C3"]; ok {
		t.Errorf("empty Region must be no cell")
	}
}

// TestErrorsOrder: account, then region with the account-wide row first,
// then stage, whatever the input order.
func TestErrorsOrder(t *testing.T) {
	accts := []Account{
		{ID: "200000000000", Status: StatusPartial},
		{ID: "100000000000", Status: StatusFailed},
	}
	errs := []ErrorRow{
		{AccountID: "200000000000", Region: "us-east-1", Stage: "config", Code: "X"},
		{AccountID: "200000000000", Region: "eu-west-1", Stage: "config", Code: "Y"},
		{AccountID: "100000000000", Region: "us-east-1", Stage: "config", Code: "Z"},
		{AccountID: "100000000000", Region: "", Stage: "assume-role", Code: "W"},
	}
	f := open(t, mustRender(t, baseRun(), accts, errs, nil))
	rows, _ := f.GetRows(SheetErrors)
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0]+"/"+r[2]+"/"+r[4])
	}
	want := []string{"100000000000//W", "100000000000/us-east-1/Z", "200000000000/eu-west-1/Y", "200000000000/us-east-1/X"}
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestCellText(t *testing.T) {
	limit := maxCellUnits
	marker := utf16Len(truncMarker)
	emoji := "😀" // two UTF-16 units
	cases := []struct {
		name      string
		in        string
		wantUnits int
		truncated bool
	}{
		{"short", "abc", 3, false},
		{"exactly the limit", strings.Repeat("a", limit), limit, false},
		{"limit in pairs", strings.Repeat(emoji, limit/2) + "a", limit, false},
		{"one over", strings.Repeat("a", limit+1), limit, true},
		{"far over", strings.Repeat("é", 100000), limit, true},
		// The cut point (limit-marker units) falls inside a pair: the pair
		// goes whole, one unit short of the limit.
		{"pair across the cut", strings.Repeat("a", limit-marker-1) + strings.Repeat(emoji, 10), limit - 1, true},
		{"pair ending at the cut", strings.Repeat("a", limit-marker-2) + strings.Repeat(emoji, 10), limit, true},
		{"invalid utf-8", "a\xffb", 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := cellText(c.in)
			units := len(utf16.Encode([]rune(got)))
			if units != c.wantUnits {
				t.Errorf("%d UTF-16 units, want %d", units, c.wantUnits)
			}
			if strings.HasSuffix(got, truncMarker) != c.truncated {
				t.Errorf("truncated=%v, want %v", !c.truncated, c.truncated)
			}
			if !c.truncated && utf8.ValidString(c.in) && got != c.in {
				t.Errorf("valid text under the limit was changed")
			}
			if c.truncated && !strings.HasPrefix(c.in, strings.TrimSuffix(got, truncMarker)) {
				t.Errorf("the kept part is not a prefix of the input")
			}
		})
	}
}

// TestTruncatedInWorkbook: the cut text survives excelize (which would cut
// silently at the limit itself) and reads back at the limit exactly.
func TestTruncatedInWorkbook(t *testing.T) {
	long := strings.Repeat("x", 40000) + "😀"
	acct := Account{ID: "000000000001", Status: StatusOK, Rules: []RuleResult{{Region: "us-east-1", Name: "r", Compliance: NonCompliant}}}
	fnd := Finding{AccountID: "000000000001", Region: "us-east-1", RuleName: "r", ResourceType: "T", ResourceID: "i", Compliance: NonCompliant, Annotation: long}
	f := open(t, mustRender(t, baseRun(), []Account{acct}, nil, []Finding{fnd}))
	got, _ := f.GetCellValue(SheetFindings, "H2")
	if n := len(utf16.Encode([]rune(got))); n != maxCellUnits || !strings.HasSuffix(got, " …[truncated]") {
		t.Errorf("annotation: %d units, suffix %q", n, got[len(got)-20:])
	}
}

func spillFixture(n int) ([]Account, []Finding) {
	acct := Account{ID: "000000000001", Name: "a", OUPath: "Root", Status: StatusOK, Rules: []RuleResult{
		{Region: "us-east-1", Name: "r", SourceOwner: "AWS", SourceIdentifier: "R", Compliance: NonCompliant}}}
	var fs []Finding
	for i := range n {
		fs = append(fs, Finding{AccountID: acct.ID, Region: "us-east-1", RuleName: "r", ResourceType: "AWS::S3::Bucket",
			ResourceID: fmt.Sprintf("b%03d", i), Compliance: NonCompliant, RecordedAt: genAt})
	}
	return []Account{acct}, fs
}

func TestSpill(t *testing.T) {
	defer lowerLimits(3, 2)()
	cases := []struct {
		findings  int
		sheetRows []int // data rows per findings sheet
	}{
		{0, []int{0}},
		{3, []int{3}},
		{4, []int{3, 1}},
		{6, []int{3, 3}},
		{8, []int{3, 3, 2}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.findings), func(t *testing.T) {
			accts, fs := spillFixture(c.findings)
			data := mustRender(t, baseRun(), accts, nil, fs)
			f := open(t, data)
			want := []string{SheetSummary, SheetRules}
			for i := range c.sheetRows {
				want = append(want, findingsSheetName(i+1))
			}
			want = append(want, SheetErrors, SheetChanges, SheetCoverage)
			if got := f.GetSheetList(); !slices.Equal(got, want) {
				t.Fatalf("sheets %q, want %q", got, want)
			}
			next := 0
			for i, n := range c.sheetRows {
				sheet := findingsSheetName(i + 1)
				rows, _ := f.GetRows(sheet)
				if len(rows) != n+1 || !slices.Equal(rows[0], findingsHeaders) {
					t.Fatalf("%s: %d rows (header %q)", sheet, len(rows), rows[0])
				}
				for _, r := range rows[1:] {
					if w := fmt.Sprintf("b%03d", next); r[5] != w {
						t.Errorf("%s: resource %s, want %s", sheet, r[5], w)
					}
					next++
				}
				tables, _ := f.GetTables(sheet)
				if len(tables) != 1 || tables[0].Range != fmt.Sprintf("A1:J%d", max(n+1, 2)) {
					t.Errorf("%s: tables %+v", sheet, tables)
				}
				cfs, _ := f.GetConditionalFormats(sheet)
				if len(cfs["G2:G1048576"]) != 1 {
					t.Errorf("%s: conditional formats %v", sheet, cfs)
				}
				p, _ := f.GetPanes(sheet)
				if !p.Freeze || p.YSplit != 1 {
					t.Errorf("%s: panes %+v", sheet, p)
				}
			}
			if got, _ := f.GetCellValue(SheetSummary, "G11"); got != fmt.Sprint(c.findings) {
				t.Errorf("Summary Non-compliant Resources %s, want %d", got, c.findings)
			}
			if got, _ := f.GetCellValue(SheetRules, "E2"); got != fmt.Sprint(c.findings) {
				t.Errorf("Rules Non-compliant Resources %s, want %d", got, c.findings)
			}
		})
	}
}

// TestRules: ordering by Non-compliant Accounts then name, and the source
// identifier from the lowest account id, then the first configured region.
func TestRules(t *testing.T) {
	run := baseRun()
	run.Regions = []string{"us-east-1", "eu-west-1", "ap-east-1"}
	accts := []Account{
		{ID: "300000000000", Status: StatusOK, Rules: []RuleResult{
			{Region: "us-east-1", Name: "beta", SourceOwner: "AWS", SourceIdentifier: "FROM_300", Compliance: NonCompliant},
			{Region: "us-east-1", Name: "alpha", SourceOwner: "AWS", SourceIdentifier: "A", Compliance: NonCompliant},
			{Region: "us-east-1", Name: "gamma", SourceOwner: "AWS", SourceIdentifier: "G", Compliance: Compliant},
		}},
		{ID: "020000000000", Status: StatusPartial, Rules: []RuleResult{
			// Lowest account: its first configured region (eu-west-1 before
			// ap-east-1) wins over the higher account's us-east-1.
			{Region: "ap-east-1", Name: "beta", SourceOwner: "AWS", SourceIdentifier: "FROM_020_AP", Compliance: Compliant},
			{Region: "eu-west-1", Name: "beta", SourceOwner: "CUSTOM_LAMBDA", SourceIdentifier: "arn:aws:lambda:x", Compliance: NonCompliant},
			{Region: "ap-east-1", Name: "alpha", SourceOwner: "AWS", SourceIdentifier: "A", Compliance: NonCompliant},
			{Region: "eu-west-1", Name: "alpha", SourceOwner: "AWS", SourceIdentifier: "A", Compliance: NonCompliant},
		}},
		{ID: "100000000000", Status: StatusOK, Rules: []RuleResult{
			{Region: "us-east-1", Name: "gamma", SourceOwner: "CUSTOM_POLICY", SourceIdentifier: "", Compliance: "INSUFFICIENT_DATA"},
			{Region: "us-east-1", Name: "delta", SourceOwner: "AWS", SourceIdentifier: "D", Compliance: NonCompliant},
		}},
		{ID: "000000000000", Status: StatusFailed},
	}
	fs := []Finding{
		{AccountID: "020000000000", Region: "ap-east-1", RuleName: "alpha", ResourceType: "T", ResourceID: "1", Compliance: NonCompliant},
		{AccountID: "020000000000", Region: "eu-west-1", RuleName: "alpha", ResourceType: "T", ResourceID: "1", Compliance: NonCompliant},
		{AccountID: "020000000000", Region: "eu-west-1", RuleName: "beta", ResourceType: "T", ResourceID: "2", Compliance: NonCompliant},
		{AccountID: "300000000000", Region: "us-east-1", RuleName: "alpha", ResourceType: "T", ResourceID: "3", Compliance: NonCompliant},
	}
	errs := []ErrorRow{{AccountID: "000000000000", Stage: "assume-role", Code: "AccessDenied", Attempts: 1}}
	f := open(t, mustRender(t, run, accts, errs, fs))
	rows, _ := f.GetRows(SheetRules)
	want := [][]string{rulesHeaders,
		{"alpha", "A", "2", "2", "3", "0.0%"},
		{"beta", "CUSTOM", "2", "2", "1", "0.0%"},
		{"delta", "D", "1", "1", "0", "0.0%"},
		{"gamma", "CUSTOM", "2", "0", "0", "100.0%"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("Rules\n got %q\nwant %q", rows, want)
	}
}

func TestFindingsRejected(t *testing.T) {
	accts := []Account{
		{ID: "100000000000", Status: StatusOK, Rules: []RuleResult{
			{Region: "us-east-1", Name: "r", Compliance: NonCompliant},
			{Region: "eu-west-1", Name: "r", Compliance: NonCompliant},
		}},
		{ID: "200000000000", Status: StatusFailed},
	}
	errs := []ErrorRow{{AccountID: "200000000000", Stage: "assume-role", Code: "AccessDenied"}}
	ok := func(id, region, typ, res string) Finding {
		return Finding{AccountID: id, Region: region, RuleName: "r", ResourceType: typ, ResourceID: res, Compliance: NonCompliant}
	}
	boom := errors.New("store read failed")
	cases := []struct {
		name string
		fs   Findings
		want string
		is   error
	}{
		{"region out of order", sliceFindings([]Finding{ok("100000000000", "us-east-1", "T", "a"), ok("100000000000", "eu-west-1", "T", "a")}), "out of order", nil},
		{"resource id out of order", sliceFindings([]Finding{ok("100000000000", "us-east-1", "T", "b"), ok("100000000000", "us-east-1", "T", "a")}), "out of order", nil},
		{"type out of order", sliceFindings([]Finding{ok("100000000000", "us-east-1", "U", "a"), ok("100000000000", "us-east-1", "T", "z")}), "out of order", nil},
		{"account out of order", sliceFindings([]Finding{ok("100000000000", "us-east-1", "T", "a"), ok("0100000000000", "us-east-1", "T", "a")}), "out of order", nil},
		{"unknown account", sliceFindings([]Finding{ok("999999999999", "us-east-1", "T", "a")}), "unknown account", nil},
		{"failed account", sliceFindings([]Finding{ok("200000000000", "us-east-1", "T", "a")}), "account is FAILED", nil},
		{"unknown rule", sliceFindings([]Finding{{AccountID: "100000000000", Region: "us-east-1", RuleName: "nope", Compliance: NonCompliant}}), "has no rule", nil},
		{"compliant", sliceFindings([]Finding{{AccountID: "100000000000", Region: "us-east-1", RuleName: "r", Compliance: Compliant}}), "want NON_COMPLIANT", nil},
		{"iterator error", func(yield func(Finding, error) bool) {
			if yield(ok("100000000000", "eu-west-1", "T", "a"), nil) {
				yield(Finding{}, boom)
			}
		}, "store read failed", boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := renderErr(baseRun(), accts, errs, c.fs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to mention %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v, %v) is false", err, c.is)
			}
		})
	}
	// Equal keys may repeat (DETECTIVE and PROACTIVE results of one resource).
	if err := renderErr(baseRun(), accts, errs, sliceFindings([]Finding{ok("100000000000", "eu-west-1", "T", "a"), ok("100000000000", "eu-west-1", "T", "a")})); err != nil {
		t.Errorf("repeated key rejected: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	accts, _ := spillFixture(0)
	n := 0
	fs := func(yield func(Finding, error) bool) {
		for i := 0; ; i++ {
			if n++; n == 10 {
				cancel()
			}
			if !yield(Finding{AccountID: accts[0].ID, Region: "us-east-1", RuleName: "r", ResourceType: "T", ResourceID: fmt.Sprintf("%09d", i), Compliance: NonCompliant}, nil) {
				return
			}
		}
	}
	err := Render(ctx, &bytes.Buffer{}, baseRun(), accts, nil, fs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	// The findings are read ahead of the render (pullAhead) by at most
	// readAhead.
	if n > ctxCheckEvery+1+readAhead {
		t.Errorf("read %d findings after cancellation", n)
	}
}

func TestInvalidInput(t *testing.T) {
	okAcct := Account{ID: "100000000000", Status: StatusOK, Rules: []RuleResult{{Region: "us-east-1", Name: "r"}}}
	cases := []struct {
		name  string
		run   func(*Run)
		accts []Account
		errs  []ErrorRow
		want  []string
	}{
		{"run", func(r *Run) {
			r.RunID, r.GeneratedAt, r.Trigger, r.Regions = "", time.Time{}, "weekly", []string{"a", "a", ""}
		},
			nil, nil, []string{"empty run id", "is zero or before 1900", `trigger "weekly"`, "region a listed twice", "empty region"}},
		{"accounts", nil, []Account{okAcct, okAcct, {ID: ""}, {ID: "2", Status: "DONE"},
			{ID: "3", Status: StatusFailed, Rules: okAcct.Rules},
			{ID: "4", Status: StatusOK, Rules: []RuleResult{{Region: "mars-1", Name: "r"}, {Region: "us-east-1", Name: "x"}, {Region: "us-east-1", Name: "x"}}}},
			nil, []string{"100000000000: listed twice", "empty account id", `unknown status "DONE"`, "FAILED but has 1 rules", `region "mars-1"`, `rule "x" listed twice`}},
		{"errors", nil, []Account{okAcct, {ID: "5", Status: StatusMissing}},
			[]ErrorRow{{AccountID: "9", Stage: "config"}, {AccountID: "5", Stage: "config"}, {AccountID: okAcct.ID, Region: "us-east-1", Stage: "config"}, {AccountID: okAcct.ID}},
			[]string{`unknown account "9"`, "account 5 is MISSING", "region us-east-1 has an error row and rules", "empty stage"}},
		{"owners", func(r *Run) { r.OwnerColumns = []string{"Owner", "", "Owner"} }, []Account{
			{ID: "6", Status: StatusOK, Owners: []string{"a", "b", "c", "d"}}},
			nil, []string{"empty owner column header at position 1", `owner column "Owner" listed twice`, "account 6: 4 owner values for 3 owner columns"}},
		{"coverage", nil, []Account{
			{ID: "7", Status: StatusMissing, Coverage: []Coverage{{Region: "us-east-1", Read: ReadYes}}},
			{ID: "8", Status: StatusOK, Coverage: []Coverage{
				{Region: "mars-1", Read: ReadYes}, {Region: "us-east-1", Read: ReadYes}, {Region: "us-east-1", Read: ReadFailed},
				{Region: "eu-west-1", Read: ReadMissing, Recorder: "paused", Rules: ptr(-1)}}},
			{ID: "9", Status: StatusPartial, Rules: []RuleResult{{Region: "eu-west-1", Name: "r"}}, Coverage: []Coverage{{Region: "eu-west-1", Read: ReadSkipped}}}},
			nil, []string{"account 7: MISSING but has coverage", `coverage of region "mars-1"`, "coverage of region us-east-1 listed twice",
				`region eu-west-1: read "missing"`, `region eu-west-1: recorder "paused"`, "region eu-west-1: -1 rules",
				"account 9: rules in region eu-west-1, whose coverage says read skipped"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := baseRun()
			if c.run != nil {
				c.run(&run)
			}
			err := renderErr(run, c.accts, c.errs, sliceFindings(nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestTimeCells: date-times are numbers in UTC with the date format; times
// excelize cannot express as a serial (zero, before 1900) are no cell rather
// than RFC 3339 text.
func TestTimeCells(t *testing.T) {
	hk := time.FixedZone("HKT", 8*3600)
	cases := []struct {
		name string
		at   time.Time
		want string // raw value; "" for no cell
	}{
		{"utc", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), "46348.5"},
		{"other zone, same instant", time.Date(2026, 11, 22, 20, 0, 0, 0, hk), "46348.5"},
		{"zero", time.Time{}, ""},
		{"before 1900", time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			accts, fs := spillFixture(1)
			fs[0].RecordedAt = c.at
			data := mustRender(t, baseRun(), accts, nil, fs)
			cell, ok := cellsOf(t, data, SheetFindings)["I2"]
			if c.want == "" {
				if ok {
					t.Fatalf("I2 = %+v, want no cell", cell)
				}
				return
			}
			if !ok || cell.T != "" || cell.V == nil || *cell.V != c.want {
				t.Fatalf("I2 = %+v, want number %s", cell, c.want)
			}
			f := open(t, data)
			st, err := f.GetStyle(cell.S)
			if err != nil || st.CustomNumFmt == nil || *st.CustomNumFmt != "yyyy-mm-dd hh:mm" {
				t.Errorf("I2 style %+v (%v), want yyyy-mm-dd hh:mm", st, err)
			}
		})
	}
}

// TestIteratorStopped: when Render gives up mid-stream, the caller's
// iterator sees yield return false, so a store cursor behind it is closed,
// and has returned by the time Render does. The findings are read ahead
// (pullAhead), so it is told at the latest once the read-ahead is full.
func TestIteratorStopped(t *testing.T) {
	n := prefetchBatch * (prefetchDepth + 4)
	accts, fs := spillFixture(n)
	fs[3], fs[4] = fs[4], fs[3] // out of order at the fifth finding
	stopped, yielded := false, 0
	seq := func(yield func(Finding, error) bool) {
		for _, f := range fs {
			yielded++
			if !yield(f, nil) {
				stopped = true
				return
			}
		}
	}
	err := renderErr(baseRun(), accts, nil, seq)
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("err %v", err)
	}
	if !stopped || yielded >= n {
		t.Errorf("stopped=%v after %d of %d findings, want the iterator told to stop before its end", stopped, yielded, n)
	}
}

func TestTextWidth(t *testing.T) {
	cases := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"first line\nsecond, longer line", 19},
		{"日本語", 6},
		{"😀x", 3},
	}
	for _, c := range cases {
		if got := textWidth(c.in); got != c.want {
			t.Errorf("textWidth(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	w := newWidths([]string{"ID", "Message"})
	w.see(0, 1)
	w.see(1, 500)
	if w.width(0) != minColWidth || w.width(1) != maxColWidth {
		t.Errorf("widths %v %v, want the minimum and the cap", w.width(0), w.width(1))
	}
}

func TestZipTime(t *testing.T) {
	cases := []struct{ in, want time.Time }{
		{time.Date(2026, 11, 23, 1, 0, 13, 999, time.FixedZone("HKT", 8*3600)), time.Date(2026, 11, 22, 17, 0, 12, 0, time.UTC)},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := zipTime(c.in); !got.Equal(c.want) {
			t.Errorf("zipTime(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestCoverage: one row per (account, configured region) in the run's
// region order, given rows as they are, the others derived from the
// status, the error rows (a recorder row does not fail its region) and the
// rules; MISSING accounts read missing; owner values at the right end.
func TestCoverage(t *testing.T) {
	run := baseRun() // us-east-1, eu-west-1
	run.OwnerColumns = []string{"Owner", "Team"}
	accts := []Account{
		{ID: "300000000000", Status: StatusMissing, Owners: []string{"", "t3"}},
		{ID: "100000000000", Status: StatusPartial, Owners: []string{"o1"},
			Rules:    []RuleResult{{Region: "us-east-1", Name: "a"}, {Region: "us-east-1", Name: "b"}, {Region: "eu-west-1", Name: "c"}},
			Coverage: []Coverage{{Region: "eu-west-1", Enabled: ptr(true), Recorder: RecorderStopped, Rules: ptr(1), Read: ReadYes}}},
		{ID: "200000000000", Status: StatusPartial, Rules: []RuleResult{{Region: "eu-west-1", Name: "c"}}},
		{ID: "000000000000", Status: StatusFailed},
		{ID: "400000000000", Status: StatusOK, Coverage: []Coverage{
			{Region: "eu-west-1", Enabled: ptr(false), Read: ReadSkipped},
			{Region: "us-east-1", Enabled: ptr(true), Recorder: RecorderNone, Rules: ptr(0), Read: ReadYes}}},
	}
	errs := []ErrorRow{
		{AccountID: "100000000000", Region: "eu-west-1", Stage: "recorder", Code: "NotRecording", Attempts: 1},
		{AccountID: "200000000000", Region: "us-east-1", Stage: "config", Code: "AccessDenied", Attempts: 1},
		{AccountID: "000000000000", Stage: "assume-role", Code: "AccessDenied", Attempts: 1},
	}
	data := mustRender(t, run, accts, errs, nil)
	rows, err := open(t, data).GetRows(SheetCoverage, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		append(slices.Clone(coverageHeaders), "Owner", "Team"),
		{"000000000000", "", "us-east-1", "", "", "", "failed"},
		{"000000000000", "", "eu-west-1", "", "", "", "failed"},
		{"100000000000", "", "us-east-1", "", "", "2", "yes", "o1"},
		{"100000000000", "", "eu-west-1", "yes", "stopped", "1", "yes", "o1"},
		{"200000000000", "", "us-east-1", "", "", "", "failed"},
		{"200000000000", "", "eu-west-1", "", "", "1", "yes"},
		{"300000000000", "", "us-east-1", "", "", "", "missing", "", "t3"},
		{"300000000000", "", "eu-west-1", "", "", "", "missing", "", "t3"},
		{"400000000000", "", "us-east-1", "yes", "none", "0", "yes"},
		{"400000000000", "", "eu-west-1", "no", "", "", "skipped"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i+1, rows[i], want[i])
		}
	}
	cells := cellsOf(t, data, SheetCoverage)
	if c := cells["F4"]; c.T != "" || c.V == nil {
		t.Errorf("Rules is not a number cell: %+v", c)
	}
	for _, ref := range []string{"D2", "E2", "F2", "H2", "I2"} {
		if _, ok := cells[ref]; ok {
			t.Errorf("%s: a cell for an empty value", ref)
		}
	}
	// The owner columns on the other sheets, at their right ends.
	for sheet, ref := range map[string]string{SheetSummary: "J12", SheetErrors: "H3"} {
		if got, _ := open(t, data).GetCellValue(sheet, ref); got != "o1" {
			t.Errorf("%s!%s = %q, want o1", sheet, ref, got)
		}
	}
}
