package report

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// The dump reads the workbook back two ways: with excelize (what a reader
// library sees) and as raw XML, for what excelize cannot tell apart: an
// absent cell from an empty string, an inline string from a formula, the
// cfvo types and the pane's topLeftCell.

type rawCell struct {
	R  string  `xml:"r,attr"`
	S  int     `xml:"s,attr"`
	T  string  `xml:"t,attr"`
	F  *string `xml:"f"`
	V  *string `xml:"v"`
	IS *struct {
		T string `xml:"t"`
	} `xml:"is"`
}

type rawRow struct {
	R  int       `xml:"r,attr"`
	Ht string    `xml:"ht,attr"`
	C  []rawCell `xml:"c"`
}

type rawSheet struct {
	Rows []rawRow `xml:"sheetData>row"`
}

// zipEntries returns the archive's entries in archive order.
func zipEntries(t testing.TB, data []byte) ([]*zip.File, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	m := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		m[f.Name] = b
	}
	return zr.File, m
}

// sheetPaths maps sheet names to their part names through workbook.xml and
// its relationships.
func sheetPaths(t testing.TB, parts map[string][]byte) map[string]string {
	t.Helper()
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := xml.Unmarshal(parts["xl/workbook.xml"], &wb); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(parts["xl/_rels/workbook.xml.rels"], &rels); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range wb.Sheets {
		for _, r := range rels.Rel {
			if r.ID == s.RID {
				out[s.Name] = path.Join("xl", strings.TrimPrefix(r.Target, "/xl/"))
			}
		}
	}
	return out
}

var (
	reSheetViews = regexp.MustCompile(`<sheetViews>.*?</sheetViews>`)
	reCols       = regexp.MustCompile(`<cols>.*?</cols>`)
	reCF         = regexp.MustCompile(`<conditionalFormatting .*?</conditionalFormatting>`)
	reTableParts = regexp.MustCompile(`<tableParts.*?</tableParts>`)
	reAutoFilter = regexp.MustCompile(`<autoFilter[ >]`)
)

// quotePrefixedXfs returns the indexes of the cellXfs entries of styles.xml
// that carry quotePrefix="1" (excelize's GetStyle does not report it).
func quotePrefixedXfs(t testing.TB, parts map[string][]byte) map[int]bool {
	t.Helper()
	var ss struct {
		Xf []struct {
			QuotePrefix string `xml:"quotePrefix,attr"`
		} `xml:"cellXfs>xf"`
	}
	if err := xml.Unmarshal(parts["xl/styles.xml"], &ss); err != nil {
		t.Fatalf("styles.xml: %v", err)
	}
	out := map[int]bool{}
	for i, xf := range ss.Xf {
		if xf.QuotePrefix == "1" || xf.QuotePrefix == "true" {
			out[i] = true
		}
	}
	return out
}

func describeStyle(f *excelize.File, quoted map[int]bool, id int) string {
	d := describeStyleFormat(f, id)
	if quoted[id] {
		d += ",quotePrefix"
	}
	return d
}

func describeStyleFormat(f *excelize.File, id int) string {
	if id == 0 {
		return "default"
	}
	st, err := f.GetStyle(id)
	if err != nil {
		return "ERR:" + err.Error()
	}
	var parts []string
	if st.CustomNumFmt != nil {
		parts = append(parts, "fmt="+*st.CustomNumFmt)
	} else if st.NumFmt != 0 {
		parts = append(parts, fmt.Sprintf("numFmt=%d", st.NumFmt))
	}
	if st.Font != nil {
		if st.Font.Bold {
			parts = append(parts, "bold")
		}
		if st.Font.Color != "" {
			parts = append(parts, "color="+st.Font.Color)
		}
		if st.Font.Family != "" {
			parts = append(parts, fmt.Sprintf("font=%s/%g", st.Font.Family, st.Font.Size))
		}
	}
	if st.Alignment != nil && (st.Alignment.Horizontal != "" || st.Alignment.Vertical != "") {
		parts = append(parts, fmt.Sprintf("align=%s/%s", st.Alignment.Horizontal, st.Alignment.Vertical))
	}
	if st.Fill.Type != "" && st.Fill.Pattern != 0 {
		parts = append(parts, fmt.Sprintf("fill=%s/%d/%s", st.Fill.Type, st.Fill.Pattern, strings.Join(st.Fill.Color, ",")))
	}
	if len(parts) == 0 {
		return "plain"
	}
	return strings.Join(parts, ",")
}

// dumpWorkbook renders everything REPORT_FORMAT.md pins as text.
func dumpWorkbook(t testing.TB, data []byte) string {
	t.Helper()
	entries, parts := zipEntries(t, data)
	var b strings.Builder
	fmt.Fprintf(&b, "# archive\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "entry %s modified=%s\n", e.Name, e.Modified.UTC().Format("2006-01-02T15:04:05"))
	}
	fmt.Fprintf(&b, "# docProps/core.xml\n%s\n", parts["docProps/core.xml"])
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	defer f.Close()
	paths := sheetPaths(t, parts)
	quoted := quotePrefixedXfs(t, parts)
	for i, name := range f.GetSheetList() {
		fmt.Fprintf(&b, "\n# sheet %d: %s (%s)\n", i+1, name, paths[name])
		raw := parts[paths[name]]
		var ws rawSheet
		if err := xml.Unmarshal(raw, &ws); err != nil {
			t.Fatalf("sheet %s: %v", name, err)
		}
		maxCol := 0
		for _, r := range ws.Rows {
			for _, c := range r.C {
				col, _, _ := excelize.CellNameToCoordinates(c.R)
				maxCol = max(maxCol, col)
			}
		}
		var widths []string
		for c := 1; c <= maxCol; c++ {
			cn, _ := excelize.ColumnNumberToName(c)
			w, err := f.GetColWidth(name, cn)
			if err != nil {
				t.Fatal(err)
			}
			widths = append(widths, fmt.Sprintf("%s=%g", cn, w))
		}
		fmt.Fprintf(&b, "widths (excelize): %s\n", strings.Join(widths, " "))
		p, err := f.GetPanes(name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "panes (excelize): freeze=%v ySplit=%d xSplit=%d topLeftCell=%q activePane=%q\n", p.Freeze, p.YSplit, p.XSplit, p.TopLeftCell, p.ActivePane)
		fmt.Fprintf(&b, "xml: %s\n", reSheetViews.Find(raw))
		fmt.Fprintf(&b, "xml: %s\n", reCols.Find(raw))
		for _, cf := range reCF.FindAll(raw, -1) {
			fmt.Fprintf(&b, "xml: %s\n", cf)
		}
		fmt.Fprintf(&b, "xml: %s\n", reTableParts.Find(raw))
		if reAutoFilter.Match(raw) {
			fmt.Fprintf(&b, "xml: sheet-level autoFilter present\n")
		}
		cfs, err := f.GetConditionalFormats(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range slices.Sorted(maps.Keys(cfs)) {
			for _, o := range cfs[ref] {
				desc := fmt.Sprintf("type=%s criteria=%q value=%q", o.Type, o.Criteria, o.Value)
				if o.Type == "3_color_scale" {
					desc += fmt.Sprintf(" min=%s:%s:%s mid=%s:%s:%s max=%s:%s:%s", o.MinType, o.MinValue, o.MinColor,
						o.MidType, o.MidValue, o.MidColor, o.MaxType, o.MaxValue, o.MaxColor)
				}
				if o.Format != nil {
					st, err := f.GetConditionalStyle(*o.Format)
					if err != nil {
						t.Fatal(err)
					}
					desc += fmt.Sprintf(" dxf(font=%s fill=%s)", st.Font.Color, strings.Join(st.Fill.Color, ","))
				}
				fmt.Fprintf(&b, "cf (excelize) %s: %s\n", ref, desc)
			}
		}
		tables, err := f.GetTables(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			fmt.Fprintf(&b, "table (excelize): name=%s range=%s style=%s\n", tb.Name, tb.Range, tb.StyleName)
		}
		for _, r := range ws.Rows {
			fmt.Fprintf(&b, "row %d", r.R)
			if r.Ht != "" {
				fmt.Fprintf(&b, " ht=%s", r.Ht)
			}
			b.WriteString("\n")
			for _, c := range r.C {
				val := ""
				switch {
				case c.IS != nil:
					val = fmt.Sprintf("%q", c.IS.T)
				case c.V != nil:
					val = *c.V
				}
				typ, err := f.GetCellType(name, c.R)
				if err != nil {
					t.Fatal(err)
				}
				line := fmt.Sprintf("  %s t=%s excelizeType=%d style=%s value=%s", c.R, c.T, typ, describeStyle(f, quoted, c.S), val)
				if c.F != nil {
					line += " FORMULA=" + *c.F
				}
				if c.T == "inlineStr" && c.IS != nil && c.IS.T == "" {
					line += " EMPTY-STRING-CELL"
				}
				b.WriteString(line + "\n")
			}
		}
	}
	return b.String()
}
