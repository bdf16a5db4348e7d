package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		maxRows         int // findings per sheet, lowered to pin the spill sheets
	}{
		{"small", "small", maxDataRows},
		{"empty", "empty", maxDataRows},
		{"small_spill", "small", 3},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			defer lowerLimits(c.maxRows, widthSample)()
			fx := loadFixture(t, filepath.Join("testdata", c.fixture+".json"))
			got := dumpWorkbook(t, render(t, fx))
			golden := filepath.Join("testdata", c.golden+".golden")
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
				t.Errorf("dump differs from %s (rerun with -update and review the diff):\n%s", golden, firstDiff(string(want), got))
			}
			if strings.Contains(got, "EMPTY-STRING-CELL") || strings.Contains(got, "FORMULA=") {
				t.Errorf("an empty-string cell or a formula was written")
			}
		})
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
