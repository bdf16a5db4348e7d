// Package e2e_test runs the pipeline as the cluster does: the aggregator,
// two scanners and the trigger as separate OS processes over SQS and SNS
// (goaws), S3 (gofakes3), DynamoDB (dynalite) and the simulated
// organisation (awssim), with a fake Jira; then an ad-hoc and a malformed
// message sent with the AWS CLI; then week over week (weeks_test.go): two
// scheduled runs of a generated org's weeks 1 and 2 and an ad-hoc scan
// after a fix in week 3. It is `make e2e` (E2E=1 under
// scripts/with-emulators.sh); a plain `go test ./...` skips it.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/runstatus"
	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

func TestPipeline(t *testing.T) {
	if os.Getenv("E2E") != "1" {
		t.Skip("the end-to-end run is `make e2e` (E2E=1 with the emulators up)")
	}
	ep := harness.EmulatorEndpoints(t)
	awsCLI := os.Getenv("AWS_CLI")
	if awsCLI == "" {
		awsCLI = "/usr/bin/aws" // Debian's awscli package: a real client, not ours
	}
	if _, err := os.Stat(awsCLI); err != nil {
		t.Fatalf("AWS CLI %s: %v (apt-get install awscli)", awsCLI, err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out := filepath.Join(root, "out", "e2e")
	logs, bin := filepath.Join(out, "logs"), filepath.Join(out, "bin")
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{logs, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var passed []string
	pass := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		passed = append(passed, line)
		t.Log("PASS " + line)
	}
	t.Cleanup(func() {
		status := "PASS"
		if t.Failed() {
			status = "FAIL"
		}
		summary := fmt.Sprintf("e2e %s: %d checks passed: %s", status, len(passed), strings.Join(passed, "; "))
		_ = os.WriteFile(filepath.Join(out, "summary.txt"), []byte(summary+"\n"), 0o644)
	})
	ctx := context.Background()

	// Binaries, built once: the processes below are these, as deployed;
	// with E2E_IMAGE the services come from the image instead.
	svc := servicesFrom(t, root, bin, out)
	pkgs := []string{"./cmd/awssim", "./cmd/configreport"}
	if svc.img == nil {
		pkgs = append(pkgs, "./cmd/trigger", "./cmd/scanner", "./cmd/aggregator")
	}
	build := exec.Command("go", append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	if svc.img != nil {
		pass("trigger, scanners and aggregators run %s", svc)
	}

	// Bad configuration: each binary says every problem on one line and
	// exits 2, before touching anything.
	for name, want := range map[string][]string{
		"trigger":    {"regions", "-scan-queue-url is required", "-results-topic-arn is required", "-report-bucket"},
		"scanner":    {"-regions", "-scan-queue-url is required", "-poison-queue-url is required", "-report-bucket"},
		"aggregator": {"-results-queue-url is required", "-report-bucket", "table name is required"},
	} {
		cmd := svc.command(name, []string{"AWS_REGION=" + harness.Region, "AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret"})
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if !ok || ee.ExitCode() != 2 || len(lines) != 1 {
			t.Fatalf("%s without settings: %v, %d stderr lines:\n%s", name, err, len(lines), stderr.String())
		}
		for _, w := range want {
			if !strings.Contains(lines[0], w) {
				t.Errorf("%s: %q does not mention %s", name, lines[0], w)
			}
		}
	}
	pass("trigger, scanner and aggregator refuse an empty configuration with one line each, exit 2")
	configreport := filepath.Join(bin, "configreport")
	if _, stderr, code := runStatus(t, configreport, ep, "runs"); code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "-dynamodb-table") {
		t.Fatalf("configreport runs without a store: exit %d, stderr %q; want 2 and one line naming -dynamodb-table", code, stderr)
	}

	// The organisation and its simulator.
	// The regions with the opt-in one, which two accounts never enabled
	// (writeOrg): awssim serves the file's regions, the services scan
	// these.
	regions := harness.RegionsWithOptIn()
	oc := writeOrg(t, filepath.Join(out, "org.json"), 14, heavyFindings, regions)
	simAddr := harness.FreeAddr(t)
	ep.Sim = "http://" + simAddr
	// Some latency, as AWS has: scans take long enough to be caught in
	// flight.
	sim := harness.Start(t, logs, "awssim", filepath.Join(bin, "awssim"), nil, "-org", filepath.Join(out, "org.json"), "-addr", simAddr, "-latency", "100ms")
	harness.WaitHTTP(t, sim, ep.Sim+"/", 30*time.Second, 200*time.Millisecond)

	hub := aws.Config{Region: harness.Region, Credentials: credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")}
	suffix := fmt.Sprintf("%d", time.Now().Unix())
	res := provision(ctx, t, hub, ep, suffix)
	// A blind search: one ticket from two replicas then rests on the
	// ticket lease alone.
	jira := harness.NewJira(t, harness.JiraConfig{Project: "SEC", User: "e2e@example.com", Token: "e2e-token"})

	env := append(harness.ServiceEnv(ep, res, oc.org.ManagementAccountID, regions), jira.Env("config-compliance,e2e")...)
	health := map[string]string{}
	startService := func(name, binary string) *harness.Proc {
		addr := harness.FreeAddr(t)
		health[name] = "http://" + addr
		p := harness.StartCmd(t, logs, name, svc.command(binary, append(env, "HEALTH_ADDR="+addr, "OWNER="+name)))
		return p
	}
	// Two aggregator replicas, as deployed: one report and one ticket
	// all the same.
	aggs := []*harness.Proc{startService("aggregator-1", "aggregator"), startService("aggregator-2", "aggregator")}
	scanners := []*harness.Proc{startService("scanner-1", "scanner"), startService("scanner-2", "scanner")}
	for _, p := range append(append([]*harness.Proc{}, aggs...), scanners...) {
		harness.WaitHTTP(t, p, health[p.Name]+"/readyz", 60*time.Second, 200*time.Millisecond)
		harness.WaitHTTP(t, p, health[p.Name]+"/healthz", time.Second, 200*time.Millisecond)
	}
	pass("4 services ready (/readyz) as separate processes: 2 aggregators, 2 scanners")
	if what := svc.verify(t, append(append([]*harness.Proc{}, aggs...), scanners...)...); what != "" && !t.Failed() {
		pass("%s", what)
	}

	// The scheduled run.
	runID := "e2e-" + suffix
	started := time.Now().UTC()
	trig := harness.StartCmd(t, logs, "trigger", svc.command("trigger", append(env, "RUN_ID="+runID)))

	// A scanner dies mid-run (SIGKILL: no shutdown, no ack) while it holds
	// messages: they come back after the scan queue's visibility timeout
	// and the other scanner finishes the run.
	var held float64
	err := harness.Poll(ctx, time.Minute, 20*time.Millisecond, func() (bool, error) {
		scanners[1].Alive(t)
		held = harness.Gauge(health["scanner-2"]+"/metrics", "configreport_messages_in_flight")
		return held >= 1, nil
	})
	if err != nil {
		t.Fatalf("scanner-2 never held a message: %v", err)
	}
	if err := scanners[1].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = scanners[1].Wait(10 * time.Second)
	live := append([]*harness.Proc{scanners[0]}, aggs...)

	if err := trig.Wait(2 * time.Minute); err != nil {
		t.Fatalf("trigger: %v; last lines of %s:\n%s", err, trig.Log, harness.Tail(trig.Log, 30))
	}
	pass("trigger opened run %s and exited 0", runID)

	s3c := s3.New(s3.Options{Region: harness.Region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.S3), UsePathStyle: true})
	key := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", harness.ReportPrefix, started.Format("2006/01/02"), runID)
	local := filepath.Join(out, filepath.Base(key))
	waitObject(ctx, t, s3c, res.Bucket, key, local, 5*time.Minute, live)
	stats, err := reportcheck.Check(local, reportcheck.Expect{OwnerTags: harness.OwnerTagEntries(), Org: oc.org, Regions: regions, RunID: runID, Trigger: "scheduled"})
	if err != nil {
		t.Fatalf("report %s differs from the organisation's ground truth:\n%v", local, err)
	}
	pass("scanner-2 killed (SIGKILL) holding %.0f message(s) mid-scan; nothing lost", held)
	pass("report s3://%s/%s matches ground truth (%d accounts, %d findings, %d errors, %d rules, %d Coverage rows)", res.Bucket, key, stats.Accounts, stats.Findings, stats.Errors, stats.Rules, stats.Coverage)
	pass("Coverage: opt-in %s skipped in %d accounts that never enabled it (Region Enabled no, no Errors row, not PARTIAL); %s fails in account %s: an Errors row",
		harness.OptInRegion, len(oc.disabled), oc.failedRegion, oc.failed)

	claims, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(res.Bucket), Prefix: aws.String(harness.PayloadPrefix + "/" + runID + "/" + oc.heavy + "/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Contents) == 0 {
		t.Errorf("no claim-check object for account %s (%d findings): its result did not go through S3", oc.heavy, heavyFindings)
	} else {
		pass("claim check: account %s's result (%d findings) went through s3://%s/%s", oc.heavy, heavyFindings, res.Bucket, aws.ToString(claims.Contents[0].Key))
	}

	issue := waitIssue(t, jira, runID, 2*time.Minute)
	pass("Jira ticket %s filed with the workbook attached (%d bytes)", issue.Key, issue.Attachment)

	// An ad-hoc scan, written by hand with the AWS CLI, of an account that
	// never enabled the opt-in region: an ad-hoc scan skips it too.
	adhocAcct := oc.disabled[0]
	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", ep.SQS, "--output", "json"}, args...)...)
		cmd.Env = append(harness.BaseEnv(), "AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret", "AWS_DEFAULT_REGION="+harness.Region, "AWS_PAGER=")
		b, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return b
	}
	var sent struct{ MessageId string }
	if err := json.Unmarshal(cli("sqs", "send-message", "--queue-url", res.ScanQueue, "--message-body", `{"account_id": "`+adhocAcct+`"}`), &sent); err != nil || sent.MessageId == "" {
		t.Fatalf("send-message output: %v", err)
	}
	adhocRun := "adhoc-" + sent.MessageId
	adhocKey := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", harness.ReportPrefix, time.Now().UTC().Format("2006/01/02"), adhocRun)
	adhocLocal := filepath.Join(out, filepath.Base(adhocKey))
	waitObject(ctx, t, s3c, res.Bucket, adhocKey, adhocLocal, 3*time.Minute, live)
	if _, err := reportcheck.Check(adhocLocal, reportcheck.Expect{OwnerTags: harness.OwnerTagEntries(), Org: oc.org, Regions: regions, Accounts: []string{adhocAcct}, RunID: adhocRun, Trigger: "adhoc"}); err != nil {
		t.Fatalf("ad-hoc report %s:\n%v", adhocLocal, err)
	}
	pass("ad-hoc message from the AWS CLI gave the one-account report %s (account %s, %s skipped: never enabled)", adhocKey, adhocAcct, harness.OptInRegion)

	// A malformed one goes to the poison queue with its reason.
	const malformed = `{"account_id": 12345` // truncated JSON
	cli("sqs", "send-message", "--queue-url", res.ScanQueue, "--message-body", malformed)
	var got struct {
		Messages []struct {
			Body              string
			MessageAttributes map[string]struct{ StringValue string }
		}
	}
	err = harness.Poll(ctx, time.Minute, 500*time.Millisecond, func() (bool, error) {
		if err := json.Unmarshal(cli("sqs", "receive-message", "--queue-url", res.PoisonQueue, "--message-attribute-names", "All",
			"--max-number-of-messages", "10", "--wait-time-seconds", "1"), &got); err != nil {
			return false, nil // empty output when there is no message
		}
		for _, m := range got.Messages {
			if m.Body == malformed {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("malformed message not on the poison queue: %v", err)
	}
	for _, m := range got.Messages {
		if m.Body == malformed {
			if r := m.MessageAttributes["poison_reason"].StringValue; r != "malformed" {
				t.Errorf("poison_reason %q, want malformed", r)
			}
			if s := m.MessageAttributes["poison_source"].StringValue; s != "scan-requests" {
				t.Errorf("poison_source %q", s)
			}
		}
	}
	pass("malformed message from the AWS CLI is on the poison queue with poison_reason=malformed")

	// Nothing left behind: the scan queue and its DLQ are empty.
	sqsc := sqs.New(sqs.Options{Region: harness.Region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.SQS)})
	for _, q := range []string{res.ScanQueue, res.ScanDLQ} {
		a, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
			AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Attributes["ApproximateNumberOfMessages"] != "0" || a.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
			t.Errorf("queue %s not empty: %v", q, a.Attributes)
		}
	}
	pass("scan queue and DLQ empty")

	// Two aggregators, one run: still one ticket, long after the first.
	if n := countIssues(jira, runID); n != 1 {
		t.Errorf("%d Jira tickets for run %s, want 1", n, runID)
	} else {
		pass("exactly one ticket for run %s from 2 aggregator replicas", runID)
	}
	// And their /metrics agree: the two replicas emitted two reports in
	// all (the scheduled run and the ad-hoc one), never one twice.
	emitted := harness.Gauge(health["aggregator-1"]+"/metrics", "configreport_aggregator_reports_emitted_total") +
		harness.Gauge(health["aggregator-2"]+"/metrics", "configreport_aggregator_reports_emitted_total")
	if emitted != 2 {
		t.Errorf("aggregators' /metrics count %v reports emitted, want 2 (scheduled + ad hoc)", emitted)
	} else {
		pass("aggregators' /metrics count 2 reports emitted in all (scheduled + ad hoc)")
	}

	// The operator's run status, from the aggregators' table.
	wantFailed := 0
	for _, a := range oc.org.Accounts {
		allFail := len(regions) > 0
		for _, r := range regions {
			allFail = allFail && oc.org.RegionFails(a.ID, r)
		}
		if a.Status == "ACTIVE" && (a.Denied || allFail) {
			wantFailed++
		}
	}
	checkRunsList(t, configreport, ep, res.Table, []wantRun{
		{Row: runstatus.Row{RunID: ident.RunID(runID), Trigger: events.TriggerScheduled, State: runstatus.StateEmitted,
			Expected: stats.Accounts, Reported: stats.Accounts, Failed: wantFailed, ReportKey: key, Ticket: issue.Key}, checkTicket: true},
		{Row: runstatus.Row{RunID: ident.RunID(adhocRun), Trigger: events.TriggerAdhoc, State: runstatus.StateEmitted,
			Expected: 1, Reported: 1, ReportKey: adhocKey}},
	})
	pass("configreport runs lists both runs from DynamoDB: %d expected, %d reported, %d failed, 0 missing, report keys, ticket %s", stats.Accounts, stats.Accounts, wantFailed, issue.Key)

	// Week over week: awssim restarted with a generated org's weeks 1, 2
	// and 3, two scheduled runs back to back and an ad-hoc scan after a fix
	// (weeks_test.go).
	firstFindings := filepath.Join(out, report.FindingsFileName(runID))
	waitObject(ctx, t, s3c, res.Bucket, path.Dir(key)+"/"+report.FindingsFileName(runID), firstFindings, time.Minute, live)
	var scanner *harness.Proc
	sim, scanner = weekPhase(ctx, t, weekStack{
		bin: bin, logs: logs, out: out, simAddr: simAddr, ep: ep, res: res, regions: regions, jira: jira, s3c: s3c, sqsc: sqsc, aggs: aggs,
		trigger: func(mgmt, runID string) *exec.Cmd {
			return svc.command("trigger", append(append(harness.ServiceEnv(ep, res, mgmt, regions), jira.Env("config-compliance,e2e")...), "RUN_ID="+runID))
		},
		start: func(name, binary, mgmt string) *harness.Proc {
			addr := harness.FreeAddr(t)
			env := append(harness.ServiceEnv(ep, res, mgmt, regions), jira.Env("config-compliance,e2e")...)
			p := harness.StartCmd(t, logs, name, svc.command(binary, append(env, "HEALTH_ADDR="+addr, "OWNER="+name)))
			harness.WaitHTTP(t, p, "http://"+addr+"/readyz", 60*time.Second, 200*time.Millisecond)
			return p
		},
		baseline: firstFindings,
	}, pass, sim, scanners[0])
	live = append([]*harness.Proc{scanner}, aggs...)

	// SIGTERM: every service stops by itself, status 0.
	for _, p := range live {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
	}
	if !t.Failed() {
		pass("services stopped cleanly on SIGTERM")
	}
	checkRunsShow(t, configreport, ep, hub, res.Table, suffix)
	if !t.Failed() {
		pass("configreport runs show lists the 2 accounts not yet reported of an unfinished run; an unknown run id is one line, exit 1")
	}
	_ = sim.Stop(10 * time.Second)
}

// provision makes what CloudFormation makes in production
// (harness.Provision) before any service starts: the services run without
// -create-resources, the production path. The scan queue's visibility is
// short, so that the killed scanner's messages come back in seconds.
func provision(ctx context.Context, t *testing.T, hub aws.Config, ep harness.Endpoints, suffix string) harness.Resources {
	t.Helper()
	r, err := harness.Provision(ctx, ep, hub.Credentials, harness.ProvisionConfig{
		Prefix: "config-report", Suffix: suffix, Bucket: "config-report-e2e-" + suffix,
		ScanVisibility: 10 * time.Second, ScanMaxReceives: 3, ResultsVisibility: 60 * time.Second, OtherVisibility: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitObject waits for key in bucket and downloads it to local, failing
// early when a service dies.
func waitObject(ctx context.Context, t *testing.T, c *s3.Client, bucket, key, local string, timeout time.Duration, procs []*harness.Proc) {
	t.Helper()
	var body []byte
	err := harness.Poll(ctx, timeout, time.Second, func() (bool, error) {
		for _, p := range procs {
			p.Alive(t)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return false, nil
		}
		defer out.Body.Close()
		body, err = io.ReadAll(out.Body)
		return err == nil, nil
	})
	if err != nil {
		msg := fmt.Sprintf("s3://%s/%s not there within %s", bucket, key, timeout)
		if len(procs) > 0 {
			last := procs[len(procs)-1]
			msg += fmt.Sprintf("; last lines of %s:\n%s", last.Log, harness.Tail(last.Log, 40))
		}
		t.Fatal(msg)
	}
	if err := os.WriteFile(local, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitIssue waits for the one issue labelled with the run id, with an
// attachment, and checks no second one was filed for it.
func waitIssue(t *testing.T, jira *harness.Jira, runID string, timeout time.Duration) harness.JiraIssue {
	t.Helper()
	var found harness.JiraIssue
	err := harness.Poll(context.Background(), timeout, 500*time.Millisecond, func() (bool, error) {
		n := 0
		for _, is := range jira.Issues() {
			for _, l := range is.Labels {
				if strings.Contains(l, runID) {
					n++
					found = is
				}
			}
		}
		if n > 1 {
			return false, fmt.Errorf("%d tickets for run %s", n, runID)
		}
		return n == 1 && found.Attachment > 0, nil
	})
	if err != nil {
		t.Fatalf("Jira ticket for run %s: %v; calls: %v", runID, err, jira.Calls())
	}
	return found
}

// countIssues is the number of issues labelled with the run's id.
func countIssues(jira *harness.Jira, runID string) int {
	n := 0
	for _, is := range jira.Issues() {
		for _, l := range is.Labels {
			if strings.Contains(l, runID) {
				n++
				break
			}
		}
	}
	return n
}
