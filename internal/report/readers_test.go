package report

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
)

// readerFixtures are the golden inputs, the spill one with a tiny sheet.
func readerFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, name := range []string{"empty", "small"} {
		out[name] = render(t, loadFixture(t, filepath.Join("testdata", name+".json")))
	}
	out["small_changes"], _, _ = renderRun(t, loadFixture(t, filepath.Join("testdata", "small.json")),
		loadBaseline(t, filepath.Join("testdata", "small_baseline.json")))
	defer func(n int) { maxDataRows = n }(maxDataRows)
	maxDataRows = 2
	out["small_spill"] = render(t, loadFixture(t, filepath.Join("testdata", "small.json")))
	return out
}

// usedCells lists, per sheet, the cells that hold a value ("A1", "C7"), as
// excelize reads the sheet's XML (which does not trust <dimension>).
func usedCells(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	out := make(map[string][]string)
	for _, sheet := range f.GetSheetList() {
		rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		cells := []string{}
		for r, row := range rows {
			for c, v := range row {
				if v != "" {
					name, _ := excelize.CoordinatesToCellName(c+1, r+1)
					cells = append(cells, name)
				}
			}
		}
		out[sheet] = cells
	}
	return out
}

var dimensionRe = regexp.MustCompile(`<dimension ref="([^"]*)"`)

// TestDimension: each sheet's <dimension> is its used range, A1 to the
// last column and row written (REPORT_FORMAT.md, "On every table sheet").
func TestDimension(t *testing.T) {
	for name, data := range readerFixtures(t) {
		t.Run(name, func(t *testing.T) {
			f, err := excelize.OpenReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			paths := make(map[string]string)
			for id, sheet := range f.GetSheetMap() {
				paths[sheetPath(id)] = sheet
			}
			cells := usedCells(t, data)
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, zf := range zr.File {
				sheet, ok := paths[zf.Name]
				if !ok {
					continue
				}
				seen++
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				xml, err := io.ReadAll(rc)
				_ = rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				m := dimensionRe.FindAllSubmatch(xml, -1)
				if len(m) != 1 {
					t.Fatalf("%s: %d <dimension> elements", sheet, len(m))
				}
				maxCol, maxRow := 1, 1
				for _, c := range cells[sheet] {
					col, row, _ := excelize.CellNameToCoordinates(c)
					maxCol, maxRow = max(maxCol, col), max(maxRow, row)
				}
				last, _ := excelize.CoordinatesToCellName(maxCol, maxRow)
				if got, want := string(m[0][1]), "A1:"+last; got != want {
					t.Errorf("%s: <dimension ref=%q>, want %q (the cells written)", sheet, got, want)
				}
			}
			if seen != len(paths) || seen < 4 {
				t.Errorf("checked %d sheets of %d", seen, len(paths))
			}
		})
	}
}

// openpyxlScript prints, per sheet, the coordinates of the cells holding a
// value as openpyxl's read-only mode yields them: it reads only the range
// each sheet's <dimension> names.
const openpyxlScript = `
import json, sys
from openpyxl import load_workbook
wb = load_workbook(sys.argv[1], read_only=True)
out = {}
for ws in wb.worksheets:
    cells = []
    for row in ws.iter_rows():
        for c in row:
            if getattr(c, "value", None) is not None:
                cells.append(c.coordinate)
    out[ws.title] = cells
print(json.dumps(out))
`

// TestOpenpyxlReadOnly reads the workbooks as openpyxl's read-only mode
// does, which trusts <dimension>: it must see every cell that is there.
// make test installs Debian's python3-openpyxl (scripts/install-python-clients.sh).
func TestOpenpyxlReadOnly(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import openpyxl").Run(); err != nil {
		if os.Getenv("REQUIRE_EMULATORS") == "1" {
			t.Fatalf("%s cannot import openpyxl (%v): scripts/install-python-clients.sh installs it", python, err)
		}
		t.Skipf("no openpyxl for %s: %v", python, err)
	}
	dir := t.TempDir()
	for name, data := range readerFixtures(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".xlsx")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(python, "-c", openpyxlScript, path).Output()
			if err != nil {
				t.Fatalf("openpyxl: %v", err)
			}
			var got map[string][]string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("openpyxl output %q: %v", out, err)
			}
			want := usedCells(t, data)
			if len(got) != len(want) {
				t.Fatalf("openpyxl saw sheets %v, want %d sheets", keys(got), len(want))
			}
			for sheet, cells := range want {
				if !slices.Equal(got[sheet], cells) {
					t.Errorf("%s: openpyxl read-only saw %d cells %s, the sheet has %d %s", sheet,
						len(got[sheet]), head(got[sheet]), len(cells), head(cells))
				}
			}
		})
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func head(cells []string) string {
	if len(cells) > 6 {
		return fmt.Sprint(cells[:6], "...")
	}
	return fmt.Sprint(cells)
}
