//go:build chaos

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/jira"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	testharness "github.com/cybsecops/configreport/internal/testbed/harness"
)

// TestUnsafeStoreFailsDuplicates proves the suite can fail: scenario 4
// (duplicates, different second results, replays) with the dedupe store's
// first-write-wins switched off (store.Unsafe) must break an invariant.
// `make chaos-quick` (so `make test`) runs the same proof as a row of the
// reduced matrix (CHAOS_UNSAFE=1); this test is it alone (`make
// chaos-unsafe`).
func TestUnsafeStoreFailsDuplicates(t *testing.T) {
	if os.Getenv("CHAOS") != "1" {
		t.Skip("part of the chaos suite (CHAOS=1 with the emulators up)")
	}
	if r := unsafeProof(t); !r.Passed {
		t.Fatal(strings.Join(r.Problems, "\n"))
	}
}

const unsafeName = "duplicates-and-replays with store.Unsafe (must be caught)"

// unsafeProof runs scenario 4 with store.Unsafe and returns its row of the
// table, passed when the invariants caught the broken store. store.Unsafe
// only works inside a test binary (testing.Testing), so the aggregators run
// in this process, wired by internal/app as the main does, over the same
// emulators; the scanners and the trigger stay processes (and hold after
// their share of accounts, as in scenario 4). A run that stops early
// (t.Fatal inside) fails the caller: the broken store must be caught by
// the invariants, not by a timeout.
func unsafeProof(t *testing.T) result {
	start := time.Now()
	var unsafe store.Unsafe
	unsafe.AllowOverwrite(t)
	sc := scenario{n: 4, dir: "4-unsafe", name: unsafeName, run: duplicates}
	h := newHarness(t, sc)
	h.inProcessAgg = func(h *harness, name string) { startInProcessAggregator(h, name, &unsafe) }
	sc.run(h)
	got := h.finish(start)
	row := got
	if got.Passed {
		row.Passed = false
		row.Problems = []string{"scenario 4 PASSED with first-write-wins disabled: the suite cannot see duplicate or replaced results"}
		return row
	}
	for _, p := range got.Problems {
		t.Logf("detected, as it must be: %s", firstLine(p))
	}
	row.Passed, row.Problems = true, nil
	row.Faults = append([]string{"first-write-wins disabled (store.Unsafe)"}, got.Faults...)
	row.Faults = append(row.Faults, fmt.Sprintf("caught by %d failed invariant(s), first: %s", len(got.Problems), clip(firstLine(got.Problems[0]), 160)))
	return row
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// startInProcessAggregator wires one aggregator replica in this process with
// the production adapters (SQS/SNS, DynamoDB with u, S3, Jira) on the
// scenario's resources, logging as JSON to logs/<name>.log.
func startInProcessAggregator(h *harness, name string, u *store.Unsafe) {
	t := h.t
	f, err := os.OpenFile(filepath.Join(h.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	awsCfg := func(endpoint string) aws.Config {
		return aws.Config{Region: testharness.Region, Credentials: hubCreds, BaseEndpoint: aws.String(endpoint)}
	}
	tr, err := msg.New(ctx, msg.Config{AWS: awsCfg(h.ep.SQS), ScanQueue: h.res.ScanQueue, ResultsTopic: h.res.TopicARN,
		ResultsQueue: h.res.ResultsQueue, PoisonQueue: h.res.PoisonQueue, WaitTime: time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := blob.NewS3(s3.New(s3.Options{Region: testharness.Region, Credentials: hubCreds, BaseEndpoint: aws.String(h.ep.S3), UsePathStyle: true}),
		blob.S3Config{Bucket: h.res.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	st, err := dynamo.New(dynamo.Config{Table: h.res.Table, Unsafe: u},
		dynamodb.New(dynamodb.Options{Region: testharness.Region, Credentials: hubCreds, BaseEndpoint: aws.String(h.ep.DynamoDB)}), logger)
	if err != nil {
		t.Fatal(err)
	}
	n, err := jira.New(jira.Config{URL: h.jira.URL, Project: jiraProject, Labels: []string{"config-compliance", "chaos"}, User: jiraUser, Token: jiraToken}, logger)
	if err != nil {
		t.Fatal(err)
	}
	svc, _, err := app.NewAggregator(app.AggregatorConfig{
		Aggregate: aggregate.Config{ReportPrefix: testharness.ReportPrefix, ReportLocation: "s3://" + h.res.Bucket, Owner: name, CheckInterval: time.Second, Lease: 4 * time.Second},
		Consumers: 4, Router: app.RouterConfig{CloseTimeout: 5 * time.Second},
	}, tr, app.AggregatorDeps{Store: st, Blob: bs, Notifier: n}, app.Codec(bs, testharness.PayloadPrefix), logger)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("%s: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20s", name)
		}
		f.Close()
	})
	select {
	case <-svc.Running():
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not consuming within 20s", name)
	}
}
