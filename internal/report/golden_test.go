package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

type fixture struct {
	Run      Run
	Accounts []Account
	Errors   []ErrorRow
	Findings []Finding
}

func loadFixture(t testing.TB, path string) fixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fx
}

func sliceFindings(fs []Finding) Findings {
	return func(yield func(Finding, error) bool) {
		for _, f := range fs {
			if !yield(f, nil) {
				return
			}
		}
	}
}

// baselineFixture is a previous run's findings file as JSON, for the tests.
type baselineFixture struct {
	RunID       string
	GeneratedAt time.Time
	Findings    []BaselineFinding
}

func loadBaseline(t testing.TB, path string) *Baseline {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bf baselineFixture
	if err := json.Unmarshal(b, &bf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return sliceBaseline(bf.RunID, bf.GeneratedAt, bf.Findings)
}

func sliceBaseline(runID string, gen time.Time, fs []BaselineFinding) *Baseline {
	return &Baseline{RunID: runID, GeneratedAt: gen, Findings: func(yield func(BaselineFinding, error) bool) {
		for _, f := range fs {
			if !yield(f, nil) {
				return
			}
		}
	}}
}

// renderRun renders the workbook and the findings file against base.
func renderRun(t testing.TB, fx fixture, base *Baseline) (workbook, findings []byte, counts ChangeCounts) {
	t.Helper()
	var wb, ff bytes.Buffer
	counts, err := RenderRun(context.Background(), Output{Workbook: &wb, Findings: &ff}, fx.Run, fx.Accounts, fx.Errors, sliceFindings(fx.Findings), base)
	if err != nil {
		t.Fatalf("RenderRun: %v", err)
	}
	return wb.Bytes(), ff.Bytes(), counts
}

// gunzip returns a findings file's JSON Lines.
func gunzip(t testing.TB, data []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func render(t testing.TB, fx fixture) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(context.Background(), &buf, fx.Run, fx.Accounts, fx.Errors, sliceFindings(fx.Findings)); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.Bytes()
}

// TestGolden pins the whole format, cell by cell, against reviewed dumps.
// Regenerate with: go test ./internal/report -run TestGolden -update
func TestGolden(t *testing.T) {
	cases := []struct {
		golden, fixture string
		maxRows         int    // findings per sheet, lowered to pin the spill sheets
		baseline        string // a baseline fixture; its findings file is pinned too
	}{
		{"small", "small", maxDataRows, ""},
		{"empty", "empty", maxDataRows, ""},
		{"small_spill", "small", 3, ""},
		{"small_changes", "small", maxDataRows, "small_baseline"},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			defer lowerLimits(c.maxRows, widthSample)()
			fx := loadFixture(t, filepath.Join("testdata", c.fixture+".json"))
			var data []byte
			if c.baseline == "" {
				data = render(t, fx)
			} else {
				wb, ff, _ := renderRun(t, fx, loadBaseline(t, filepath.Join("testdata", c.baseline+".json")))
				data = wb
				checkGolden(t, filepath.Join("testdata", c.golden+".findings.golden"), gunzip(t, ff))
			}
			got := dumpWorkbook(t, data)
			checkGolden(t, filepath.Join("testdata", c.golden+".golden"), got)
			if strings.Contains(got, "EMPTY-STRING-CELL") || strings.Contains(got, "FORMULA=") {
				t.Errorf("an empty-string cell or a formula was written")
			}
		})
	}
}

// checkGolden compares got with a golden file, rewriting it with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update and review the diff):\n%s", golden, firstDiff(string(want), got))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:", i+1) + "\n- " + w + "\n+ " + g
		}
	}
	return ""
}
