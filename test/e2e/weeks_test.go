package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/scan"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

// The week-over-week phase's generated org: small, so that it adds little
// to the suite, with a denied account and a failing region (one more in
// week 2 only: -fail-regions 2 keeps week 1's pick and adds one).
const (
	weekAccounts = 24
	weekSeed     = 5
	weekRules    = 6
)

func weekFaults(week int) awssim.Config {
	c := awssim.Config{Deny: 1, FailRegions: 1}
	if week == 2 {
		c.FailRegions = 2
	}
	return c
}

// weekTruth is week's org as awssim serves it with weekFaults.
func weekTruth(t *testing.T, regions []string, week int) *awssim.Org {
	t.Helper()
	org, err := awssim.Generate(awssim.GenConfig{Accounts: weekAccounts, Seed: weekSeed, Regions: regions, Rules: weekRules, Week: week})
	if err != nil {
		t.Fatal(err)
	}
	c := weekFaults(week)
	c.Org = org
	sim, err := awssim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return sim.Org()
}

// weekStack is what the phase needs of TestPipeline's running stack.
type weekStack struct {
	bin, logs, out string
	simAddr        string
	ep             harness.Endpoints
	res            harness.Resources
	regions        []string
	jira           *harness.Jira
	s3c            *s3.Client
	sqsc           *sqs.Client
	aggs           []*harness.Proc
	// trigger is the trigger's command for run runID of the org whose
	// management account is mgmt; start starts a service binary as name,
	// for that org, and waits for it to be ready.
	trigger func(mgmt, runID string) *exec.Cmd
	start   func(name, binary, mgmt string) *harness.Proc
	// baseline is the first scheduled run's findings file: the first
	// week's baseline (an org file of other accounts: nothing of it is
	// RESOLVED or carried).
	baseline string
}

// weekPhase: awssim restarted with a generated org's week 1, then week 2,
// each scanned by a scheduled run back to back; then week 3 and an ad-hoc
// scan of one account with a finding fixed in week 3. The second scheduled
// report's Changes (and First Seen, and findings file) and the ad-hoc
// report's RESOLVED rows are checked against the truth of the weeks, and
// the second run's ticket says "N new, M resolved since <week 1's date>".
// The scanner is restarted with awssim: a restarted awssim forgets the
// sessions it issued (AWS never does), and a scanner's cached credentials
// would be refused. It returns the simulator and scanner left running.
func weekPhase(ctx context.Context, t *testing.T, w weekStack, pass func(string, ...any), oldSim, oldScanner *harness.Proc) (sim, scanner *harness.Proc) {
	sim, scanner = oldSim, oldScanner
	base, err := reportcheck.ReadFindings(w.baseline)
	if err != nil {
		t.Fatalf("the first run's findings file: %v", err)
	}
	owners := harness.OwnerTagEntries()
	weekDir := filepath.Join(w.out, "weeks")
	if err := os.MkdirAll(weekDir, 0o755); err != nil {
		t.Fatal(err)
	}
	restart := func(week int) {
		if sim != nil {
			if err := sim.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if scanner != nil {
			if err := scanner.Stop(30 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		f := weekFaults(week)
		sim = harness.Start(t, w.logs, fmt.Sprintf("awssim-week%d", week), filepath.Join(w.bin, "awssim"), nil,
			"-addr", w.simAddr, "-accounts", strconv.Itoa(weekAccounts), "-seed", strconv.Itoa(weekSeed),
			"-regions", strings.Join(w.regions, ","), "-rules", strconv.Itoa(weekRules), "-week", strconv.Itoa(week),
			"-deny", strconv.Itoa(f.Deny), "-fail-regions", strconv.Itoa(f.FailRegions))
		harness.WaitHTTP(t, sim, w.ep.Sim+"/", 30*time.Second, 100*time.Millisecond)
		scanner = w.start(fmt.Sprintf("scanner-week%d", week), "scanner", weekTruth(t, w.regions, 1).ManagementAccountID)
	}
	// fetch downloads run runID's workbook (key) and its findings file.
	fetch := func(key, runID string) string {
		local := filepath.Join(weekDir, filepath.Base(key))
		waitObject(ctx, t, w.s3c, w.res.Bucket, key, local, 3*time.Minute, append([]*harness.Proc{scanner}, w.aggs...))
		fkey := path.Dir(key) + "/" + report.FindingsFileName(runID)
		waitObject(ctx, t, w.s3c, w.res.Bucket, fkey, reportcheck.FindingsPath(local), time.Minute, nil)
		return local
	}
	scheduled := func(week int, truth *awssim.Org) (runID, key, local string) {
		runID = fmt.Sprintf("e2e-week%d-%d", week, time.Now().UnixNano())
		started := time.Now().UTC()
		trig := harness.StartCmd(t, w.logs, fmt.Sprintf("trigger-week%d", week), w.trigger(truth.ManagementAccountID, runID))
		if err := trig.Wait(2 * time.Minute); err != nil {
			t.Fatalf("trigger of week %d: %v; last lines of %s:\n%s", week, err, trig.Log, harness.Tail(trig.Log, 30))
		}
		key = fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", harness.ReportPrefix, started.Format("2006/01/02"), runID)
		local = fetch(key, runID)
		if _, err := reportcheck.Check(local, reportcheck.Expect{OwnerTags: owners, Org: truth, Regions: w.regions, RunID: runID, Trigger: "scheduled"}); err != nil {
			t.Fatalf("week %d's report %s differs from the ground truth:\n%v", week, local, err)
		}
		return runID, key, local
	}

	phase := time.Now()
	restart(1)
	truth1 := weekTruth(t, w.regions, 1)
	run1, _, local1 := scheduled(1, truth1)
	exp1, st1, err := reportcheck.CheckChanges(local1, reportcheck.WeekExpect{Org: truth1, Regions: w.regions, OwnerTags: owners, RunID: run1, Baseline: base})
	if err != nil {
		t.Fatalf("week 1's Changes (against %s, an org of other accounts): %v", base.RunID, err)
	}

	restart(2)
	truth2 := weekTruth(t, w.regions, 2)
	run2, key2, local2 := scheduled(2, truth2)
	exp2, st2, err := reportcheck.CheckChanges(local2, reportcheck.WeekExpect{Org: truth2, Regions: w.regions, OwnerTags: owners, RunID: run2, Baseline: exp1})
	if err != nil {
		t.Fatalf("week 2's report %s: Changes, First Seen or findings file differ from the truth:\n%v", local2, err)
	}
	if st2.New == 0 || st2.Resolved == 0 || st2.Carried == 0 {
		t.Fatalf("week 2: %+v; the phase wants NEW, RESOLVED and carried findings", st2)
	}
	pass("week 1 then week 2 of a generated org (awssim restarted with -week 2): s3://%s/%s compares with run %s, %d NEW, %d RESOLVED, %d carried from the region failing in week 2 only, every First Seen and findings line as the truth says (week 1: %d NEW against the org-file run)",
		w.res.Bucket, key2, run1, st2.New, st2.Resolved, st2.Carried, st1.New)

	issue := waitIssue(t, w.jira, run2, 2*time.Minute)
	line := fmt.Sprintf("%d new, %d resolved since %s", st2.New, st2.Resolved, exp1.GeneratedAt.UTC().Format("2006-01-02"))
	if !strings.Contains(issue.Description, line) {
		t.Errorf("week 2's ticket %s lacks %q:\n%s", issue.Key, line, issue.Description)
	} else {
		pass("week 2's ticket %s says %q", issue.Key, line)
	}

	// A fix: week 3, and an ad-hoc scan of an account with a finding
	// resolved in week 3; it compares with week 2's run, restricted to it.
	restart(3)
	truth3 := weekTruth(t, w.regions, 3)
	var acct string
	var resolved int
	for _, a := range truth3.Accounts {
		if a.Status != awssim.StatusActive {
			continue
		}
		_, ch := reportcheck.ExpectFindings(reportcheck.WeekExpect{Org: truth3, Regions: w.regions, Accounts: []string{a.ID}, GeneratedAt: time.Now(), Baseline: exp2})
		for _, c := range ch {
			if c.Kind == "RESOLVED" {
				resolved++
			}
		}
		if resolved > 0 {
			acct = a.ID
			break
		}
	}
	if acct == "" {
		t.Fatal("no account has a finding resolved in week 3")
	}
	sent, err := w.sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.res.ScanQueue), MessageBody: aws.String(`{"account_id": "` + acct + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	adhocRun := scan.AdhocPrefix + aws.ToString(sent.MessageId)
	adhocKey := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", harness.ReportPrefix, time.Now().UTC().Format("2006/01/02"), adhocRun)
	adhocLocal := fetch(adhocKey, adhocRun)
	if _, err := reportcheck.Check(adhocLocal, reportcheck.Expect{OwnerTags: owners, Org: truth3, Regions: w.regions, Accounts: []string{acct}, RunID: adhocRun, Trigger: "adhoc"}); err != nil {
		t.Fatalf("ad-hoc report %s:\n%v", adhocLocal, err)
	}
	_, sta, err := reportcheck.CheckChanges(adhocLocal, reportcheck.WeekExpect{Org: truth3, Regions: w.regions, Accounts: []string{acct}, OwnerTags: owners, RunID: adhocRun, Baseline: exp2})
	if err != nil {
		t.Fatalf("ad-hoc report %s: Changes differ from the truth (week 2's run restricted to account %s):\n%v", adhocLocal, acct, err)
	}
	if sta.Resolved != resolved {
		t.Fatalf("ad-hoc report: %d RESOLVED, want %d", sta.Resolved, resolved)
	}
	pass("ad-hoc scan of account %s after a fix (awssim -week 3): %s compares with run %s restricted to the account, %d RESOLVED, %d NEW, as the truth says",
		acct, adhocKey, run2, sta.Resolved, sta.New)
	t.Logf("week-over-week phase took %v", time.Since(phase).Round(100*time.Millisecond))
	return sim, scanner
}
