package reportcheck

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// TestExpectFindings: the model, one baseline or read key per case, on an
// org with every fault: what becomes NEW, RESOLVED, carried, kept (First
// Seen from the baseline) or nothing.
func TestExpectFindings(t *testing.T) {
	org := faultyOrg(t)
	at := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	first := at.Add(-21 * 24 * time.Hour)
	var read, readOther awssim.ResultKey // two keys this run reads, of two accounts
	for _, k := range org.NonCompliantResults() {
		a, _ := org.Account(k.AccountID)
		if a.Status != awssim.StatusActive || a.Denied || org.RegionFails(k.AccountID, k.Region) || org.OptInStatus(k.AccountID, k.Region) == awssim.NotOptedIn {
			continue
		}
		if read.AccountID == "" {
			read = k
		} else if k.AccountID != read.AccountID {
			readOther = k
			break
		}
	}
	var suspended string
	for _, a := range org.Accounts {
		if a.Status != awssim.StatusActive {
			suspended = a.ID
			break
		}
	}
	if read.AccountID == "" || readOther.AccountID == "" || suspended == "" {
		t.Fatal("the org lacks a read finding or a suspended account")
	}
	gone := func(account, region string) awssim.ResultKey {
		return awssim.ResultKey{AccountID: account, Region: region, Rule: "gone-rule", ResourceType: "AWS::S3::Bucket", ResourceID: "gone"}
	}
	failing, disabled, denied := org.FailingRegions()[0], org.DisabledRegions()[0], org.DeniedAccounts()[0]
	missing := read.AccountID
	for _, c := range []struct {
		name     string
		key      awssim.ResultKey
		baseline bool // the key is in the baseline (else the baseline is empty)
		mod      func(*WeekExpect)
		want     string // NEW, RESOLVED, kept, carried, read (no baseline), none
	}{
		{"read, not in the baseline", read, false, nil, "NEW"},
		{"read, in the baseline", read, true, nil, "kept"},
		{"read, no baseline at all", read, false, func(e *WeekExpect) { e.Baseline = nil }, "read"},
		{"gone from a region read in full", gone(read.AccountID, read.Region), true, nil, "RESOLVED"},
		{"in a failing region", gone(failing.AccountID, failing.Region), true, nil, "carried"},
		{"of a denied account", gone(denied, regions[0]), true, nil, "carried"},
		{"of a missing account", read, true, func(e *WeekExpect) { e.Missing = map[string]bool{missing: true} }, "carried"},
		{"in an opt-in region not enabled", gone(disabled.AccountID, disabled.Region), true, nil, "none"},
		{"of a suspended account", gone(suspended, regions[0]), true, nil, "none"},
		{"outside an ad-hoc run's accounts", read, true, func(e *WeekExpect) { e.Accounts = []string{readOther.AccountID} }, "none"},
		{"gone, in an ad-hoc run's account", gone(read.AccountID, read.Region), true, func(e *WeekExpect) { e.Accounts = []string{read.AccountID} }, "RESOLVED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := &Findings{RunID: "base", GeneratedAt: at.Add(-7 * 24 * time.Hour), Lines: map[awssim.ResultKey]Finding{}}
			if c.baseline {
				base.Lines[c.key] = Finding{AccountName: "old name", FirstSeen: first}
			}
			e := WeekExpect{Org: org, Regions: regions, RunID: "this", GeneratedAt: at, Baseline: base}
			if c.mod != nil {
				c.mod(&e)
			}
			got, changes := ExpectFindings(e)
			var kinds []string
			for _, ch := range changes {
				if ch.Key == c.key {
					kinds = append(kinds, ch.Kind)
					wantFirst := at
					if ch.Kind == "RESOLVED" {
						wantFirst = first
					}
					if !ch.FirstSeen.Equal(wantFirst) {
						t.Errorf("%s row First Seen %s, want %s", ch.Kind, ch.FirstSeen, wantFirst)
					}
				}
			}
			line, inFile := got.Lines[c.key]
			var state string
			switch {
			case len(kinds) > 1:
				t.Fatalf("rows %v for one key", kinds)
			case len(kinds) == 1 && kinds[0] == "NEW" && inFile && !line.Carried && line.FirstSeen.Equal(at):
				state = "NEW"
			case len(kinds) == 1 && kinds[0] == "RESOLVED" && !inFile:
				state = "RESOLVED"
			case len(kinds) == 1:
				t.Fatalf("row %s, line %+v (in file %v)", kinds[0], line, inFile)
			case inFile && line.Carried && line.FirstSeen.Equal(first) && line.AccountName == "old name":
				state = "carried"
			case inFile && !line.Carried && line.FirstSeen.Equal(first):
				state = "kept"
			case inFile && !line.Carried && line.FirstSeen.Equal(at) && e.Baseline == nil:
				state = "read"
			case !inFile:
				state = "none"
			default:
				t.Fatalf("line %+v", line)
			}
			if state != c.want {
				t.Errorf("%v: %s, want %s", c.key, state, c.want)
			}
			if e.Baseline == nil && (len(changes) > 0 || got.BaselineRunID != "") {
				t.Errorf("no baseline, yet %d changes, baseline_run_id %q", len(changes), got.BaselineRunID)
			}
		})
	}
}

// TestCheckChanges: week 2 of a faulty org rendered by the report package
// against week 1's findings file (one account missing, one region failing
// in week 2 only) passes; each edit a wrong pipeline could make to the
// Changes sheet, column J or the findings file fails, naming what differs.
func TestCheckChanges(t *testing.T) {
	gen := awssim.GenConfig{Accounts: 80, Seed: 16, Regions: regions, Rules: 4}
	orgOf := func(week, fail int) *awssim.Org {
		g := gen
		g.Week = week
		org, err := awssim.Generate(g)
		if err != nil {
			t.Fatal(err)
		}
		sim, err := awssim.New(awssim.Config{Org: org, Deny: 2, FailRegions: fail, DisabledRegions: 2, NotRecording: 3})
		if err != nil {
			t.Fatal(err)
		}
		return sim.Org()
	}
	w1, w2 := orgOf(1, 2), orgOf(2, 3)
	at1 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	at2 := at1.Add(7 * 24 * time.Hour)
	dir1 := t.TempDir()
	path1 := truthRender(t, w1, nil, nil, dir1, "week1", at1, nil)
	exp1, _, err := CheckChanges(path1, WeekExpect{Org: w1, Regions: regions, RunID: "week1", GeneratedAt: at1})
	if err != nil {
		t.Fatalf("week 1 (no baseline): %v", err)
	}
	// Missing in week 2: an account with week-1 findings.
	var missingID string
	for k := range exp1.Lines {
		if a, _ := w2.Account(k.AccountID); a.Status == awssim.StatusActive {
			missingID = k.AccountID
			break
		}
	}
	missing := map[string]bool{missingID: true}
	render2 := func(t *testing.T) string {
		fh, err := os.Open(FindingsPath(path1))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		base, err := report.ReadFindingsFile(fh)
		if err != nil {
			t.Fatal(err)
		}
		return truthRender(t, w2, nil, missing, t.TempDir(), "week2", at2, base)
	}
	expect := WeekExpect{Org: w2, Regions: regions, Missing: missing, RunID: "week2", GeneratedAt: at2, Baseline: exp1}

	editCell := func(sheet string, hdr, col int, match func([]string) bool, v any) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			f, err := excelize.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.SetCellValue(sheet, find(t, f, sheet, hdr, col, match), v); err != nil {
				t.Fatal(err)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
		}
	}
	editFile := func(old, new string) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			fp := FindingsPath(path)
			fh, err := os.Open(fp)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("the findings file has no %q", old)
			}
			var out bytes.Buffer
			zw := gzip.NewWriter(&out)
			zw.Write(bytes.Replace(b, []byte(old), []byte(new), 1))
			zw.Close()
			if err := os.WriteFile(fp, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	any := func([]string) bool { return true }
	lateExcel := 46500.0 // 2027-04-23: no First Seen of these runs
	cases := []struct {
		name string
		edit func(*testing.T, string)
		mod  func(*WeekExpect)
		want string
	}{
		{"the truth", nil, nil, ""},
		{"a NEW row called RESOLVED", editCell("Changes", 6, 0, at(0, "NEW"), "RESOLVED"), nil, `column A = "RESOLVED", want "NEW"`},
		{"a RESOLVED row's First Seen reset", editCell("Changes", 6, 7, at(0, "RESOLVED"), lateExcel), nil, "RESOLVED"},
		{"a NEW row's account name", editCell("Changes", 6, 2, at(0, "NEW"), "someone"), nil, `column C = "someone"`},
		{"New count off", editCell("Changes", 2, 1, at(0, "New"), 9999), nil, `Changes New = "9999"`},
		{"Compared with another run", editCell("Changes", 0, 1, at(0, "Compared with"), "other"), nil, `Compared with = "other"`},
		{"First Seen of a kept finding reset", editCell("Non-compliant Resources", 1, 9, any, lateExcel), nil, "First Seen ="},
		{"a carried line not carried", editFile(`"carried":true`, `"carried":false`), nil, "carried = false, want true"},
		{"a line's first seen moved", editFile(`"first_seen":"2026-11-23T01:00:00Z"`, `"first_seen":"2026-11-30T01:00:00Z"`), nil, "first_seen = 2026-11-30"},
		{"baseline_run_id wrong", editFile(`"baseline_run_id":"week1"`, `"baseline_run_id":"week0"`), nil, `baseline_run_id = "week0"`},
		{"no baseline expected", nil, func(e *WeekExpect) { e.Baseline = nil }, `baseline_run_id = "week1", want ""`},
		{"the missing account read", nil, func(e *WeekExpect) { e.Missing = nil }, "carried = true, want false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := render2(t)
			if c.edit != nil {
				c.edit(t, path)
			}
			e := expect
			if c.mod != nil {
				c.mod(&e)
			}
			_, st, err := CheckChanges(path, e)
			if c.want == "" {
				if err != nil {
					t.Fatalf("the truth fails: %v", err)
				}
				if st.New == 0 || st.Resolved == 0 || st.Carried == 0 {
					t.Errorf("stats %+v: the case lacks NEW, RESOLVED or carried findings", st)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one mentioning %q", err, c.want)
			}
		})
	}
}
