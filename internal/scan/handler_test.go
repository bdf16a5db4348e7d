package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/iampolicy"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

type handlerEnv struct {
	*simEnv
	h       *Handler
	results <-chan *message.Message
	codec   events.Codec
}

func newHandlerEnv(t *testing.T, pub message.Publisher, apiOptions ...func(*middleware.Stack) error) *handlerEnv {
	t.Helper()
	org := orgFile(t)
	// The payments account is tagged (one tag the owner columns do not
	// name); the sandbox account is not.
	for i := range org.Accounts {
		if org.Accounts[i].ID == "222222222222" {
			org.Accounts[i].Tags = map[string]string{"owner": "alice@example.com", "Team": "payments", "CostCentre": "42"}
		}
	}
	e := newEnv(t, awssim.Config{Org: org}, envOpts{concurrency: 4, apiOptions: apiOptions})
	// As cmd/scanner wires it with -owner-tags 'Owner|owner,Team'.
	namer, err := discover.New(organizations.NewFromConfig(e.hub), discover.Config{Logger: quiet(), TagKeys: []string{"Owner", "owner", "Team"}})
	if err != nil {
		t.Fatal(err)
	}
	var results <-chan *message.Message
	if pub == nil {
		gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, watermill.NopLogger{})
		t.Cleanup(func() { _ = gc.Close() })
		results, err = gc.Subscribe(context.Background(), events.TopicResults)
		if err != nil {
			t.Fatal(err)
		}
		pub = gc
	}
	h, err := NewHandler(HandlerConfig{Scanner: e.scanner, Publisher: pub, Namer: namer, Deadline: 30 * time.Minute, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return &handlerEnv{simEnv: e, h: h, results: results}
}

// next decodes the next event published to the results topic.
func (e *handlerEnv) next(t *testing.T) events.Event {
	t.Helper()
	select {
	case m := <-e.results:
		m.Ack()
		ev, err := e.codec.Unmarshal(context.Background(), m)
		if err != nil {
			t.Fatalf("published message does not decode: %v", err)
		}
		if got := m.Metadata.Get(events.MetaEventType); got != string(ev.EventType()) {
			t.Errorf("metadata event_type %q for a %s", got, ev.EventType())
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event published within 30s")
		return nil
	}
}

func (e *handlerEnv) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-e.results:
		t.Fatalf("unexpected event published: %s", m.Payload)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestHandleAdhoc(t *testing.T) {
	rec := iampolicy.NewRecorder()
	e := newHandlerEnv(t, nil, rec.AddTo)
	msg := message.NewMessage("3f1c2a9e-8f7b-4d2e-9a41-0c5e7d6b8a12", []byte(`{"account_id": "222222222222"}`))
	if err := e.h.Handle(msg); err != nil {
		t.Fatal(err)
	}
	rs, ok := e.next(t).(*events.RunStarted)
	if !ok {
		t.Fatal("first event is not RunStarted")
	}
	wantRun := ident.RunID("adhoc-3f1c2a9e-8f7b-4d2e-9a41-0c5e7d6b8a12")
	if rs.RunID != wantRun || rs.Trigger != events.TriggerAdhoc {
		t.Errorf("RunStarted %s/%s, want %s/adhoc", rs.RunID, rs.Trigger, wantRun)
	}
	if got := rs.Deadline.Sub(rs.StartedAt); got != 30*time.Minute {
		t.Errorf("deadline %s after start, want 30m", got)
	}
	if len(rs.Regions) != 2 || rs.Regions[0] != "us-east-1" || rs.Regions[1] != "ap-east-1" {
		t.Errorf("regions %v, want the configured ones", rs.Regions)
	}
	want := events.Account{AccountID: "222222222222", Name: "payments-prod", OUPath: "Root/Prod/Payments",
		Tags: map[string]string{"owner": "alice@example.com", "Team": "payments"}}
	if len(rs.Accounts) != 1 || !rs.Accounts[0].Equal(want) {
		t.Errorf("accounts %+v, want %+v", rs.Accounts, want)
	}
	res, ok := e.next(t).(*events.AccountScanned)
	if !ok {
		t.Fatal("second event is not AccountScanned")
	}
	if res.RunID != wantRun {
		t.Errorf("result run %s, want %s", res.RunID, wantRun)
	}
	checkResult(t, e.sim, rs.Regions, res, true)
	e.none(t)

	// Exactly the operations the IAM table grants the scanner.
	actions, err := rec.Actions()
	if err != nil {
		t.Fatal(err)
	}
	wantActions := []string{
		"config:DescribeComplianceByConfigRule", "config:DescribeConfigRules", "config:DescribeConfigurationRecorderStatus",
		"config:GetComplianceDetailsByConfigRule", "ec2:DescribeRegions", "organizations:DescribeAccount", "organizations:DescribeOrganizationalUnit", "organizations:ListParents",
		"organizations:ListTagsForResource", "sts:AssumeRole",
	}
	if !slices.Equal(slices.Compact(actions), wantActions) {
		t.Errorf("operations sent %v, want %v", slices.Compact(actions), wantActions)
	}

	// Redelivery: the same message id lands in the same run.
	if err := e.h.Handle(message.NewMessage(msg.UUID, msg.Payload)); err != nil {
		t.Fatal(err)
	}
	if rs2 := e.next(t).(*events.RunStarted); rs2.RunID != wantRun {
		t.Errorf("redelivery opened run %s, want %s", rs2.RunID, wantRun)
	}
	if res2 := e.next(t).(*events.AccountScanned); res2.RunID != wantRun {
		t.Errorf("redelivery result in run %s, want %s", res2.RunID, wantRun)
	}
}

func TestHandleScheduled(t *testing.T) {
	e := newHandlerEnv(t, nil)
	req := &events.ScanRequested{RunID: "01JDQ7Z0000000000000000000", AccountID: "333333333333", AccountName: "sandbox", OUPath: "Root/Sandbox",
		Regions: []ident.Region{"us-east-1", "ap-east-1"}}
	m, err := e.codec.Marshal(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.h.Handle(m); err != nil {
		t.Fatal(err)
	}
	res, ok := e.next(t).(*events.AccountScanned)
	if !ok {
		t.Fatal("a scheduled request must publish only its result")
	}
	if res.RunID != req.RunID || res.Status != events.StatusPartial {
		t.Errorf("result %s %s, want run %s partial (ap-east-1 fails)", res.RunID, res.Status, req.RunID)
	}
	checkResult(t, e.sim, req.Regions, res, true)
	e.none(t)
	if n := e.sim.Stats().Calls["DescribeAccount"]; len(n) != 0 {
		t.Errorf("a named request looked the account up: %v", n)
	}
}

func TestHandlePoison(t *testing.T) {
	e := newHandlerEnv(t, nil)
	tests := []struct {
		name   string
		body   string
		reason events.Reason
	}{
		{"not JSON", `scan 222222222222 please`, events.ReasonMalformed},
		{"bad account id", `{"account_id": "2222"}`, events.ReasonMalformed},
		{"bad region", `{"account_id": "222222222222", "regions": ["moon-1"]}`, events.ReasonMalformed},
		{"unknown schema version", `{"type": "ScanRequested", "schema_version": 9, "account_id": "222222222222"}`, events.ReasonUnknownType},
		{"wrong event on the scan queue", `{"type": "AccountScanned", "schema_version": 1, "run_id": "r", "account_id": "222222222222", "status": "ok", "scanned_at": "2026-11-20T08:00:00Z", "rules": [], "findings": [], "errors": []}`, events.ReasonUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(tt.body)))
			var de *events.DecodeError
			if !errors.As(err, &de) || events.ReasonOf(err) != tt.reason {
				t.Fatalf("Handle = %v, want a DecodeError with reason %s", err, tt.reason)
			}
		})
	}
	e.none(t)
	if st := e.sim.Stats(); st.Total != 0 {
		t.Errorf("poison messages made %d AWS calls", st.Total)
	}
}

type failingPublisher struct{ calls int }

func (f *failingPublisher) Publish(string, ...*message.Message) error {
	f.calls++
	return errors.New("sns unreachable")
}
func (f *failingPublisher) Close() error { return nil }

func TestHandleNacksWhenItCannotPublish(t *testing.T) {
	pub := &failingPublisher{}
	e := newHandlerEnv(t, pub)
	err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(`{"account_id": "222222222222"}`)))
	if err == nil || events.ReasonOf(err) != "" {
		t.Fatalf("Handle = %v, want a transient (nack) error", err)
	}
	if pub.calls != 1 {
		t.Errorf("%d publish attempts; the RunStarted failed, so the scan must not run", pub.calls)
	}
	if n := e.sim.Stats().Calls["DescribeConfigRules"]; len(n) != 0 {
		t.Errorf("scanned although the run could not be opened: %v", n)
	}
}

// Stopping (SIGTERM: the message's context ends) leaves the scan in hand
// its FinishTimeout to finish and publish: the run then does not wait out
// the queue's visibility timeout for that account.
func TestHandleFinishesOnShutdown(t *testing.T) {
	e := newHandlerEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := message.NewMessage(watermill.NewUUID(), []byte(`{"run_id": "run-1", "account_id": "222222222222"}`))
	m.SetContext(ctx)
	if err := e.h.Handle(m); err != nil {
		t.Fatalf("Handle = %v, want the scan finished within the grace", err)
	}
	res, ok := e.next(t).(*events.AccountScanned)
	if !ok || res.AccountID != "222222222222" || len(res.Errors) != 0 {
		t.Fatalf("published %+v, want a clean result of the account", res)
	}
}

func TestHandleAbandonsOnShutdown(t *testing.T) {
	e := newHandlerEnv(t, nil)
	e.h.cfg.FinishTimeout = -1 // no grace: abandon at once
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := message.NewMessage(watermill.NewUUID(), []byte(`{"run_id": "run-1", "account_id": "222222222222"}`))
	m.SetContext(ctx)
	err := e.h.Handle(m)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Handle = %v, want the cancellation (no ack)", err)
	}
	e.none(t)
}

func TestAdhocRunID(t *testing.T) {
	tests := []struct {
		msgID string
		want  ident.RunID
		err   bool
	}{
		{"3f1c2a9e-8f7b-4d2e-9a41-0c5e7d6b8a12", "adhoc-3f1c2a9e-8f7b-4d2e-9a41-0c5e7d6b8a12", false},
		{"", "", true},
		// Not a valid run id once prefixed (a slash; too long): hashed, stably.
		{"a/b", ident.RunID("adhoc-" + sha("a/b")), false},
	}
	for _, tt := range tests {
		got, err := AdhocRunID(tt.msgID)
		if (err != nil) != tt.err {
			t.Errorf("AdhocRunID(%q) error %v", tt.msgID, err)
			continue
		}
		if tt.err {
			continue
		}
		if _, perr := ident.ParseRunID(string(got)); perr != nil {
			t.Errorf("AdhocRunID(%q) = %q, not a run id: %v", tt.msgID, got, perr)
		}
		again, _ := AdhocRunID(tt.msgID)
		if again != got {
			t.Errorf("AdhocRunID(%q) not stable: %q then %q", tt.msgID, got, again)
		}
		if got != tt.want {
			t.Errorf("AdhocRunID(%q) = %q, want %q", tt.msgID, got, tt.want)
		}
	}
	long := make([]byte, 80)
	for i := range long {
		long[i] = 'x'
	}
	if got, err := AdhocRunID(string(long)); err != nil || len(got) > 64 {
		t.Errorf("AdhocRunID(80 chars) = %q, %v", got, err)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

type parentKey struct{}

// The scan's context has the parent's cancellation (at once, or after the
// grace) and deadline (without a grace), and none of its values.
func TestFinishWithinDropsValues(t *testing.T) {
	far := time.Now().Add(time.Hour)
	tests := []struct {
		name         string
		grace        time.Duration
		deadline     bool
		wantDeadline bool
		endsAtOnce   bool // with its parent, not after a grace
	}{
		{"grace", time.Hour, false, false, false},
		{"grace, parent with a deadline", time.Hour, true, false, false},
		{"no grace", -1, false, false, true},
		{"no grace, parent with a deadline", -1, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, stop := context.WithCancel(context.WithValue(context.Background(), parentKey{}, "router"))
			defer stop()
			if tt.deadline {
				var c context.CancelFunc
				parent, c = context.WithDeadline(parent, far)
				defer c()
			}
			ctx, cancel := finishWithin(parent, tt.grace)
			defer cancel()
			if v := ctx.Value(parentKey{}); v != nil {
				t.Errorf("Value(parent's key) = %v, want nil", v)
			}
			if d, ok := ctx.Deadline(); ok != tt.wantDeadline || (ok && !d.Equal(far)) {
				t.Errorf("Deadline = %v, %v; want it %v", d, ok, tt.wantDeadline)
			}
			stop()
			if tt.endsAtOnce {
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
					t.Error("did not end with its parent")
				}
			} else if ctx.Err() != nil {
				t.Error("ended with its parent, before the grace")
			}
			cancel()
			if ctx.Err() == nil {
				t.Error("cancel did not end it")
			}
		})
	}
}

func TestFinishWithin(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel := finishWithin(parent, 50*time.Millisecond)
	defer cancel()
	stop()
	select {
	case <-ctx.Done():
		t.Fatal("ended with its parent, before the grace")
	case <-time.After(20 * time.Millisecond):
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("never ended after the grace")
	}
	// Without a stop, it lives until cancelled.
	ctx2, cancel2 := finishWithin(context.Background(), time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	if ctx2.Err() != nil {
		t.Fatal("ended although its parent did not")
	}
	cancel2()
	if ctx2.Err() == nil {
		t.Fatal("cancel did not end it")
	}
}
