package local

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

var regions = []string{"us-east-1", "ap-east-1"}

type env struct {
	sim *awssim.Sim
	hub aws.Config
}

func newEnv(t *testing.T, accounts int, seed int64, cfg awssim.Config) env {
	t.Helper()
	org, err := awssim.Generate(awssim.GenConfig{Accounts: accounts, Seed: seed, Regions: regions, Rules: 6})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOrg(t, org, cfg)
}

// newEnvOrg serves org (a week of a generated org, say) with cfg's faults.
func newEnvOrg(t *testing.T, org *awssim.Org, cfg awssim.Config) env {
	t.Helper()
	cfg.Org = org
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	sim, err := awssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	hub, err := awsconf.Load(context.Background(), awsconf.Options{
		Region: "us-east-1", Concurrency: 16,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(srv.URL),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return env{sim: sim, hub: hub}
}

func baseConfig(t *testing.T) Config {
	return Config{Out: t.TempDir(), Regions: []ident.Region{"us-east-1", "ap-east-1"}, Concurrency: 16, ProgressInterval: 200 * time.Millisecond}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The whole job against an org with every fault awssim has: the workbook
// must match the org's ground truth row for row.
func TestLocalRunMatchesGroundTruth(t *testing.T) {
	e := newEnv(t, 60, 11, awssim.Config{Deny: 3, FailRegions: 4, ThrottleRPS: 1.5, ErrorRate: 0.02})
	org := e.sim.Org()
	suspended := 0
	for _, a := range org.Accounts {
		if a.Status != awssim.StatusActive {
			suspended++
		}
	}
	if suspended == 0 || len(org.DeniedAccounts()) != 3 || len(org.FailingRegions()) != 4 {
		t.Fatalf("org lacks the faults under test: %d suspended, %d denied, %d failing regions", suspended, len(org.DeniedAccounts()), len(org.FailingRegions()))
	}
	var progress strings.Builder
	res, err := Run(context.Background(), baseConfig(t), e.hub, &progress, quiet())
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	// -error-rate: a permanent error may follow a retried 5xx (attempts 2).
	st, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: org, Regions: regions, RunID: string(res.RunID), Trigger: "scheduled", TransientFaults: true})
	if err != nil {
		t.Fatalf("workbook differs from the ground truth:\n%v", err)
	}
	if st.Findings == 0 || st.Errors != 3+4 {
		t.Errorf("checked %+v: want findings and exactly 7 error rows", st)
	}
	stats := e.sim.Stats()
	if stats.Throttled == 0 {
		t.Errorf("no call was throttled: the test does not exercise the retryer (stats %+v)", stats)
	}
	if stats.MaxInFlight > 16 {
		t.Errorf("awssim saw %d calls in flight, -concurrency is 16", stats.MaxInFlight)
	}
	for _, want := range []string{"accounts reported", "report written"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
}

// An interrupted run resumes from its store: accounts recorded before the
// interruption are not scanned again, and the report is complete.
func TestLocalRunResumes(t *testing.T) {
	e := newEnv(t, 40, 5, awssim.Config{Latency: 15 * time.Millisecond})
	cfg := baseConfig(t)
	cfg.Concurrency = 4
	cfg.RunID = "resume-test"

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			if assumed(e.sim.Stats(), "") >= 12 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if _, err := Run(ctx, cfg, e.hub, io.Discard, quiet()); err == nil {
		t.Fatal("interrupted run reported success")
	}

	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(cfg.Out, sqlite.FileName)}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	prior, err := st.Run(context.Background(), cfg.RunID)
	if err != nil || prior.Started == nil {
		t.Fatalf("interrupted run has no RunStarted in its store: %+v %v", prior, err)
	}
	recorded := map[string]bool{}
	for _, a := range prior.Started.Accounts {
		if ok, _ := st.HasResult(context.Background(), cfg.RunID, a.AccountID); ok {
			recorded[string(a.AccountID)] = true
		}
	}
	st.Close()
	if len(recorded) == 0 || len(recorded) == len(prior.Started.Accounts) {
		t.Fatalf("interruption recorded %d of %d accounts: the test needs some of each", len(recorded), len(prior.Started.Accounts))
	}

	e.sim.ResetStats()
	res, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Requested != len(prior.Started.Accounts)-len(recorded) {
		t.Errorf("resumed=%v requested=%d, want a resume requesting %d", res.Resumed, res.Requested, len(prior.Started.Accounts)-len(recorded))
	}
	stats := e.sim.Stats()
	for acct := range recorded {
		if n := assumed(stats, acct); n != 0 {
			t.Errorf("account %s was recorded before the restart but assumed %d times after", acct, n)
		}
	}
	if _, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: e.sim.Org(), Regions: regions, RunID: "resume-test"}); err != nil {
		t.Fatalf("resumed report differs from the ground truth:\n%v", err)
	}

	// Once emitted, running it again re-renders without a single AWS call.
	e.sim.ResetStats()
	again, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
	if err != nil || !again.Rerendered || again.Path != res.Path {
		t.Fatalf("re-run of an emitted run: %+v, %v", again, err)
	}
	if total := e.sim.Stats().Total; total != 0 {
		t.Errorf("re-render made %d AWS calls", total)
	}
}

// When the deadline passes, the accounts without a result are MISSING and
// everything else is still exact.
func TestLocalRunDeadline(t *testing.T) {
	e := newEnv(t, 30, 9, awssim.Config{Latency: 40 * time.Millisecond})
	cfg := baseConfig(t)
	cfg.Concurrency = 2
	cfg.Deadline = 1500 * time.Millisecond
	res, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.GetRows("Summary")
	f.Close()
	missing := map[string]bool{}
	for _, r := range rows[10:] {
		if len(r) >= 9 && r[8] == "MISSING" {
			missing[r[0]] = true
		}
	}
	if len(missing) == 0 || len(missing) == len(rows)-10 {
		t.Fatalf("%d of %d accounts missing: the deadline should cut the run part-way", len(missing), len(rows)-10)
	}
	if _, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: e.sim.Org(), Regions: regions, Missing: missing}); err != nil {
		t.Fatalf("report past its deadline differs from the ground truth:\n%v", err)
	}
}

// An ad-hoc run of given accounts reports exactly those.
func TestLocalAdhoc(t *testing.T) {
	e := newEnv(t, 20, 3, awssim.Config{})
	var ids []string
	cfg := baseConfig(t)
	for _, a := range e.sim.Org().Accounts {
		if a.Status == awssim.StatusActive && len(ids) < 2 {
			ids = append(ids, a.ID)
			cfg.Accounts = append(cfg.Accounts, ident.AccountID(a.ID))
		}
	}
	res, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: e.sim.Org(), Regions: regions, Accounts: ids, Trigger: "adhoc"}); err != nil {
		t.Fatalf("ad-hoc report:\n%v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Concurrency: -1, OrgRoleARN: "arn:nope", RunID: "a/b", ReadRoleName: "bad role", Deadline: -time.Second}
	err := c.Validate()
	for _, want := range []string{"regions", "concurrency", "org-role-arn", "read-role-name", "run-id", "deadline"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem naming %s", err, want)
		}
	}
	// The aggregator refuses a run longer than events.MaxRunLength.
	c = Config{Regions: []ident.Region{"us-east-1"}, Deadline: events.MaxRunLength + time.Second}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "deadline 168h0m1s") {
		t.Errorf("Validate() with a deadline past a week = %v", err)
	}
}

// assumed counts the read role's AssumeRole calls (for one account, or all
// when acct is empty).
func assumed(s awssim.Stats, acct string) int {
	n := 0
	for a, c := range s.Calls["AssumeRole"] {
		if acct == "" || a == acct {
			n += int(c)
		}
	}
	return n
}

// The ground-truth checker itself must catch a wrong cell: a report that
// lost a finding, changed a status or an error code fails it.
func TestReportCheckCatchesDifferences(t *testing.T) {
	e := newEnv(t, 12, 4, awssim.Config{Deny: 1, FailRegions: 1})
	res, err := Run(context.Background(), baseConfig(t), e.hub, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	expect := reportcheck.Expect{Org: e.sim.Org(), Regions: regions}
	if _, err := reportcheck.Check(res.Path, expect); err != nil {
		t.Fatalf("unmodified report: %v", err)
	}
	for _, m := range []struct {
		sheet, cell, value, want string
	}{
		{"Summary", "I11", "BOGUS", "Summary row 11"},
		{"Summary", "G12", "999", "column G"},
		{"Non-compliant Resources", "F2", "someone-else", "finding 1"},
		{"Errors", "E2", "Throttling", "error row 2"},
		{"Rules", "C2", "0", "column C"},
	} {
		f, err := excelize.OpenFile(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetCellStr(m.sheet, m.cell, m.value); err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "bad.xlsx")
		if err := f.SaveAs(bad); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := reportcheck.Check(bad, expect); err == nil || !strings.Contains(err.Error(), m.want) {
			t.Errorf("%s!%s=%q: check said %v, want a difference naming %q", m.sheet, m.cell, m.value, err, m.want)
		}
	}
	if _, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: e.sim.Org(), Regions: []string{"us-east-1"}}); err == nil {
		t.Error("a report of two regions passed as one of one region")
	}
}

// -generated-at makes output reproducible: the same org scanned in two
// separate runs with the same run id gives byte-identical workbooks.
func TestLocalGeneratedAtReproducible(t *testing.T) {
	e := newEnv(t, 15, 8, awssim.Config{Deny: 1, FailRegions: 1})
	var files [][]byte
	for range 2 {
		cfg := baseConfig(t)
		cfg.RunID = "weekly-2026-w48"
		cfg.GeneratedAt = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
		res, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
		f, err := excelize.OpenFile(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := f.GetCellValue("Summary", "B3", excelize.Options{RawCellValue: true})
		f.Close()
		if got, err := excelTime(v); err != nil || !got.Equal(cfg.GeneratedAt) {
			t.Errorf("Generated at = %q (%v), want %s", v, got, cfg.GeneratedAt)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two runs with the same -generated-at differ")
	}
}

func excelTime(s string) (time.Time, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, err
	}
	return excelize.ExcelDateToTime(v, false)
}
