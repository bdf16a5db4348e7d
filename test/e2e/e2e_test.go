// Package e2e_test runs the pipeline as the cluster does: the aggregator,
// two scanners and the trigger as separate OS processes over SQS and SNS
// (goaws), S3 (gofakes3), DynamoDB (dynalite) and the simulated
// organisation (awssim), with a fake Jira; then an ad-hoc and a malformed
// message sent with the AWS CLI. It is `make e2e` (E2E=1 under
// scripts/with-emulators.sh); a plain `go test ./...` skips it.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/reportcheck"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/testenv"
)

const (
	region        = "us-east-1"
	reportPrefix  = "reports"
	payloadPrefix = "claim-check"
	jiraProject   = "SEC"
)

var regions = []string{"us-east-1", "eu-west-1"}

type endpoints struct{ sqs, sns, s3, dynamodb, sim string }

// resources are what CloudFormation makes in production; here the test
// makes them, with the SDK, before any service starts (the services run
// without -create-resources: the production path).
type resources struct {
	scanQueue, scanDLQ, resultsQueue, poisonQueue, topicARN, bucket, table string
}

func TestPipeline(t *testing.T) {
	if os.Getenv("E2E") != "1" {
		t.Skip("the end-to-end run is `make e2e` (E2E=1 with the emulators up)")
	}
	ep := endpoints{
		sqs: testenv.Endpoint(t, "SQS_ENDPOINT"), sns: testenv.Endpoint(t, "SNS_ENDPOINT"),
		s3: testenv.Endpoint(t, "S3_ENDPOINT"), dynamodb: testenv.Endpoint(t, "DYNAMODB_ENDPOINT"),
	}
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

	// Binaries, built once: the processes below are these, as deployed.
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/awssim", "./cmd/trigger", "./cmd/scanner", "./cmd/aggregator")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}

	// Bad configuration: each binary says every problem on one line and
	// exits 2, before touching anything.
	for name, want := range map[string][]string{
		"trigger":    {"regions", "-scan-queue-url is required", "-results-topic-arn is required", "-report-bucket"},
		"scanner":    {"-regions", "-scan-queue-url is required", "-poison-queue-url is required", "-report-bucket"},
		"aggregator": {"-results-queue-url is required", "-report-bucket", "table name is required"},
	} {
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env = append(baseEnv(), "AWS_REGION="+region, "AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret")
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

	// The organisation and its simulator.
	oc := writeOrg(t, filepath.Join(out, "org.json"), 14, heavyFindings, regions)
	simAddr := freeAddr(t)
	ep.sim = "http://" + simAddr
	// Some latency, as AWS has: scans take long enough to be caught in
	// flight.
	sim := start(t, logs, "awssim", filepath.Join(bin, "awssim"), nil, "-org", filepath.Join(out, "org.json"), "-addr", simAddr, "-latency", "100ms")
	waitHTTP(t, sim, ep.sim+"/", 30*time.Second)

	hub := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")}
	suffix := fmt.Sprintf("%d", time.Now().Unix())
	res := provision(ctx, t, hub, ep, suffix)
	jira := newFakeJira(t)

	env := serviceEnv(ep, res, oc.org.ManagementAccountID, jira.url)
	health := map[string]string{}
	startService := func(name, binary string) *proc {
		addr := freeAddr(t)
		health[name] = "http://" + addr
		p := start(t, logs, name, filepath.Join(bin, binary), append(env, "HEALTH_ADDR="+addr, "OWNER="+name))
		return p
	}
	// Two aggregator replicas, as deployed: one report and one ticket
	// all the same.
	aggs := []*proc{startService("aggregator-1", "aggregator"), startService("aggregator-2", "aggregator")}
	scanners := []*proc{startService("scanner-1", "scanner"), startService("scanner-2", "scanner")}
	for _, p := range append(append([]*proc{}, aggs...), scanners...) {
		waitHTTP(t, p, health[p.name]+"/readyz", 60*time.Second)
		waitHTTP(t, p, health[p.name]+"/healthz", time.Second)
	}
	pass("4 services ready (/readyz) as separate processes: 2 aggregators, 2 scanners")

	// The scheduled run.
	runID := "e2e-" + suffix
	started := time.Now().UTC()
	trig := start(t, logs, "trigger", filepath.Join(bin, "trigger"), append(env, "RUN_ID="+runID))

	// A scanner dies mid-run (SIGKILL: no shutdown, no ack) while it holds
	// messages: they come back after the scan queue's visibility timeout
	// and the other scanner finishes the run.
	var held float64
	err := poll(ctx, time.Minute, 20*time.Millisecond, func() (bool, error) {
		scanners[1].alive(t)
		held = gauge(health["scanner-2"]+"/metrics", "configreport_messages_in_flight")
		return held >= 1, nil
	})
	if err != nil {
		t.Fatalf("scanner-2 never held a message: %v", err)
	}
	if err := scanners[1].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = scanners[1].wait(10 * time.Second)
	live := append([]*proc{scanners[0]}, aggs...)

	if err := trig.wait(2 * time.Minute); err != nil {
		t.Fatalf("trigger: %v; last lines of %s:\n%s", err, trig.log, tail(trig.log, 30))
	}
	pass("trigger opened run %s and exited 0", runID)

	s3c := s3.New(s3.Options{Region: region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.s3), UsePathStyle: true})
	key := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", reportPrefix, started.Format("2006/01/02"), runID)
	local := filepath.Join(out, filepath.Base(key))
	waitObject(ctx, t, s3c, res.bucket, key, local, 5*time.Minute, live)
	stats, err := reportcheck.Check(local, reportcheck.Expect{Org: oc.org, Regions: regions, RunID: runID, Trigger: "scheduled"})
	if err != nil {
		t.Fatalf("report %s differs from the organisation's ground truth:\n%v", local, err)
	}
	pass("scanner-2 killed (SIGKILL) holding %.0f message(s) mid-scan; nothing lost", held)
	pass("report s3://%s/%s matches ground truth (%d accounts, %d findings, %d errors, %d rules)", res.bucket, key, stats.Accounts, stats.Findings, stats.Errors, stats.Rules)

	claims, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(res.bucket), Prefix: aws.String(payloadPrefix + "/" + runID + "/" + oc.heavy + "/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Contents) == 0 {
		t.Errorf("no claim-check object for account %s (%d findings): its result did not go through S3", oc.heavy, heavyFindings)
	} else {
		pass("claim check: account %s's result (%d findings) went through s3://%s/%s", oc.heavy, heavyFindings, res.bucket, aws.ToString(claims.Contents[0].Key))
	}

	issue := jira.waitIssue(t, runID, 2*time.Minute)
	pass("Jira ticket %s filed with the workbook attached (%d bytes)", issue.key, issue.attachment)

	// An ad-hoc scan, written by hand with the AWS CLI.
	adhocAcct := oc.org.Accounts[len(oc.org.Accounts)-1].ID
	for _, a := range oc.org.Accounts {
		if a.Status == "ACTIVE" && a.ID != oc.denied && a.ID != oc.failed && a.ID != oc.heavy && a.ID != oc.org.ManagementAccountID {
			adhocAcct = a.ID
			break
		}
	}
	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", ep.sqs, "--output", "json"}, args...)...)
		cmd.Env = append(baseEnv(), "AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret", "AWS_DEFAULT_REGION="+region, "AWS_PAGER=")
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
	if err := json.Unmarshal(cli("sqs", "send-message", "--queue-url", res.scanQueue, "--message-body", `{"account_id": "`+adhocAcct+`"}`), &sent); err != nil || sent.MessageId == "" {
		t.Fatalf("send-message output: %v", err)
	}
	adhocRun := "adhoc-" + sent.MessageId
	adhocKey := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", reportPrefix, time.Now().UTC().Format("2006/01/02"), adhocRun)
	adhocLocal := filepath.Join(out, filepath.Base(adhocKey))
	waitObject(ctx, t, s3c, res.bucket, adhocKey, adhocLocal, 3*time.Minute, live)
	if _, err := reportcheck.Check(adhocLocal, reportcheck.Expect{Org: oc.org, Regions: regions, Accounts: []string{adhocAcct}, RunID: adhocRun, Trigger: "adhoc"}); err != nil {
		t.Fatalf("ad-hoc report %s:\n%v", adhocLocal, err)
	}
	pass("ad-hoc message from the AWS CLI gave the one-account report %s", adhocKey)

	// A malformed one goes to the poison queue with its reason.
	const malformed = `{"account_id": 12345` // truncated JSON
	cli("sqs", "send-message", "--queue-url", res.scanQueue, "--message-body", malformed)
	var got struct {
		Messages []struct {
			Body              string
			MessageAttributes map[string]struct{ StringValue string }
		}
	}
	err = poll(ctx, time.Minute, 500*time.Millisecond, func() (bool, error) {
		if err := json.Unmarshal(cli("sqs", "receive-message", "--queue-url", res.poisonQueue, "--message-attribute-names", "All",
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
	sqsc := sqs.New(sqs.Options{Region: region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.sqs)})
	for _, q := range []string{res.scanQueue, res.scanDLQ} {
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
	if n := jira.count(runID); n != 1 {
		t.Errorf("%d Jira tickets for run %s, want 1", n, runID)
	} else {
		pass("exactly one ticket for run %s from 2 aggregator replicas", runID)
	}
	// And their /metrics agree: the two replicas emitted two reports in
	// all (the scheduled run and the ad-hoc one), never one twice.
	emitted := gauge(health["aggregator-1"]+"/metrics", "configreport_aggregator_reports_emitted_total") +
		gauge(health["aggregator-2"]+"/metrics", "configreport_aggregator_reports_emitted_total")
	if emitted != 2 {
		t.Errorf("aggregators' /metrics count %v reports emitted, want 2 (scheduled + ad hoc)", emitted)
	} else {
		pass("aggregators' /metrics count 2 reports emitted in all (scheduled + ad hoc)")
	}

	// SIGTERM: every service stops by itself, status 0.
	for _, p := range live {
		if err := p.stop(30 * time.Second); err != nil {
			t.Error(err)
		}
	}
	if !t.Failed() {
		pass("services stopped cleanly on SIGTERM")
	}
	_ = sim.stop(10 * time.Second)
}

// serviceEnv is the configuration of every binary, by environment variable
// (each flag's name upper-cased, '-' as '_'): endpoints come from the SDK's
// standard AWS_ENDPOINT_URL_<SERVICE> variables, as they would for any
// emulator, never from flags of ours.
func serviceEnv(ep endpoints, res resources, mgmt, jiraURL string) []string {
	return []string{
		"AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret", "AWS_REGION=" + region,
		"AWS_ENDPOINT_URL_SQS=" + ep.sqs, "AWS_ENDPOINT_URL_SNS=" + ep.sns,
		"AWS_ENDPOINT_URL_S3=" + ep.s3, "AWS_ENDPOINT_URL_DYNAMODB=" + ep.dynamodb,
		"AWS_ENDPOINT_URL_STS=" + ep.sim, "AWS_ENDPOINT_URL_ORGANIZATIONS=" + ep.sim, "AWS_ENDPOINT_URL_CONFIG_SERVICE=" + ep.sim,
		"LOG_FORMAT=json", "LOG_LEVEL=info",
		// messaging (internal/msg flags)
		"SCAN_QUEUE_URL=" + res.scanQueue, "RESULTS_TOPIC_ARN=" + res.topicARN,
		"RESULTS_QUEUE_URL=" + res.resultsQueue, "POISON_QUEUE_URL=" + res.poisonQueue,
		"RECEIVE_WAIT=1s", "SHUTDOWN_TIMEOUT=10s",
		// storage
		"REPORT_BUCKET=" + res.bucket, "REPORT_PREFIX=" + reportPrefix, "PAYLOAD_PREFIX=" + payloadPrefix,
		"DYNAMODB_TABLE=" + res.table, "S3_PATH_STYLE=true",
		"CHECK_INTERVAL=1s", "CONSUMERS=4",
		// the run
		"REGIONS=" + strings.Join(regions, ","), "DEADLINE=10m", "CONCURRENCY=8",
		"ORG_ROLE_ARN=arn:aws:iam::" + mgmt + ":role/system-config-report-generator-list-org-role",
		// Jira
		"JIRA_URL=" + jiraURL, "JIRA_PROJECT=" + jiraProject, "JIRA_USER=e2e@example.com", "JIRA_API_TOKEN=e2e-token",
		"JIRA_LABELS=config-compliance,e2e",
	}
}

// provision makes the queues (the scan queue with its DLQ and redrive
// policy), the topic and the aggregator's raw-delivery subscription, the
// bucket and the table.
func provision(ctx context.Context, t *testing.T, hub aws.Config, ep endpoints, suffix string) resources {
	t.Helper()
	q := sqs.New(sqs.Options{Region: region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.sqs)})
	n := sns.New(sns.Options{Region: region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.sns)})
	mk := func(name string, attrs map[string]string) string {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			t.Fatalf("create queue %s: %v", name, err)
		}
		return aws.ToString(out.QueueUrl)
	}
	arn := func(url string) string {
		a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Attributes["QueueArn"]
	}
	var r resources
	r.scanDLQ = mk("config-report-scan-dlq-"+suffix, map[string]string{"VisibilityTimeout": "30"})
	r.scanQueue = mk("config-report-scan-"+suffix, map[string]string{
		// Short, so that the killed scanner's messages come back in seconds.
		"VisibilityTimeout": "10",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":3}`, arn(r.scanDLQ)),
	})
	r.poisonQueue = mk("config-report-poison-"+suffix, map[string]string{"VisibilityTimeout": "30"})
	r.resultsQueue = mk("config-report-aggregator-"+suffix, map[string]string{"VisibilityTimeout": "60"})
	topic, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("config-report-results-" + suffix)})
	if err != nil {
		t.Fatal(err)
	}
	r.topicARN = aws.ToString(topic.TopicArn)
	// The queue policy letting the topic send is not set: goaws does not
	// enforce policies (docs/EMULATORS.md); CloudFormation sets it on AWS.
	if _, err := n.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(arn(r.resultsQueue)), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	r.bucket = "config-report-e2e-" + suffix
	s3c := s3.New(s3.Options{Region: region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.s3), UsePathStyle: true})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.bucket)}); err != nil {
		t.Fatal(err)
	}
	r.table = "config-report-runs-" + suffix
	ddb := dynamodb.New(dynamodb.Options{Region: region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.dynamodb)})
	if err := dynamo.CreateTable(ctx, ddb, r.table); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitObject waits for key in bucket and downloads it to local, failing
// early when a service dies.
func waitObject(ctx context.Context, t *testing.T, c *s3.Client, bucket, key, local string, timeout time.Duration, procs []*proc) {
	t.Helper()
	var body []byte
	err := poll(ctx, timeout, time.Second, func() (bool, error) {
		for _, p := range procs {
			p.alive(t)
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
			msg += fmt.Sprintf("; last lines of %s:\n%s", last.log, tail(last.log, 40))
		}
		t.Fatal(msg)
	}
	if err := os.WriteFile(local, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeJira answers the REST calls the aggregator makes and records them.
type fakeJira struct {
	url    string
	mu     sync.Mutex
	issues []fakeIssue
	calls  []string
}

type fakeIssue struct {
	key        string
	labels     []string
	summary    string
	attachment int
}

func newFakeJira(t *testing.T) *fakeJira {
	f := &fakeJira{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		if u, p, ok := r.BasicAuth(); !ok || u != "e2e@example.com" || p != "e2e-token" {
			http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/rest/api/2/search"):
			io.WriteString(w, `{"startAt":0,"maxResults":50,"total":0,"issues":[],"isLast":true}`)
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
			var body struct {
				Fields struct {
					Project struct{ Key string }
					Summary string
					Labels  []string
				}
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Fields.Project.Key != jiraProject {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errorMessages":["bad issue"]}`)
				return
			}
			key := fmt.Sprintf("%s-%d", jiraProject, len(f.issues)+1)
			f.issues = append(f.issues, fakeIssue{key: key, labels: body.Fields.Labels, summary: body.Fields.Summary})
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":"%d","key":%q,"self":"http://%s/rest/api/2/issue/%d"}`, 10000+len(f.issues), key, r.Host, 10000+len(f.issues))
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/attachments"):
			key := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue/"), "/attachments")
			b, _ := io.ReadAll(r.Body)
			for i := range f.issues {
				if f.issues[i].key == key {
					f.issues[i].attachment = len(b)
				}
			}
			io.WriteString(w, `[{"id":"1","filename":"report.xlsx"}]`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errorMessages":["not found"]}`)
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// waitIssue waits for the one issue labelled with the run id, with an
// attachment, and checks no second one was filed for it.
func (f *fakeJira) waitIssue(t *testing.T, runID string, timeout time.Duration) fakeIssue {
	t.Helper()
	var found fakeIssue
	err := poll(context.Background(), timeout, 500*time.Millisecond, func() (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := 0
		for _, is := range f.issues {
			for _, l := range is.labels {
				if strings.Contains(l, runID) {
					n++
					found = is
				}
			}
		}
		if n > 1 {
			return false, fmt.Errorf("%d tickets for run %s", n, runID)
		}
		return n == 1 && found.attachment > 0, nil
	})
	if err != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Fatalf("Jira ticket for run %s: %v; calls: %v", runID, err, f.calls)
	}
	return found
}

// gauge sums the samples of a Prometheus gauge at a /metrics URL (0 when
// unreachable or absent).
func gauge(url, name string) float64 {
	resp, err := (&http.Client{Timeout: time.Second}).Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// count is the number of issues labelled with the run's id.
func (f *fakeJira) count(runID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, is := range f.issues {
		for _, l := range is.labels {
			if strings.Contains(l, runID) {
				n++
				break
			}
		}
	}
	return n
}
