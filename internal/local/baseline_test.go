package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func TestBaselineFlagValidate(t *testing.T) {
	for _, tc := range []struct {
		baseline, runID, wantErr string
	}{
		{baseline: ""},
		{baseline: BaselineNone},
		{baseline: "01KMZ8W4Y0RUN"},
		{baseline: "no such thing!", wantErr: `baseline: "no such thing!" is neither "none" nor a run id`},
		{baseline: "01KMZ8W4Y0RUN", runID: "01KMZ8W4Y0RUN", wantErr: "cannot be its own baseline"},
	} {
		cfg := Config{Regions: []ident.Region{"us-east-1"}, Baseline: tc.baseline, RunID: ident.RunID(tc.runID)}
		cfg.setDefaults()
		err := cfg.Validate()
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("-baseline %q -run-id %q: %v, want %q", tc.baseline, tc.runID, err, tc.wantErr)
		}
	}
}

// TestPinned: -baseline RUN_ID must name an emitted scheduled run of the
// -out store with a findings file; each other case is one clear line.
func TestPinned(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), sqlite.FileName)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	record := func(id ident.RunID, trigger events.Trigger, emit bool, findingsKey string) {
		t.Helper()
		rs := &events.RunStarted{RunID: id, Trigger: trigger, StartedAt: at, Deadline: at.Add(time.Hour),
			Regions: []ident.Region{"us-east-1"}, Accounts: []events.Account{{AccountID: "111111111111", Name: "a", OUPath: "Root"}}}
		if _, err := st.RecordRun(ctx, rs); err != nil {
			t.Fatal(err)
		}
		if !emit {
			return
		}
		if _, err := st.Claim(ctx, id, "test", at, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkEmitted(ctx, id, "test", "reports/"+string(id)+".xlsx", findingsKey, at); err != nil {
			t.Fatal(err)
		}
	}
	record("01KMZ8W4Y0GOOD", events.TriggerScheduled, true, "reports/good.findings.jsonl.gz")
	record("01KMZ8W4Y0ADHOC", events.TriggerAdhoc, true, "reports/adhoc.findings.jsonl.gz")
	record("01KMZ8W4Y0OPEN", events.TriggerScheduled, false, "")
	record("01KMZ8W4Y0OLD", events.TriggerScheduled, true, "")
	for _, tc := range []struct {
		baseline string
		want     *store.BaselineRef // with wantPin
		wantPin  bool
		wantErr  string
	}{
		{baseline: ""},
		{baseline: "none", wantPin: true},
		{baseline: "01KMZ8W4Y0GOOD", wantPin: true, want: &store.BaselineRef{RunID: "01KMZ8W4Y0GOOD", GeneratedAt: at, FindingsKey: "reports/good.findings.jsonl.gz"}},
		{baseline: "01KMZ8W4Y0NONE", wantErr: "baseline 01KMZ8W4Y0NONE: no such run under /out"},
		{baseline: "01KMZ8W4Y0ADHOC", wantErr: "an ad-hoc run"},
		{baseline: "01KMZ8W4Y0OPEN", wantErr: "its report was never written"},
		{baseline: "01KMZ8W4Y0OLD", wantErr: "no findings file"},
	} {
		pin, err := pinned(ctx, st, Config{Out: "/out", Baseline: tc.baseline, RunID: "01KMZ8W4Y0THIS"})
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("-baseline %s: %v, want one line with %q", tc.baseline, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("-baseline %s: %v", tc.baseline, err)
		case (pin != nil) != tc.wantPin || (pin != nil && (!pin.Ref.Equal(tc.want) || pin.RunID != "01KMZ8W4Y0THIS")):
			t.Errorf("-baseline %q: pin %+v, want pinned %v to %v", tc.baseline, pin, tc.wantPin, tc.want)
		}
	}
}

// changes reads a workbook's Changes sheet: Compared with, and the count
// of NEW and RESOLVED rows.
func changes(t *testing.T, path string) (compared string, rows map[string]int) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := f.GetRows(report.SheetChanges)
	if err != nil {
		t.Fatal(err)
	}
	if len(all[0]) > 1 {
		compared = all[0][1]
	}
	rows = map[string]int{}
	for _, r := range all[6:] {
		rows[r[0]]++
	}
	return compared, rows
}

// TestWeekOverWeekLocal: week 1 then week 2 of one org into one -out: the
// second workbook compares with the first run and lists NEW and RESOLVED
// rows; -baseline picks the first run explicitly, or none; a re-render
// keeps the baseline fixed at the first claim whatever -baseline says.
func TestWeekOverWeekLocal(t *testing.T) {
	ctx := context.Background()
	gen := awssim.GenConfig{Accounts: 30, Seed: 17, Regions: regions, Rules: 6}
	weekEnv := func(week int) env {
		g := gen
		g.Week = week
		org, err := awssim.Generate(g)
		if err != nil {
			t.Fatal(err)
		}
		return newEnvOrg(t, org, awssim.Config{})
	}
	w1, w2 := weekEnv(1), weekEnv(2)
	cfg := baseConfig(t)
	run := func(e env, mod func(*Config)) (Result, string) {
		t.Helper()
		c := cfg
		if mod != nil {
			mod(&c)
		}
		var progress strings.Builder
		res, err := Run(ctx, c, e.hub, &progress, quiet())
		if err != nil {
			t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
		}
		return res, progress.String()
	}

	first, progress := run(w1, nil)
	if first.Baseline != nil || !strings.Contains(progress, "no baseline") {
		t.Errorf("week 1: baseline %v; progress:\n%s", first.Baseline, progress)
	}
	fpath := filepath.Join(filepath.Dir(first.Path), report.FindingsFileName(string(first.RunID)))
	if _, err := os.Stat(fpath); err != nil {
		t.Errorf("week 1's findings file: %v", err)
	}

	second, progress := run(w2, nil)
	if second.Baseline == nil || second.Baseline.RunID != first.RunID {
		t.Fatalf("week 2's baseline %v, want run %s", second.Baseline, first.RunID)
	}
	if want := "compared with run " + string(first.RunID) + " of "; strings.Count(progress, want) != 2 {
		t.Errorf("progress should say %q at the start and the end:\n%s", want, progress)
	}
	compared, rows := changes(t, second.Path)
	if compared != string(first.RunID) || rows["NEW"] == 0 || rows["RESOLVED"] == 0 {
		t.Errorf("week 2's Changes: compared with %q, rows %v; want run %s, NEW and RESOLVED rows", compared, rows, first.RunID)
	}

	// -baseline names the first run explicitly: the same comparison.
	explicit, _ := run(w2, func(c *Config) { c.Baseline = string(first.RunID) })
	if explicit.Baseline == nil || explicit.Baseline.RunID != first.RunID {
		t.Errorf("-baseline %s: baseline %v", first.RunID, explicit.Baseline)
	}
	if c, r := changes(t, explicit.Path); c != compared || r["NEW"] != rows["NEW"] || r["RESOLVED"] != rows["RESOLVED"] {
		t.Errorf("-baseline %s: Changes %q %v, want %q %v", first.RunID, c, r, compared, rows)
	}

	// -baseline none: no comparison.
	none, progress := run(w2, func(c *Config) { c.Baseline = BaselineNone })
	if none.Baseline != nil || !strings.Contains(progress, "no baseline") {
		t.Errorf("-baseline none: baseline %v; progress:\n%s", none.Baseline, progress)
	}
	if c, r := changes(t, none.Path); c != "" || len(r) != 0 {
		t.Errorf("-baseline none: Changes compared with %q, rows %v; want none", c, r)
	}

	// Re-rendering week 2 with -baseline none keeps its fixed baseline.
	again, progress := run(w2, func(c *Config) { c.RunID, c.Baseline = second.RunID, BaselineNone })
	if !again.Rerendered || again.Baseline == nil || again.Baseline.RunID != first.RunID {
		t.Errorf("re-render: rerendered %v, baseline %v; want the first run kept", again.Rerendered, again.Baseline)
	}
	if !strings.Contains(progress, "fixed at its first claim") || !strings.Contains(progress, "-baseline none ignored") {
		t.Errorf("re-render with another -baseline should say the fixed one stands:\n%s", progress)
	}
	if c, _ := changes(t, again.Path); c != string(first.RunID) {
		t.Errorf("re-rendered Changes compared with %q, want %s", c, first.RunID)
	}
}
