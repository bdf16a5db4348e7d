package jira

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
)

// failingTicketStore loses the first SetTicket: a crash between filing
// and storing the key.
type failingTicketStore struct {
	store.Store
	mu   sync.Mutex
	fail int
}

func (s *failingTicketStore) SetTicket(ctx context.Context, id ident.RunID, key string) error {
	s.mu.Lock()
	fail := s.fail > 0
	s.fail--
	s.mu.Unlock()
	if fail {
		return errors.New("simulated crash before storing the ticket key")
	}
	return s.Store.SetTicket(ctx, id, key)
}

// TestAggregatorWithJira runs the real aggregator, store, renderer and
// Notifier against the fake Jira: down at first (5xx), then up but the
// key is lost once; in the end one ticket, with the uploaded workbook.
func TestAggregatorWithJira(t *testing.T) {
	ctx := context.Background()
	fj, srv := newFakeJira(t, basic(user, token))
	fj.down = 3 // the first emission's search, then one retry's search and create... see below
	n := newNotifier(t, srv.URL, nil)

	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), sqlite.FileName)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	flaky := &failingTicketStore{Store: st, fail: 1}
	folder := blob.Folder{Dir: t.TempDir()}
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 1, 10, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, err := aggregate.New(aggregate.Config{
		ReportPrefix: "reports", ReportLocation: "s3://report-bucket", Owner: "pod-a",
		CheckInterval: time.Second, BackoffMax: 8 * time.Second, Now: clock,
	}, aggregate.Deps{Store: flaky, Blob: folder, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	rs := &events.RunStarted{RunID: "run-e2e", Trigger: events.TriggerScheduled, StartedAt: t0, Deadline: t0.Add(45 * time.Minute),
		Regions: []ident.Region{"us-east-1"}, Accounts: []events.Account{{AccountID: "111111111111", Name: "prod", OUPath: "Root"}}}
	res := &events.AccountScanned{RunID: "run-e2e", AccountID: "111111111111", Status: events.StatusOK, ScannedAt: t0.Add(time.Minute),
		Rules:    []events.Rule{{Region: "us-east-1", Name: "s3-public-read", Owner: "AWS", SourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", Compliance: events.NonCompliant, NoncompliantCount: 1}},
		Findings: []events.Finding{{Region: "us-east-1", Rule: "s3-public-read", ResourceType: "AWS::S3::Bucket", ResourceID: "b", Compliance: events.NonCompliant, RecordedAt: t0}},
		Coverage: covered("us-east-1")}
	for _, ev := range []events.Event{rs, res} {
		msg, err := events.Codec{}.Marshal(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Handle(msg); err != nil {
			t.Fatal(err)
		}
	}

	// Checks a second apart: the emission's search fails (down 3->2); then
	// the retries (backoff 1s, 2s, 4s) meet search 503 (2->1), search 503
	// (1->0), then search empty + create + attach, whose key is lost; the
	// next retry finds the ticket by its label.
	for range 20 {
		a.Check(ctx)
		advance(time.Second)
	}
	issues, reqs, _ := fj.snapshot()
	if len(issues) != 1 {
		t.Fatalf("%d issues, want 1; requests %q", len(issues), reqs)
	}
	run, err := st.Run(ctx, "run-e2e")
	if err != nil {
		t.Fatal(err)
	}
	if run.TicketKey != "SEC-1" {
		t.Errorf("stored ticket %q; requests %q", run.TicketKey, reqs)
	}
	uploaded, err := folder.Get(ctx, run.ReportKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := issues[0].Attachments["config-compliance-run-e2e.xlsx"]; !bytes.Equal(got, uploaded) {
		t.Errorf("attachment %d bytes, uploaded %d", len(got), len(uploaded))
	}
	if got := issues[0].Fields["summary"]; got != "AWS Config compliance 2026-W48: 1 non-compliant account" {
		t.Errorf("summary %q", got)
	}
	creates := 0
	for _, r := range reqs {
		if r == "POST /rest/api/2/issue" {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("%d creates: %q", creates, reqs)
	}
}

// TestAggregatorIgnoresPlantedTicket: an issue carrying the run's label,
// created by another user before the report, does not stand for the
// report's ticket: the aggregator files its own (found again afterwards)
// and warns about the other.
func TestAggregatorIgnoresPlantedTicket(t *testing.T) {
	ctx := context.Background()
	fj, srv := newFakeJira(t, basic(user, token))
	planted := fj.plant(map[string]any{"accountId": "557058:mallory"}, "run-run-planted", "compliance")
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := New(Config{URL: srv.URL, Project: "SEC", User: user, Token: token}, logger)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), sqlite.FileName)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 23, 1, 10, 0, 0, time.UTC)
	a, err := aggregate.New(aggregate.Config{ReportPrefix: "reports", Owner: "pod-a", Now: func() time.Time { return now }},
		aggregate.Deps{Store: st, Blob: blob.Folder{Dir: t.TempDir()}, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	rs := &events.RunStarted{RunID: "run-planted", Trigger: events.TriggerScheduled, StartedAt: t0, Deadline: t0.Add(45 * time.Minute),
		Regions: []ident.Region{"us-east-1"}, Accounts: []events.Account{{AccountID: "111111111111", Name: "prod", OUPath: "Root"}}}
	res := &events.AccountScanned{RunID: "run-planted", AccountID: "111111111111", Status: events.StatusOK, ScannedAt: t0.Add(time.Minute),
		Coverage: covered("us-east-1")}
	for _, ev := range []events.Event{rs, res} {
		msg, err := events.Codec{}.Marshal(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Handle(msg); err != nil {
			t.Fatal(err)
		}
	}
	a.Check(ctx)
	run, err := st.Run(ctx, "run-planted")
	if err != nil {
		t.Fatal(err)
	}
	issues, reqs, _ := fj.snapshot()
	if len(issues) != 2 || run.TicketKey != "SEC-2" || run.TicketKey == planted {
		t.Fatalf("%d issues, stored ticket %q; want our own SEC-2 beside the planted %s; requests %q", len(issues), run.TicketKey, planted, reqs)
	}
	if key, err := n.FindByRunLabel(ctx, "run-planted"); err != nil || key != "SEC-2" {
		t.Errorf("search afterwards = %q, %v; want SEC-2", key, err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"a ticket carries the run label but another user created it; ignored"`) ||
		!strings.Contains(logs.String(), `"ticket":"`+planted+`"`) {
		t.Errorf("no warning naming the planted ticket:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// covered is the coverage of a result that read each region in full: a
// result must cover its run's regions to be recorded before the deadline.
func covered(regions ...ident.Region) []events.Coverage {
	out := make([]events.Coverage, len(regions))
	for i, r := range regions {
		out[i] = events.Coverage{Region: r, Read: events.ReadYes}
	}
	return out
}
