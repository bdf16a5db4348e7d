package reportcheck

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

var regions = []string{"us-east-1", "ap-east-1"}

// faultyOrg is a generated org with every fault the check knows: denied
// accounts, failing regions, opt-in regions not enabled, recorders absent
// and stopped; tags as awssim generates them (Owner, owner, Team, none).
func faultyOrg(t *testing.T) *awssim.Org {
	t.Helper()
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 80, Seed: 16, Regions: regions, Rules: 4})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := awssim.New(awssim.Config{Org: org, Deny: 2, FailRegions: 2, DisabledRegions: 2, NotRecording: 3})
	if err != nil {
		t.Fatal(err)
	}
	return sim.Org()
}

// truthWorkbook renders, with the report package, the workbook a correct
// pipeline writes for org: what Check must accept.
func truthWorkbook(t *testing.T, org *awssim.Org, owners []events.OwnerTag, missing map[string]bool) string {
	t.Helper()
	return truthRender(t, org, owners, missing, t.TempDir(), "truth", time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), nil)
}

// truthRender renders, with the report package, run runID's workbook and
// findings file into dir, compared with base (nil: none): what a correct
// pipeline writes for org. It returns the workbook's path.
func truthRender(t *testing.T, org *awssim.Org, owners []events.OwnerTag, missing map[string]bool, dir, runID string, generatedAt time.Time, base *report.Baseline) string {
	t.Helper()
	run := report.Run{RunID: runID, GeneratedAt: generatedAt, Trigger: report.TriggerScheduled, Regions: regions}
	for _, o := range owners {
		run.OwnerColumns = append(run.OwnerColumns, o.Header())
	}
	var accts []report.Account
	var errs []report.ErrorRow
	var fs []report.Finding
	for _, a := range org.Accounts {
		if a.Status != awssim.StatusActive {
			continue
		}
		tags := map[string]string{}
		for _, tg := range org.Tags(a.ID) {
			tags[tg.Key] = tg.Value
		}
		ra := report.Account{ID: a.ID, Name: a.Name, OUPath: a.OUPath}
		for _, o := range owners {
			ra.Owners = append(ra.Owners, o.Value(tags))
		}
		switch {
		case missing[a.ID]:
			ra.Status = report.StatusMissing
			accts = append(accts, ra)
			continue
		case a.Denied:
			ra.Status = report.StatusFailed
			errs = append(errs, report.ErrorRow{AccountID: a.ID, Stage: "assume-role", Code: "AccessDenied", Message: "denied", Attempts: 1})
			accts = append(accts, ra)
			continue
		}
		enabled, failed, notRecording := 0, 0, 0
		for _, region := range regions {
			on := org.OptInStatus(a.ID, region) != awssim.NotOptedIn
			cov := report.Coverage{Region: region, Enabled: &on}
			switch {
			case !on:
				cov.Read = report.ReadSkipped
			case org.RegionFails(a.ID, region):
				enabled++
				failed++
				cov.Read = report.ReadFailed
				errs = append(errs, report.ErrorRow{AccountID: a.ID, Region: region, Stage: "config", Code: "UnrecognizedClientException", Message: "invalid token", Attempts: 1})
			default:
				enabled++
				rules := org.Rules(a.ID, region)
				n := len(rules)
				cov.Read, cov.Rules, cov.Recorder = report.ReadYes, &n, org.Recorder(a.ID, region)
				switch cov.Recorder {
				case awssim.RecorderNone:
					notRecording++
					errs = append(errs, report.ErrorRow{AccountID: a.ID, Region: region, Stage: "recorder", Code: "NoRecorder", Message: "none", Attempts: 1})
				case awssim.RecorderStopped:
					notRecording++
					errs = append(errs, report.ErrorRow{AccountID: a.ID, Region: region, Stage: "recorder", Code: "NotRecording", Message: "stopped", Attempts: 1})
				}
				for _, r := range rules {
					ra.Rules = append(ra.Rules, report.RuleResult{Region: region, Name: r.Name, SourceOwner: r.SourceOwner(), SourceIdentifier: r.SourceIdentifier, Compliance: r.Compliance()})
					for _, res := range r.Results {
						if res.Compliance == awssim.NonCompliant {
							fs = append(fs, report.Finding{AccountID: a.ID, Region: region, RuleName: r.Name, ResourceType: res.ResourceType,
								ResourceID: res.ResourceID, Compliance: report.NonCompliant, Annotation: res.Annotation, RecordedAt: res.RecordedAt})
						}
					}
				}
			}
			ra.Coverage = append(ra.Coverage, cov)
		}
		switch {
		case enabled > 0 && failed == enabled:
			ra.Status, ra.Rules = report.StatusFailed, nil
		case failed > 0 || notRecording > 0:
			ra.Status = report.StatusPartial
		default:
			ra.Status = report.StatusOK
		}
		accts = append(accts, ra)
	}
	slices.SortFunc(fs, func(a, b report.Finding) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region), cmp.Compare(a.RuleName, b.RuleName),
			cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceID, b.ResourceID),
			cmp.Compare(a.Annotation, b.Annotation), a.RecordedAt.Compare(b.RecordedAt))
	})
	path := filepath.Join(dir, "config-compliance-"+runID+".xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ff, err := os.Create(FindingsPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	_, err = report.RenderRun(context.Background(), report.Output{Workbook: f, Findings: ff}, run, accts, errs, func(yield func(report.Finding, error) bool) {
		for _, x := range fs {
			if !yield(x, nil) {
				return
			}
		}
	}, base)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// find returns the cell reference of column col in the first row of sheet
// (below the header row hdr) that match accepts.
func find(t *testing.T, f *excelize.File, sheet string, hdr int, col int, match func([]string) bool) string {
	t.Helper()
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := hdr; i < len(rows); i++ {
		if match(rows[i]) {
			ref, _ := excelize.CoordinatesToCellName(col+1, i+1)
			return ref
		}
	}
	t.Fatalf("%s: no row matches", sheet)
	return ""
}

func at(i int, v string) func([]string) bool {
	return func(r []string) bool { return i < len(r) && r[i] == v }
}

func both(a, b func([]string) bool) func([]string) bool {
	return func(r []string) bool { return a(r) && b(r) }
}

// TestCheck: the truth's workbook passes; each edit of it that a wrong
// pipeline could make (a disabled region reported as enabled or as an
// error, a recorder's state, a read region called failed, a rules count,
// a status, an owner value or column) fails, naming what differs.
func TestCheck(t *testing.T) {
	org := faultyOrg(t)
	if len(org.DisabledRegions()) != 2 || len(org.NoRecorderRegions()) != 2 || len(org.StoppedRecorderRegions()) != 1 ||
		len(org.FailingRegions()) != 2 || len(org.DeniedAccounts()) != 2 {
		t.Fatalf("the org lacks the faults under test")
	}
	owners, err := events.ParseOwnerTags("Owner|owner,Team")
	if err != nil {
		t.Fatal(err)
	}
	var tagless, lowerOwner string
	for _, a := range org.Accounts {
		if a.Status != awssim.StatusActive {
			continue
		}
		if len(a.Tags) == 0 && tagless == "" {
			tagless = a.ID
		}
		if a.Tags["owner"] != "" && a.Tags["Owner"] == "" && lowerOwner == "" {
			lowerOwner = a.ID
		}
	}
	if tagless == "" || lowerOwner == "" {
		t.Fatalf("the org lacks an account without tags (%q) or with only owner (%q)", tagless, lowerOwner)
	}
	missing := map[string]bool{org.Accounts[len(org.Accounts)-1].ID: true}
	disabled, noRec, stopped, failing := org.DisabledRegions()[0], org.NoRecorderRegions()[0], org.StoppedRecorderRegions()[0], org.FailingRegions()[0]
	covRow := func(ar awssim.AccountRegion) func([]string) bool { return both(at(0, ar.AccountID), at(2, ar.Region)) }
	expect := Expect{Org: org, Regions: regions, Missing: missing, OwnerTags: owners, RunID: "truth", Trigger: "scheduled"}

	type edit struct {
		sheet string
		hdr   int // header row
		col   int
		match func([]string) bool
		value any // nil: the cell emptied
	}
	cases := []struct {
		name   string
		edits  []edit
		expect func(*Expect)
		want   string
	}{
		{"the truth", nil, nil, ""},
		{"disabled region shown enabled", []edit{{"Coverage", 1, 3, covRow(disabled), "yes"}}, nil, `Region Enabled = "yes", want "no"`},
		{"disabled region shown read", []edit{{"Coverage", 1, 6, covRow(disabled), "failed"}}, nil, `Read = "failed", want "skipped"`},
		{"enabled region with Region Enabled unknown", []edit{{"Coverage", 1, 3, covRow(noRec), nil}}, nil, `Region Enabled = "", want "yes"`},
		{"absent recorder shown recording", []edit{{"Coverage", 1, 4, covRow(noRec), "recording"}}, nil, `Config Recorder = "recording", want "none"`},
		{"stopped recorder not shown", []edit{{"Coverage", 1, 4, covRow(stopped), nil}}, nil, `Config Recorder = "", want "stopped"`},
		{"failing region shown read", []edit{{"Coverage", 1, 6, covRow(failing), "yes"}}, nil, `Read = "yes", want "failed"`},
		{"rules count off", []edit{{"Coverage", 1, 5, covRow(stopped), 99}}, nil, `Rules = "99"`},
		{"missing account shown failed", []edit{{"Coverage", 1, 6, at(0, org.Accounts[len(org.Accounts)-1].ID), "failed"}}, nil, `want "missing"`},
		{"not recording yet OK", []edit{{"Summary", 10, 8, at(0, noRec.AccountID), "OK"}}, nil, `column I = "OK", want "PARTIAL"`},
		{"recorder row with the wrong code", []edit{{"Errors", 1, 4, both(at(0, stopped.AccountID), at(3, "recorder")), "NoRecorder"}}, nil, `= "NoRecorder", want "NotRecording"`},
		{"owner from the wrong alternative", []edit{{"Summary", 10, 9, at(0, lowerOwner), "someone"}}, nil, `owner column "Owner" = "someone"`},
		{"owner where the account has none", []edit{{"Coverage", 1, 8, at(0, tagless), "Ops"}}, nil, `owner column "Team" = "Ops", want ""`},
		{"owner missing on an error row", []edit{{"Errors", 1, 7, both(at(0, stopped.AccountID), at(3, "recorder")), nil}}, nil, `owner column "Owner" = ""`},
		{"owner missing on a finding", []edit{{"Non-compliant Resources", 1, 10, at(0, lowerOwner), "x"}}, nil, `finding`},
		{"owner header", []edit{{"Coverage", 0, 7, func([]string) bool { return true }, "owner"}}, nil, `Coverage header`},
		{"owner columns not expected", nil, func(e *Expect) { e.OwnerTags = nil }, `Summary header`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := truthWorkbook(t, org, owners, missing)
			if len(c.edits) > 0 {
				f, err := excelize.OpenFile(path)
				if err != nil {
					t.Fatal(err)
				}
				for _, ed := range c.edits {
					ref := find(t, f, ed.sheet, ed.hdr, ed.col, ed.match)
					if ed.value == nil {
						err = f.SetCellValue(ed.sheet, ref, nil)
					} else {
						err = f.SetCellValue(ed.sheet, ref, ed.value)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := f.Save(); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			e := expect
			if c.expect != nil {
				c.expect(&e)
			}
			st, err := Check(path, e)
			if c.want == "" {
				if err != nil {
					t.Fatalf("the truth's workbook fails: %v", err)
				}
				active := 0
				for _, a := range org.Accounts {
					if a.Status == awssim.StatusActive {
						active++
					}
				}
				if st.Coverage != active*len(regions) || st.Accounts != active {
					t.Errorf("stats %+v, want %d accounts and %d coverage rows", st, active, active*len(regions))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one mentioning %q", err, c.want)
			}
		})
	}
}
