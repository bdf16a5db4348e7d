package aggregate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

var (
	t0      = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC) // Monday 09:00 Hong Kong
	runID   = ident.RunID("01KMZ8W4Y0RUN")
	regions = []ident.Region{"us-east-1", "eu-west-1"}
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func runStarted() *events.RunStarted {
	return &events.RunStarted{
		RunID: runID, Trigger: events.TriggerScheduled, StartedAt: t0, Deadline: t0.Add(45 * time.Minute),
		Regions: regions,
		Accounts: []events.Account{
			{AccountID: "111111111111", Name: "payments-prod", OUPath: "Root/Prod/Payments"},
			{AccountID: "012345678901", Name: "sandbox", OUPath: "Root"},
			{AccountID: "222222222222", Name: "locked-down", OUPath: "Root/Prod"},
		},
	}
}

func finding(region ident.Region, rule, typ, id, compliance string) events.Finding {
	return events.Finding{Region: region, Rule: rule, ResourceType: typ, ResourceID: id, Compliance: compliance,
		Annotation: "from " + id, RecordedAt: t0.Add(-time.Hour)}
}

// coverage is one entry per region of the run, as the scanner gives a
// result that covers its run (without it a result is held).
func coverage(read events.Read) []events.Coverage {
	out := make([]events.Coverage, len(regions))
	for i, r := range regions {
		out[i] = events.Coverage{Region: r, Read: read}
	}
	return out
}

// results: a PARTIAL account with findings given out of order (the
// aggregator sorts them), an OK one, a FAILED one; each covers the run.
func results() []*events.AccountScanned {
	out := resultsUncovered()
	for _, r := range out {
		r.Coverage = coverage(events.ReadYes)
	}
	return out
}

// resultsUncovered is results without coverage: what a scanner from before
// coverage sends, held until the deadline.
func resultsUncovered() []*events.AccountScanned {
	s3 := "S3_BUCKET_PUBLIC_READ_PROHIBITED"
	return []*events.AccountScanned{
		{
			RunID: runID, AccountID: "111111111111", Status: events.StatusPartial, ScannedAt: t0.Add(time.Minute), DurationMS: 1200,
			Rules: []events.Rule{
				{Region: "us-east-1", Name: "s3-public-read", Owner: "AWS", SourceIdentifier: s3, Compliance: events.NonCompliant, NoncompliantCount: 3},
				{Region: "us-east-1", Name: "iam-root-mfa", Owner: "AWS", SourceIdentifier: "ROOT_ACCOUNT_MFA_ENABLED", Compliance: events.Compliant},
				{Region: "us-east-1", Name: "custom-tags", Owner: "CUSTOM_LAMBDA", SourceIdentifier: "arn:aws:lambda:x", Compliance: events.NonCompliant, NoncompliantCount: 1},
			},
			Findings: []events.Finding{
				finding("us-east-1", "s3-public-read", "AWS::S3::Bucket", "zeta-bucket", events.NonCompliant),
				finding("us-east-1", "custom-tags", "AWS::EC2::Instance", "i-0abc", events.NonCompliant),
				finding("us-east-1", "s3-public-read", "AWS::S3::Bucket", "alpha-bucket", events.NonCompliant),
				finding("us-east-1", "s3-public-read", "AWS::S3::Bucket", "=cmd|' /C calc'!A0", events.NonCompliant),
				finding("us-east-1", "iam-root-mfa", "AWS::::Account", "111111111111", events.Compliant),
			},
			Errors: []events.ScanError{{Region: "eu-west-1", Stage: events.StageConfig, Code: "ThrottlingException", Message: "Rate exceeded", Attempts: 5}},
		},
		{
			RunID: runID, AccountID: "012345678901", Status: events.StatusOK, ScannedAt: t0.Add(2 * time.Minute), DurationMS: 800,
			Rules: []events.Rule{
				{Region: "us-east-1", Name: "s3-public-read", Owner: "AWS", SourceIdentifier: s3, Compliance: events.NonCompliant, NoncompliantCount: 1},
				{Region: "eu-west-1", Name: "s3-public-read", Owner: "AWS", SourceIdentifier: s3, Compliance: events.Compliant},
			},
			Findings: []events.Finding{finding("us-east-1", "s3-public-read", "AWS::S3::Bucket", "logs", events.NonCompliant)},
		},
		{
			RunID: runID, AccountID: "222222222222", Status: events.StatusFailed, ScannedAt: t0.Add(3 * time.Minute),
			Errors: []events.ScanError{{Stage: events.StageAssumeRole, Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole", Attempts: 1}},
		},
	}
}

func mustMsg(t testing.TB, ev events.Event) *message.Message {
	t.Helper()
	msg, err := events.Codec{}.Marshal(context.Background(), ev)
	if err != nil {
		t.Fatalf("marshal %s: %v", ev.EventType(), err)
	}
	return msg
}

// allMessages: RunStarted, then every result.
func allMessages(t testing.TB) []*message.Message {
	msgs := []*message.Message{mustMsg(t, runStarted())}
	for _, r := range results() {
		msgs = append(msgs, mustMsg(t, r))
	}
	return msgs
}

// upload is one Put the recording blob store saw.
type upload struct {
	key  string
	body []byte
}

// recBlob records every Put and writes it through to a Folder: workbooks
// in puts, findings files in findingsPuts, in order; failPut makes a
// workbook's Put write the object and then return an error (a crash after
// the upload, before the emitted mark).
type recBlob struct {
	blob.Folder
	mu           sync.Mutex
	puts         []upload
	findingsPuts []upload
	order        []string // every key put, in order
	failPut      int
}

func (b *recBlob) Put(ctx context.Context, key string, body io.ReadSeeker, ct string) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if ct != ContentTypeXLSX && ct != ContentTypeFindings {
		return fmt.Errorf("content type %q", ct)
	}
	if err := b.Folder.Put(ctx, key, bytes.NewReader(data), ct); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.order = append(b.order, key)
	if ct == ContentTypeFindings {
		b.findingsPuts = append(b.findingsPuts, upload{key, data})
		return nil
	}
	b.puts = append(b.puts, upload{key, data})
	if b.failPut > 0 {
		b.failPut--
		return errors.New("connection reset after upload (simulated crash)")
	}
	return nil
}

func (b *recBlob) uploads() []upload {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]upload(nil), b.puts...)
}

func (b *recBlob) findingsUploads() []upload {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]upload(nil), b.findingsPuts...)
}

// fakeJira is a Notifier remembering tickets by run label.
type fakeJira struct {
	mu       sync.Mutex
	byRun    map[ident.RunID]string
	tickets  []Ticket
	attached map[string][]byte
	failFile int
	failFind int
	// staleSearch makes FindByRunLabel miss every ticket, as Jira's
	// eventually consistent search does right after a filing.
	staleSearch bool
	// findGate, when set, holds every FindByRunLabel until it is closed;
	// finding counts the calls waiting there.
	findGate chan struct{}
	finding  atomic.Int64
	files    atomic.Int64
}

func newFakeJira() *fakeJira {
	return &fakeJira{byRun: map[ident.RunID]string{}, attached: map[string][]byte{}}
}

func (j *fakeJira) FindByRunLabel(ctx context.Context, id ident.RunID) (string, error) {
	if j.findGate != nil {
		j.finding.Add(1)
		select {
		case <-j.findGate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failFind > 0 {
		j.failFind--
		return "", errors.New("jira: 503 Service Unavailable")
	}
	if j.staleSearch {
		return "", nil
	}
	return j.byRun[id], nil
}

func (j *fakeJira) File(ctx context.Context, t Ticket) (string, error) {
	j.files.Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failFile > 0 {
		j.failFile--
		return "", errors.New("jira: 502 Bad Gateway")
	}
	rc, size, err := t.Workbook.Open(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return "", err
	}
	if int64(len(data)) != size {
		return "", fmt.Errorf("attachment is %d bytes, Open said %d", len(data), size)
	}
	key := fmt.Sprintf("SEC-%d", len(j.tickets)+1)
	j.tickets = append(j.tickets, t)
	j.byRun[t.RunID] = key
	j.attached[key] = data
	return key, nil
}

func (j *fakeJira) filed() []Ticket {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Ticket(nil), j.tickets...)
}

// flakyTicketStore fails SetTicket a number of times (a crash after filing).
type flakyTicketStore struct {
	store.Store
	mu   sync.Mutex
	fail int
}

func (s *flakyTicketStore) SetTicket(ctx context.Context, id ident.RunID, key string) error {
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		return errors.New("store unavailable (simulated crash)")
	}
	s.mu.Unlock()
	return s.Store.SetTicket(ctx, id, key)
}

// env is one test's aggregator(s) and their shared dependencies.
type env struct {
	t     *testing.T
	store store.Store
	blob  *recBlob
	jira  *fakeJira
	clock *clock
}

func newEnv(t *testing.T) *env {
	return &env{t: t, store: newTestStore(t), blob: &recBlob{Folder: blob.Folder{Dir: t.TempDir()}}, jira: newFakeJira(), clock: newClock(t0.Add(5 * time.Minute))}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (e *env) aggregator(owner string, mods ...func(*Config, *Deps)) *Aggregator {
	e.t.Helper()
	cfg := Config{ReportPrefix: "reports", ReportLocation: "s3://report-bucket", Lease: time.Minute, Owner: owner,
		CheckInterval: 10 * time.Millisecond, BackoffMax: time.Minute, Now: e.clock.Now}
	m, err := NewMetrics(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	d := Deps{Store: e.store, Blob: e.blob, Notifier: e.jira, Logger: testLogger(e.t).With("test_owner", owner), Metrics: m}
	for _, f := range mods {
		f(&cfg, &d)
	}
	a, err := New(cfg, d)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func handleAll(t testing.TB, a *Aggregator, msgs []*message.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := a.Handle(m); err != nil {
			t.Fatalf("handle %s: %v", m.Metadata.Get(events.MetaEventType), err)
		}
	}
}

func (e *env) state() store.RunState {
	e.t.Helper()
	st, err := e.store.Run(context.Background(), runID)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// rows reads a sheet of an uploaded workbook back.
func rows(t testing.TB, data []byte, sheet string) [][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open workbook: %v", err)
	}
	defer f.Close()
	r, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("sheet %s: %v", sheet, err)
	}
	return r
}
