package report

import (
	"cmp"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Sheet names, fixed by REPORT_FORMAT.md.
const (
	SheetSummary  = "Summary"
	SheetRules    = "Rules"
	SheetFindings = "Non-compliant Resources"
	SheetErrors   = "Errors"
	SheetChanges  = "Changes" // what moved since the baseline
	SheetCoverage = "Coverage"
)

// FileName is the workbook's name for a run: config-compliance-<run_id>.xlsx.
func FileName(runID string) string { return "config-compliance-" + runID + ".xlsx" }

// maxDataRows is how many findings one sheet holds below its header: Excel's
// 1,048,576 rows less the header. A variable so tests can exercise the
// spill into "Non-compliant Resources (2)" without a million rows.
var maxDataRows = 1048575

// widthSample is how many findings of a streamed sheet are read ahead to fit
// its column widths: a StreamWriter needs the widths before the first row.
var widthSample = 1000

// compressionLevel is the deflate level of the archive's entries.
var compressionLevel = flate.BestSpeed

// ctxCheckEvery is how often (in findings) the streaming loop looks at ctx.
const ctxCheckEvery = 4096

var (
	summaryHeaders  = []string{"Account ID", "Account Name", "OU Path", "Rules Evaluated", "Compliant Rules", "Non-compliant Rules", "Non-compliant Resources", "Compliance %", "Scan Status"}
	rulesHeaders    = []string{"Rule Name", "Source Identifier", "Accounts Evaluated", "Non-compliant Accounts", "Non-compliant Resources", "Compliance %"}
	findingsHeaders = []string{"Account ID", "Account Name", "Region", "Rule Name", "Resource Type", "Resource ID", "Compliance", "Annotation", "Last Evaluated (UTC)", "First Seen (UTC)"}
	errorsHeaders   = []string{"Account ID", "Account Name", "Region", "Stage", "Error Code", "Message", "Attempts"}
	coverageHeaders = []string{"Account ID", "Account Name", "Region", "Region Enabled", "Config Recorder", "Rules", "Read"}
)

// withOwners is a sheet's headers with the run's owner columns at the
// right end.
func withOwners(headers []string, run Run) []string {
	return append(slices.Clip(headers), run.OwnerColumns...)
}

// owners appends the account's owner cells, one per owner column (nil,
// no cell, when it has no value).
func (s styles) owners(row []any, run Run, a *Account) []any {
	for i := range run.OwnerColumns {
		var v string
		if i < len(a.Owners) {
			v = a.Owners[i]
		}
		row = append(row, s.text(v))
	}
	return row
}

// Widths of the formatted numbers: "100.0%" and "2026-11-23 09:00".
const (
	pctWidth  = 6
	timeWidth = 16
)

type styles struct {
	header, key, pct, dateTime int
	quoted                     int // the default format plus quotePrefix: text that looks like a formula
	kvNumber, kvDateTime       int
	redDxf                     int // conditional format: red fill, dark red text
	greenDxf                   int // conditional format: green fill, dark green text
	// used is each sheet's used range ("A1:I42"), recorded as its table
	// closes: a StreamWriter writes <dimension ref="A1"/> before the first
	// row, and save puts the real range in its place.
	used map[string]string
}

func newStyles(f *excelize.File) (styles, error) {
	s := styles{used: make(map[string]string)}
	var err error
	mk := func(st *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(st)
		return id
	}
	pct, dt := "0.0%", "yyyy-mm-dd hh:mm"
	// Fonts name the workbook's default (Calibri 11) explicitly: a font
	// element without a name renders in a serif fallback in LibreOffice.
	s.header = mk(&excelize.Style{
		Font:      &excelize.Font{Bold: true, Color: "FFFFFF", Family: "Calibri", Size: 11},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"1F4E78"}},
		Alignment: &excelize.Alignment{Vertical: "center"},
	})
	s.key = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Family: "Calibri", Size: 11}})
	s.pct = mk(&excelize.Style{CustomNumFmt: &pct})
	s.dateTime = mk(&excelize.Style{CustomNumFmt: &dt})
	// Numbers of the Summary key/value block sit left, under the text values
	// above them, instead of at the far edge of column B.
	left := &excelize.Alignment{Horizontal: "left"}
	s.kvNumber = mk(&excelize.Style{Alignment: left})
	s.kvDateTime = mk(&excelize.Style{CustomNumFmt: &dt, Alignment: left})
	if err != nil {
		return s, err
	}
	// Added after every NewStyle: NewStyle looks for an existing xf that
	// matches on everything but quotePrefix, so it must find the plain one
	// first.
	if s.quoted, err = quotePrefixed(f, 0); err != nil {
		return s, err
	}
	s.redDxf, err = f.NewConditionalStyle(&excelize.Style{
		Font: &excelize.Font{Color: "9C0006"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFC7CE"}},
	})
	if err != nil {
		return s, err
	}
	s.greenDxf, err = f.NewConditionalStyle(&excelize.Style{
		Font: &excelize.Font{Color: "006100"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"C6EFCE"}},
	})
	return s, err
}

// colorScale is the 3-colour scale of the Compliance % columns. Its points
// are numbers, not min/percentile/max, so a week with every account at 90%
// does not look red.
func colorScale() excelize.ConditionalFormatOptions {
	return excelize.ConditionalFormatOptions{
		Type: "3_color_scale", Criteria: "=",
		MinType: "num", MinValue: "0", MinColor: "#F8696B",
		MidType: "num", MidValue: "0.5", MidColor: "#FFEB84",
		MaxType: "num", MaxValue: "1", MaxColor: "#63BE7B",
	}
}

func (s styles) redWhen(criteria, value string) excelize.ConditionalFormatOptions {
	dxf := s.redDxf
	return excelize.ConditionalFormatOptions{Type: "cell", Criteria: criteria, Value: value, Format: &dxf}
}

func (s styles) greenWhen(criteria, value string) excelize.ConditionalFormatOptions {
	dxf := s.greenDxf
	return excelize.ConditionalFormatOptions{Type: "cell", Criteria: criteria, Value: value, Format: &dxf}
}

// Render writes the workbook of one run to w: RenderRun with no findings
// file and no baseline. See the package documentation for the contract on
// its arguments, findings' order above all. On error, w may have received
// part of the file.
func Render(ctx context.Context, w io.Writer, run Run, accounts []Account, errs []ErrorRow, findings Findings) error {
	_, err := RenderRun(ctx, Output{Workbook: w}, run, accounts, errs, findings, nil)
	return err
}

// Output is where one render writes. Findings nil: no findings file.
// Neither is closed; on error either may hold part of a file.
type Output struct {
	Workbook io.Writer
	Findings io.Writer
}

// RenderRun writes the workbook, and the findings file when out.Findings is
// not nil, in one pass over findings, comparing them with base (nil: no
// baseline; the Changes block is empty, its table header only, and First
// Seen is Generated at for every finding). It returns what the Changes
// sheet counted. An error from the baseline (unreadable, out of order)
// wraps ErrBaseline: the caller may render again with no baseline.
func RenderRun(ctx context.Context, out Output, run Run, accounts []Account, errs []ErrorRow, findings Findings, base *Baseline) (ChangeCounts, error) {
	if err := ctx.Err(); err != nil {
		return ChangeCounts{}, err
	}
	in, err := prepare(run, accounts, errs)
	if err != nil {
		return ChangeCounts{}, err
	}
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	st, err := newStyles(f)
	if err != nil {
		return ChangeCounts{}, fmt.Errorf("create styles: %w", err)
	}
	var fw *findingsWriter
	if out.Findings != nil {
		if fw, err = newFindingsWriter(out.Findings); err != nil {
			return ChangeCounts{}, fmt.Errorf("findings file: %w", err)
		}
		if err := fw.head(in, base); err != nil {
			return ChangeCounts{}, err
		}
	}
	d, err := newDiffer(ctx, in, st, fw, base)
	if err != nil {
		return ChangeCounts{}, err
	}
	defer d.close()
	// Sheet order is creation order. Summary and Rules are written last, once
	// the findings have been counted; spill sheets are created while
	// streaming, and Errors, Changes and Coverage after them, so they end up
	// last.
	if err := f.SetSheetName("Sheet1", SheetSummary); err != nil {
		return ChangeCounts{}, fmt.Errorf("create sheet: %w", err)
	}
	if _, err := f.NewSheet(SheetRules); err != nil {
		return ChangeCounts{}, fmt.Errorf("create sheet: %w", err)
	}
	rules := aggregateRules(in)
	if err := writeFindings(ctx, f, st, in, rules, findings, d); err != nil {
		return ChangeCounts{}, err
	}
	if err := d.finish(); err != nil {
		return ChangeCounts{}, err
	}
	if fw != nil {
		if err := fw.close(); err != nil {
			return ChangeCounts{}, err
		}
	}
	for _, name := range []string{SheetErrors, SheetChanges, SheetCoverage} {
		if _, err := f.NewSheet(name); err != nil {
			return ChangeCounts{}, fmt.Errorf("create sheet: %w", err)
		}
	}
	if err := writeSummary(f, st, in); err != nil {
		return ChangeCounts{}, err
	}
	if err := writeRules(f, st, rules); err != nil {
		return ChangeCounts{}, err
	}
	if err := writeErrors(f, st, in); err != nil {
		return ChangeCounts{}, err
	}
	if err := writeChanges(f, st, in, d); err != nil {
		return ChangeCounts{}, err
	}
	if err := writeCoverage(f, st, in); err != nil {
		return ChangeCounts{}, err
	}
	if err := ctx.Err(); err != nil {
		return ChangeCounts{}, err
	}
	if err := save(f, out.Workbook, in.run, st.used); err != nil {
		return ChangeCounts{}, err
	}
	return d.counts, nil
}

// save writes the archive through spoolZip into a temporary file (under
// TMPDIR, like excelize's own stream buffers), then normalises it into w.
func save(f *excelize.File, w io.Writer, run Run, used map[string]string) error {
	gen := run.GeneratedAt.UTC().Format(time.RFC3339)
	if err := f.SetDocProps(&excelize.DocProperties{
		Title:          "AWS Config compliance report",
		Subject:        "Run " + run.RunID,
		Identifier:     run.RunID,
		Creator:        "configreport",
		LastModifiedBy: "configreport",
		Created:        gen,
		Modified:       gen,
		Language:       "en-US",
	}); err != nil {
		return fmt.Errorf("set document properties: %w", err)
	}
	// No SetActiveSheet: Summary, the first sheet, is already the active
	// one, and the call makes excelize read back and re-parse every
	// streamed sheet (9% of a 1,000-account run's CPU).

	tmp, err := os.CreateTemp("", "config-compliance-*.zip")
	if err != nil {
		return fmt.Errorf("create temporary archive: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	mod := zipTime(run.GeneratedAt)
	dims := make(map[string]string, len(used))
	for id, name := range f.GetSheetMap() {
		if ref, ok := used[name]; ok {
			dims[sheetPath(id)] = ref
		}
	}
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter {
		return newSpoolZip(tmp, mod, compressionLevel, dims)
	})
	if err := f.Write(io.Discard); err != nil {
		return fmt.Errorf("write workbook: %w", err)
	}
	size, err := tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("size temporary archive: %w", err)
	}
	return normalise(w, tmp, size, mod)
}

// quotePrefixed adds a cell format that is cellXfs[base] plus
// quotePrefix="1" and returns its index. excelize v2.11.1's Style has no
// QuotePrefix field, so the xf is appended to the parsed stylesheet, which
// excelize serialises as it is on save.
func quotePrefixed(f *excelize.File, base int) (int, error) {
	ss := f.Styles
	if ss == nil || ss.CellXfs == nil || base < 0 || base >= len(ss.CellXfs.Xf) {
		return 0, fmt.Errorf("create styles: no cell format %d to quote", base)
	}
	xf := ss.CellXfs.Xf[base] // a copy; its pointers are shared but never written
	yes := true
	xf.QuotePrefix = &yes
	ss.CellXfs.Xf = append(ss.CellXfs.Xf, xf)
	ss.CellXfs.Count = len(ss.CellXfs.Xf)
	return len(ss.CellXfs.Xf) - 1, nil
}

// formulaLead reports whether Excel would take s as a formula if a user
// typed it into the cell: it starts with '=', '+', '-' or '@'.
func formulaLead(s string) bool {
	return s != "" && strings.IndexByte("=+-@", s[0]) >= 0
}

// text is a cell for a value from AWS: an inline string, never a formula,
// and no cell at all when empty. Text that starts like a formula gets the
// quote prefix, so editing the cell in Excel keeps it text.
func (s styles) text(v string) any {
	if v == "" {
		return nil
	}
	v = cellText(v)
	if formulaLead(v) {
		return excelize.Cell{StyleID: s.quoted, Value: v}
	}
	return v
}

// isText reports whether v is a text cell as written by text.
func (s styles) isText(v any) bool {
	switch v := v.(type) {
	case string:
		return true
	case excelize.Cell:
		_, ok := v.Value.(string)
		return ok && v.StyleID == s.quoted
	}
	return false
}

func (s styles) percent(num, den int) any {
	if den == 0 {
		return nil
	}
	return excelize.Cell{StyleID: s.pct, Value: float64(num) / float64(den)}
}

// excelEpoch: excelize writes an earlier time as RFC 3339 text, which would
// put a string in a date column; no AWS timestamp is that old, so such a
// time is treated as absent, like the zero time.
var excelEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func (s styles) timeCell(t time.Time) any {
	if t.Before(excelEpoch) {
		return nil
	}
	return excelize.Cell{StyleID: s.dateTime, Value: t.UTC()}
}

// cellWidth is the width a value needs, as written by the helpers above.
func (s styles) cellWidth(v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case string:
		return textWidth(v)
	case int:
		return len(strconv.Itoa(v))
	case excelize.Cell:
		switch v.StyleID {
		case s.pct:
			return pctWidth
		case s.dateTime, s.kvDateTime:
			return timeWidth
		}
		if n, ok := v.Value.(int); ok {
			return len(strconv.Itoa(n))
		}
		if t, ok := v.Value.(string); ok {
			return textWidth(t)
		}
	}
	return len(fmt.Sprint(v))
}

// table describes one table sheet.
type table struct {
	sheet, name string
	headers     []string
	headerRow   int
}

func (t table) lastCol() string {
	c, _ := excelize.ColumnNumberToName(len(t.headers))
	return c
}

// open starts the stream of a table sheet: conditional formats first (set
// after NewStreamWriter they are dropped without an error), then widths and
// the frozen pane, which must precede the first row.
func (t table) open(f *excelize.File, w widths, cfs map[string][]excelize.ConditionalFormatOptions) (*excelize.StreamWriter, error) {
	for _, ref := range slices.Sorted(maps.Keys(cfs)) {
		if err := f.SetConditionalFormat(t.sheet, ref, cfs[ref]); err != nil {
			return nil, fmt.Errorf("sheet %s: conditional format %s: %w", t.sheet, ref, err)
		}
	}
	sw, err := f.NewStreamWriter(t.sheet)
	if err != nil {
		return nil, fmt.Errorf("sheet %s: %w", t.sheet, err)
	}
	// Set from the last column back: excelize's flatCols inserts each new
	// <col> before the existing ones, and Excel wants them in ascending order.
	for i := len(t.headers) - 1; i >= 0; i-- {
		if err := sw.SetColWidth(i+1, i+1, w.width(i)); err != nil {
			return nil, fmt.Errorf("sheet %s: column width: %w", t.sheet, err)
		}
	}
	first := "A" + strconv.Itoa(t.headerRow+1)
	if err := sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: t.headerRow, TopLeftCell: first, ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: first, ActiveCell: first, Pane: "bottomLeft"}},
	}); err != nil {
		return nil, fmt.Errorf("sheet %s: panes: %w", t.sheet, err)
	}
	return sw, nil
}

func (t table) writeHeader(sw *excelize.StreamWriter, st styles) error {
	row := make([]any, len(t.headers))
	for i, h := range t.headers {
		row[i] = excelize.Cell{StyleID: st.header, Value: h}
	}
	if err := sw.SetRow("A"+strconv.Itoa(t.headerRow), row, excelize.RowOpts{Height: 20}); err != nil {
		return fmt.Errorf("sheet %s: header: %w", t.sheet, err)
	}
	return nil
}

// close adds the table (its auto-filter) over the header and dataRows rows,
// then flushes the stream.
func (t table) close(sw *excelize.StreamWriter, st styles, dataRows int) error {
	ref := fmt.Sprintf("A%d:%s%d", t.headerRow, t.lastCol(), t.headerRow+dataRows)
	st.used[t.sheet] = fmt.Sprintf("A1:%s%d", t.lastCol(), t.headerRow+dataRows)
	off := false
	if err := sw.AddTable(&excelize.Table{Range: ref, Name: t.name, StyleName: "TableStyleLight1", ShowRowStripes: &off}); err != nil {
		return fmt.Errorf("sheet %s: table: %w", t.sheet, err)
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("sheet %s: flush: %w", t.sheet, err)
	}
	return nil
}

// writeTable writes a table held in memory (Summary, Rules, Errors), with
// extra rows above the header (the Summary key/value block).
func writeTable(f *excelize.File, st styles, t table, above, rows [][]any, w widths, cfs map[string][]excelize.ConditionalFormatOptions) error {
	for _, r := range rows {
		for i, v := range r {
			w.see(i, st.cellWidth(v))
		}
	}
	sw, err := t.open(f, w, cfs)
	if err != nil {
		return err
	}
	for i, r := range above {
		if r == nil {
			continue
		}
		if err := sw.SetRow("A"+strconv.Itoa(i+1), r); err != nil {
			return fmt.Errorf("sheet %s: row %d: %w", t.sheet, i+1, err)
		}
	}
	if err := t.writeHeader(sw, st); err != nil {
		return err
	}
	for i, r := range rows {
		if err := sw.SetRow("A"+strconv.Itoa(t.headerRow+1+i), r); err != nil {
			return fmt.Errorf("sheet %s: row %d: %w", t.sheet, t.headerRow+1+i, err)
		}
	}
	return t.close(sw, st, len(rows))
}

// lastDataRow is the last row a conditional format covers: the table's last
// data row, or the first one when the table is empty.
func lastDataRow(headerRow, n int) int { return headerRow + max(n, 1) }

func writeSummary(f *excelize.File, st styles, in *input) error {
	t := table{sheet: SheetSummary, name: "SummaryTable", headers: withOwners(summaryHeaders, in.run), headerRow: 10}
	scanned, failed := 0, 0
	rows := make([][]any, 0, len(in.accounts))
	for _, a := range in.accounts {
		r := []any{st.text(a.ID), st.text(a.Name), st.text(a.OUPath), nil, nil, nil, nil, nil, string(a.Status)}
		r = st.owners(r, in.run, &a.Account)
		if a.scanned() {
			scanned++
			c, nc := 0, 0
			for _, rr := range a.Rules {
				switch rr.Compliance {
				case Compliant:
					c++
				case NonCompliant:
					nc++
				}
			}
			r[3], r[4], r[5], r[6], r[7] = len(a.Rules), c, nc, a.ncResources, st.percent(c, c+nc)
		} else {
			failed++
		}
		rows = append(rows, r)
	}
	key := func(k string) any { return excelize.Cell{StyleID: st.key, Value: k} }
	num := func(n int) any { return excelize.Cell{StyleID: st.kvNumber, Value: n} }
	above := [][]any{
		{key("Report"), "AWS Config compliance report"},
		{key("Run ID"), st.text(in.run.RunID)},
		{key("Generated at (UTC)"), excelize.Cell{StyleID: st.kvDateTime, Value: in.run.GeneratedAt.UTC()}},
		{key("Trigger"), st.text(string(in.run.Trigger))},
		{key("Regions"), st.text(strings.Join(in.run.Regions, ","))},
		{key("Accounts expected"), num(len(in.accounts))},
		{key("Accounts scanned"), num(scanned)},
		{key("Accounts failed or missing"), num(failed)},
	}
	w := newWidths(t.headers)
	for _, r := range above {
		w.see(0, st.cellWidth(r[0]))
		// Text values of the block (Report, Regions) are left out: cells to
		// their right are empty, so they overflow into them, and fitting
		// column B to a long region list would widen Account Name for nothing.
		if !st.isText(r[1]) {
			w.see(1, st.cellWidth(r[1]))
		}
	}
	last := lastDataRow(t.headerRow, len(rows))
	cfs := map[string][]excelize.ConditionalFormatOptions{
		fmt.Sprintf("H%d:H%d", t.headerRow+1, last): {colorScale()},
	}
	if len(rows) > 0 {
		// Not on the placeholder row of an empty table: a blank cell is
		// "not OK" too, and would show a red row under the header.
		cfs[fmt.Sprintf("I%d:I%d", t.headerRow+1, last)] = []excelize.ConditionalFormatOptions{st.redWhen("!=", `"OK"`)}
	}
	return writeTable(f, st, t, above, rows, w, cfs)
}

// ruleAgg is one Rules row.
type ruleAgg struct {
	name, source string
	// Where source came from: the lowest account id, then the first
	// configured region.
	srcAccount   string
	srcRegion    int
	evaluated    int
	ncAccounts   int
	ncResources  int
	seenInAcct   string // last account counted in evaluated
	ncInAcctSeen string // last account counted in ncAccounts
}

func sourceOf(r RuleResult) string {
	if r.SourceOwner == "AWS" {
		return r.SourceIdentifier
	}
	return "CUSTOM"
}

// aggregateRules computes every Rules column but Non-compliant Resources,
// which writeFindings counts.
func aggregateRules(in *input) map[string]*ruleAgg {
	m := map[string]*ruleAgg{}
	for _, a := range in.accounts { // sorted by id: the first account seen is the lowest
		for _, r := range a.Rules {
			g := m[r.Name]
			ri := in.regionIdx[r.Region]
			if g == nil {
				g = &ruleAgg{name: r.Name, source: sourceOf(r), srcAccount: a.ID, srcRegion: ri}
				m[r.Name] = g
			} else if g.srcAccount == a.ID && ri < g.srcRegion {
				g.source, g.srcRegion = sourceOf(r), ri
			}
			if g.seenInAcct != a.ID {
				g.seenInAcct = a.ID
				g.evaluated++
			}
			if r.Compliance == NonCompliant && g.ncInAcctSeen != a.ID {
				g.ncInAcctSeen = a.ID
				g.ncAccounts++
			}
		}
	}
	return m
}

func writeRules(f *excelize.File, st styles, m map[string]*ruleAgg) error {
	t := table{sheet: SheetRules, name: "RulesTable", headers: rulesHeaders, headerRow: 1}
	aggs := make([]*ruleAgg, 0, len(m))
	for _, g := range m {
		aggs = append(aggs, g)
	}
	slices.SortFunc(aggs, func(a, b *ruleAgg) int {
		return cmp.Or(cmp.Compare(b.ncAccounts, a.ncAccounts), cmp.Compare(a.name, b.name))
	})
	rows := make([][]any, 0, len(aggs))
	for _, g := range aggs {
		rows = append(rows, []any{st.text(g.name), st.text(g.source), g.evaluated, g.ncAccounts, g.ncResources,
			st.percent(g.evaluated-g.ncAccounts, g.evaluated)})
	}
	last := lastDataRow(t.headerRow, len(rows))
	cfs := map[string][]excelize.ConditionalFormatOptions{
		fmt.Sprintf("D2:D%d", last): {st.redWhen(">", "0")},
		fmt.Sprintf("F2:F%d", last): {colorScale()},
	}
	return writeTable(f, st, t, nil, rows, newWidths(t.headers), cfs)
}

func writeErrors(f *excelize.File, st styles, in *input) error {
	t := table{sheet: SheetErrors, name: "ErrorsTable", headers: withOwners(errorsHeaders, in.run), headerRow: 1}
	rows := make([][]any, 0, len(in.errs))
	for _, e := range in.errs {
		a := in.byID[e.AccountID]
		rows = append(rows, st.owners([]any{st.text(e.AccountID), st.text(a.Name), st.text(e.Region),
			st.text(e.Stage), st.text(e.Code), st.text(e.Message), e.Attempts}, in.run, &a.Account))
	}
	return writeTable(f, st, t, nil, rows, newWidths(t.headers), nil)
}

// coverageRow is one Coverage row, written into row.
func (s styles) coverageRow(row []any, run Run, a *accountState, c *Coverage) []any {
	var enabled, rules any
	if c.Enabled != nil {
		enabled = "no"
		if *c.Enabled {
			enabled = "yes"
		}
	}
	if c.Rules != nil {
		rules = *c.Rules
	}
	row = append(row[:0], s.text(a.ID), s.text(a.Name), s.text(c.Region), enabled, s.text(c.Recorder), rules, string(c.Read))
	return s.owners(row, run, &a.Account)
}

// writeCoverage streams the Coverage sheet, one row per (account, region),
// from the accounts already in memory: a row slice is reused, so the sheet
// adds no per-row memory (accounts x regions rows: 85,000 for 5,000
// accounts in 17 regions).
func writeCoverage(f *excelize.File, st styles, in *input) error {
	t := table{sheet: SheetCoverage, name: "CoverageTable", headers: withOwners(coverageHeaders, in.run), headerRow: 1}
	row := make([]any, 0, len(t.headers))
	w := newWidths(t.headers)
	n := 0
	for _, a := range in.accounts {
		for i := range a.cov {
			for c, v := range st.coverageRow(row, in.run, a, &a.cov[i]) {
				w.see(c, st.cellWidth(v))
			}
			n++
		}
	}
	last := lastDataRow(t.headerRow, n)
	cfs := map[string][]excelize.ConditionalFormatOptions{}
	if n > 0 {
		// Not on the placeholder row of an empty table, like Summary's.
		cfs[fmt.Sprintf("E2:E%d", last)] = []excelize.ConditionalFormatOptions{
			st.redWhen("==", `"`+RecorderStopped+`"`), st.redWhen("==", `"`+RecorderNone+`"`)}
		cfs[fmt.Sprintf("G2:G%d", last)] = []excelize.ConditionalFormatOptions{
			st.redWhen("==", `"`+string(ReadFailed)+`"`), st.redWhen("==", `"`+string(ReadMissing)+`"`)}
	}
	sw, err := t.open(f, w, cfs)
	if err != nil {
		return err
	}
	if err := t.writeHeader(sw, st); err != nil {
		return err
	}
	r := t.headerRow
	for _, a := range in.accounts {
		for i := range a.cov {
			r++
			if err := sw.SetRow("A"+strconv.Itoa(r), st.coverageRow(row, in.run, a, &a.cov[i])); err != nil {
				return fmt.Errorf("sheet %s: row %d: %w", t.sheet, r, err)
			}
		}
	}
	return t.close(sw, st, n)
}
