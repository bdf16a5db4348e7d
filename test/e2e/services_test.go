package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/iampolicy"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/scan"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

// TestServicesOverEmulators wires the scanner, the aggregator and the
// trigger with internal/app exactly as the mains do, with the production
// adapters (msg.Transport over SQS/SNS without creating anything, DynamoDB,
// S3) on the emulators and awssim, in one process: the service graph
// minus process boundaries, fast enough for `make test`. A scheduled run
// (with a result over the message limit, a denied account, a failing
// region) must give the report of the ground truth.
func TestServicesOverEmulators(t *testing.T) {
	ep := harness.EmulatorEndpoints(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	oc := writeOrg(t, filepath.Join(dir, "org.json"), 5, heavyFindingsQuick, harness.Regions)
	sim, err := awssim.New(awssim.Config{Org: oc.org, SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)

	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	creds := credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")
	suffix := fmt.Sprintf("svc%d", time.Now().UnixNano()%1e9)
	res := provision(ctx, t, aws.Config{Region: harness.Region, Credentials: creds}, ep, suffix)

	// Every client of the code under test records what it sends, to be
	// checked against internal/iampolicy's table at the end; the test's own
	// calls (set-up, checks) use clients without the recorder.
	rec := iampolicy.NewRecorder()
	recording := []func(*middleware.Stack) error{rec.AddTo}
	hub := aws.Config{Region: harness.Region, Credentials: creds, BaseEndpoint: aws.String(simSrv.URL), APIOptions: recording}
	orgRole := "arn:aws:iam::" + oc.org.ManagementAccountID + ":role/system-config-report-generator-list-org-role"
	a, err := app.NewAWS(hub, orgRole, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := msg.New(ctx, msg.Config{
		AWS:          aws.Config{Region: harness.Region, Credentials: creds, BaseEndpoint: aws.String(ep.SQS), APIOptions: recording},
		ScanQueue:    res.ScanQueue,
		ResultsTopic: res.TopicARN, ResultsQueue: res.ResultsQueue, PoisonQueue: res.PoisonQueue,
		WaitTime: time.Second, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.New(s3.Options{Region: harness.Region, Credentials: creds, BaseEndpoint: aws.String(ep.S3), UsePathStyle: true})
	bs, err := blob.NewS3(s3.New(s3.Options{Region: harness.Region, Credentials: creds, BaseEndpoint: aws.String(ep.S3), UsePathStyle: true, APIOptions: recording}),
		blob.S3Config{Bucket: res.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.New(dynamodb.Options{Region: harness.Region, Credentials: creds, BaseEndpoint: aws.String(ep.DynamoDB), APIOptions: recording})
	st, err := dynamo.New(dynamo.Config{Table: res.Table}, ddb, logger)
	if err != nil {
		t.Fatal(err)
	}
	codec := app.Codec(bs, harness.PayloadPrefix)
	rids := make([]ident.Region, len(harness.Regions))
	for i, r := range harness.Regions {
		rids[i] = ident.Region(r)
	}
	rc := app.RouterConfig{CloseTimeout: 5 * time.Second}
	scanner, err := app.NewScanner(app.ScannerConfig{Scan: scan.Config{Regions: rids, Concurrency: 8}, Consumers: 3, Router: rc}, tr, a, codec, logger)
	if err != nil {
		t.Fatal(err)
	}
	aggSvc, _, err := app.NewAggregator(app.AggregatorConfig{
		Aggregate: aggregate.Config{ReportPrefix: harness.ReportPrefix, ReportLocation: "s3://" + res.Bucket, Owner: "e2e-0", CheckInterval: time.Second},
		Consumers: 2, Router: rc,
	}, tr, app.AggregatorDeps{Store: st, Blob: bs}, codec, logger)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	for _, svc := range []*app.Service{scanner, aggSvc} {
		go func() { done <- svc.Run(runCtx) }()
	}
	t.Cleanup(func() {
		stop()
		for range 2 {
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("service: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("service did not stop within 20s")
			}
		}
	})
	for _, svc := range []*app.Service{scanner, aggSvc} {
		select {
		case <-svc.Running():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s not consuming within 20s", svc.Name)
		}
	}

	tcfg, err := (app.TriggerFlags{Regions: strings.Join(harness.Regions, ","), RunID: "svc-" + suffix, Deadline: 10 * time.Minute,
		OwnerTags: harness.OwnerTags}).Config()
	if err != nil {
		t.Fatal(err)
	}
	run, err := app.Trigger(ctx, tcfg, tr, a, codec, logger)
	if err != nil {
		t.Fatal(err)
	}
	key := aggregate.ReportKey(harness.ReportPrefix, &run)
	local := filepath.Join(dir, filepath.Base(key))
	waitObject(ctx, t, s3c, res.Bucket, key, local, 2*time.Minute, nil)
	stats, err := reportcheck.Check(local, reportcheck.Expect{Org: oc.org, Regions: harness.Regions, RunID: string(run.RunID), Trigger: "scheduled"})
	if err != nil {
		t.Fatalf("report differs from the ground truth:\n%v", err)
	}
	claims, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(res.Bucket), Prefix: aws.String(harness.PayloadPrefix + "/" + string(run.RunID) + "/" + oc.heavy + "/")})
	if err != nil || len(claims.Contents) == 0 {
		t.Errorf("no claim-check object for the %d-finding account %s: %v", heavyFindingsQuick, oc.heavy, err)
	}
	t.Logf("report %s: %d accounts, %d findings, %d errors, %d rules", key, stats.Accounts, stats.Findings, stats.Errors, stats.Rules)

	// A hand-written ad-hoc message, and a malformed one, straight on the
	// scan queue.
	sqsc := sqs.New(sqs.Options{Region: harness.Region, Credentials: creds, BaseEndpoint: aws.String(ep.SQS)})
	adhocAcct := oc.heavy
	adhocMsg, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(res.ScanQueue), MessageBody: aws.String(`{"account_id": "` + adhocAcct + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	const malformed = `{"account_id": 12345`
	if _, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(res.ScanQueue), MessageBody: aws.String(malformed)}); err != nil {
		t.Fatal(err)
	}
	adhocRun := scan.AdhocPrefix + aws.ToString(adhocMsg.MessageId)
	adhocKey := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", harness.ReportPrefix, time.Now().UTC().Format("2006/01/02"), adhocRun)
	adhocLocal := filepath.Join(dir, filepath.Base(adhocKey))
	waitObject(ctx, t, s3c, res.Bucket, adhocKey, adhocLocal, time.Minute, nil)
	if _, err := reportcheck.Check(adhocLocal, reportcheck.Expect{Org: oc.org, Regions: harness.Regions, Accounts: []string{adhocAcct}, RunID: adhocRun, Trigger: "adhoc"}); err != nil {
		t.Fatalf("ad-hoc report:\n%v", err)
	}
	var poisoned *sqstypes.Message
	err = harness.Poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(res.PoisonQueue), MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
		if err != nil {
			return false, err
		}
		for i := range out.Messages {
			if aws.ToString(out.Messages[i].Body) == malformed {
				poisoned = &out.Messages[i]
			}
		}
		return poisoned != nil, nil
	})
	if err != nil {
		t.Fatalf("malformed message not on the poison queue: %v", err)
	}
	if r := aws.ToString(poisoned.MessageAttributes[msg.MetaPoisonReason].StringValue); r != "malformed" {
		t.Errorf("poison_reason %q", r)
	}

	if err := rec.Verify(false); err != nil {
		t.Error(err)
	}
	sent, _ := rec.Actions()
	t.Logf("IAM actions sent: %v; declared but not exercised by this run: %v", sent, iampolicy.Unexercised(sent))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
