package msg_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

var t0 = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

func scanRequest(i int) *events.ScanRequested {
	return &events.ScanRequested{RunID: "01JRUNBATCH", AccountID: accountID(i), AccountName: fmt.Sprintf("acct-%d", i), OUPath: "Root/Prod", Regions: []ident.Region{"us-east-1"}}
}

func accountID(i int) ident.AccountID { return ident.AccountID(fmt.Sprintf("%012d", 100000000000+i)) }

// TestScanQueueBatches publishes 23 ScanRequested in one call: they go in
// three SendMessageBatch calls (10+10+3), never SendMessage, and come back
// through the watermill-aws subscriber with body, metadata and UUID intact.
func TestScanQueueBatches(t *testing.T) {
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) { c.ScanQueue = uniqueName(t, "scan") })
	ctx := context.Background()
	codec := events.Codec{DefaultType: events.TypeScanRequested}

	var sent []*message.Message
	for i := range 23 {
		m, err := codec.Marshal(ctx, scanRequest(i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	batchesBefore, singlesBefore := e.rec.count("SendMessageBatch"), e.rec.count("SendMessage")
	if err := tr.Publisher().Publish(events.TopicScanRequests, sent...); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.count("SendMessageBatch") - batchesBefore; got != 3 {
		t.Errorf("SendMessageBatch calls = %d, want 3 for 23 messages", got)
	}
	if got := e.rec.count("SendMessage") - singlesBefore; got != 0 {
		t.Errorf("SendMessage calls = %d, want 0", got)
	}

	ch := subscribe(t, tr.Subscriber(), events.TopicScanRequests)
	got := receiveN(t, ch, 23, 20*time.Second)
	byUUID := map[string]*message.Message{}
	for _, m := range got {
		byUUID[m.UUID] = m
	}
	for _, want := range sent {
		m, ok := byUUID[want.UUID]
		if !ok {
			t.Errorf("message %s not received (UUID not preserved?)", want.UUID)
			continue
		}
		if string(m.Payload) != string(want.Payload) {
			t.Errorf("payload %s = %s, want %s", want.UUID, m.Payload, want.Payload)
		}
		for _, k := range []string{events.MetaEventType, events.MetaSchemaVersion, events.MetaRunID, events.MetaAccountID} {
			if m.Metadata.Get(k) != want.Metadata.Get(k) {
				t.Errorf("metadata %s of %s = %q, want %q", k, want.UUID, m.Metadata.Get(k), want.Metadata.Get(k))
			}
		}
		ev, err := codec.Unmarshal(ctx, m)
		if err != nil {
			t.Errorf("decode %s: %v", want.UUID, err)
		} else if _, acct := ev.Keys(); string(acct) != want.Metadata.Get(events.MetaAccountID) {
			t.Errorf("decoded account %s, want %s", acct, want.Metadata.Get(events.MetaAccountID))
		}
	}
	waitEmpty(t, e.sqs(), tr.Resources().ScanQueueURL)
}

func waitEmpty(t *testing.T, c *sqs.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, f := queueDepth(t, c, url)
		if v == "0" && f == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s not empty after acks: %s visible, %s in flight", url, v, f)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestResultsThroughSNS publishes RunStarted and AccountScanned to the
// topic and reads them from the aggregator's subscription queue.
func TestResultsThroughSNS(t *testing.T) {
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) {
		c.ResultsTopic = uniqueName(t, "results")
		c.ResultsQueue = uniqueName(t, "agg")
	})
	if !strings.HasPrefix(tr.Resources().ResultsTopicARN, "arn:aws:sns:") {
		t.Fatalf("topic ARN %q", tr.Resources().ResultsTopicARN)
	}
	ctx := context.Background()
	codec := events.Codec{}
	run := &events.RunStarted{RunID: "01JRUNSNS", Trigger: events.TriggerScheduled, StartedAt: t0, Deadline: t0.Add(45 * time.Minute),
		Regions: []ident.Region{"us-east-1"}, Accounts: []events.Account{{AccountID: accountID(1), Name: "one", OUPath: "Root"}}}
	res := &events.AccountScanned{RunID: "01JRUNSNS", AccountID: accountID(1), Status: events.StatusOK, ScannedAt: t0.Add(time.Minute),
		Rules: []events.Rule{}, Findings: []events.Finding{}, Errors: []events.ScanError{}}
	var sent []*message.Message
	for _, ev := range []events.Event{run, res} {
		m, err := codec.Marshal(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	if err := tr.Publisher().Publish(events.TopicResults, sent...); err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, tr.Subscriber(), events.TopicResults)
	got := receiveN(t, ch, 2, 20*time.Second)
	types := map[string]bool{}
	for _, m := range got {
		ev, err := codec.Unmarshal(ctx, m)
		if err != nil {
			t.Fatalf("decode %s: %v (body %.200s)", m.UUID, err, m.Payload)
		}
		types[string(ev.EventType())] = true
		if m.Metadata.Get(events.MetaEventType) != string(ev.EventType()) {
			t.Errorf("metadata event_type %q for a %s", m.Metadata.Get(events.MetaEventType), ev.EventType())
		}
		if m.UUID != sent[0].UUID && m.UUID != sent[1].UUID {
			t.Errorf("UUID %s not preserved through SNS", m.UUID)
		}
	}
	if !types["RunStarted"] || !types["AccountScanned"] {
		t.Errorf("received types %v", types)
	}
	if n := e.rec.count("Publish"); n < 2 {
		t.Errorf("SNS Publish calls = %d", n)
	}
}

// TestResultsCallsPerResult: 16 handlers (the aggregator's default) take
// 100 results from the aggregator's subscription queue through the
// transport, each once, and the queue ends empty; the acks are deleted with
// DeleteMessageBatch, never one DeleteMessage each (watermill-aws's SNS
// subscriber before: one ReceiveMessage and one DeleteMessage per result).
// The SQS calls per result are logged (go test -v), not asserted: how the
// acks and receives share calls depends on timing.
func TestResultsCallsPerResult(t *testing.T) {
	const results, handlers = 100, 16
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) {
		c.ResultsTopic = uniqueName(t, "results")
		c.ResultsQueue = uniqueName(t, "agg")
		// Long enough that a handled message is not delivered again before
		// its ack is deleted; short enough that one whose receive answer
		// was lost on the wire (the queue counts it received, SQS's
		// at-least-once) comes back within the test's wait.
		c.ReceiveVisibilityTimeout = 20 * time.Second
	})
	var sent []*message.Message
	for i := range results {
		sent = append(sent, message.NewMessage(fmt.Sprintf("result-%03d", i), []byte(`{}`)))
	}
	if err := tr.Publisher().Publish(events.TopicResults, sent...); err != nil {
		t.Fatal(err)
	}
	start := len(e.rec.snapshot())
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	newRouter(t, tr.Publisher(), nil, func(r *message.Router) {
		msg.AddConsumers(r, "aggregator", events.TopicResults, tr.Subscriber(), handlers, func(m *message.Message) error {
			mu.Lock()
			defer mu.Unlock()
			seen[m.UUID]++
			if len(seen) == results && seen[m.UUID] == 1 {
				close(all)
			}
			return nil
		})
	})
	select {
	case <-all:
	case <-time.After(90 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d results handled", len(seen), results)
	}
	handled := e.rec.snapshot()[start:]
	waitEmpty(t, e.sqs(), tr.Resources().ResultsQueueURL)
	ops := e.rec.snapshot()[start:]
	count := func(ops []string, op string) int {
		n := 0
		for _, o := range ops {
			if o == op {
				n++
			}
		}
		return n
	}
	mu.Lock()
	for _, m := range sent {
		if seen[m.UUID] != 1 {
			t.Errorf("result %s handled %d times", m.UUID, seen[m.UUID])
		}
	}
	mu.Unlock()
	receives, batches, singles := count(handled, "ReceiveMessage"), count(ops, "DeleteMessageBatch"), count(ops, "DeleteMessage")
	if singles != 0 || batches == 0 {
		t.Errorf("%d DeleteMessage and %d DeleteMessageBatch calls: want the acks deleted in batches only", singles, batches)
	}
	t.Logf("%d results, %d handlers: %d ReceiveMessage (until the last was handled), %d DeleteMessageBatch, %d DeleteMessage: %.2f SQS calls per result",
		results, handlers, receives, batches, singles, float64(receives+batches+singles)/results)
}

// TestEnvelopeDelivery subscribes a queue without raw delivery: the body is
// SNS's JSON envelope, and EnvelopeUnmarshaler gets the event back.
func TestEnvelopeDelivery(t *testing.T) {
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) { c.ResultsTopic = uniqueName(t, "results") })
	ctx := context.Background()
	q, s := e.sqs(), e.sns()
	qname := uniqueName(t, "envelope")
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(qname)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(tr.Resources().ResultsTopicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:100010001000:" + qname)}); err != nil {
		t.Fatal(err)
	}
	codec := events.Codec{}
	m, err := codec.Marshal(ctx, &events.AccountScanned{RunID: "01JENV", AccountID: accountID(2), Status: events.StatusFailed, ScannedAt: t0,
		Errors: []events.ScanError{{Stage: events.StageAssumeRole, Code: "AccessDenied", Message: "denied", Attempts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Publisher().Publish(events.TopicResults, m); err != nil {
		t.Fatal(err)
	}
	var raw *sqstypes.Message
	for i := 0; i < 50 && raw == nil; i++ {
		rcv, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(rcv.Messages) > 0 {
			raw = &rcv.Messages[0]
		}
	}
	if raw == nil {
		t.Fatal("no envelope delivered")
	}
	if !strings.Contains(aws.ToString(raw.Body), `"Type":"Notification"`) && !strings.Contains(aws.ToString(raw.Body), `"Type": "Notification"`) {
		t.Fatalf("expected an SNS envelope without raw delivery, got %.300s", aws.ToString(raw.Body))
	}
	wm, err := msg.EnvelopeUnmarshaler{}.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(wm.Payload) != string(m.Payload) {
		t.Errorf("unwrapped body = %.300s, want %.300s", wm.Payload, m.Payload)
	}
	// goaws writes the envelope's attributes as {DataType, StringValue}
	// where SNS writes {Type, Value}: the metadata (and with it the
	// watermill UUID) do not survive on goaws, the body does, and the body
	// is the truth. The UUID falls back to the envelope's MessageId.
	if wm.UUID == "" {
		t.Error("no UUID: want the envelope's MessageId as fallback")
	}
}

// decodeHandler is the shape of every stage handler: decode, or return the
// DecodeError for the router's poison policy.
func decodeHandler(codec events.Codec, seen chan<- events.Event) message.NoPublishHandlerFunc {
	return func(m *message.Message) error {
		ev, err := codec.Unmarshal(m.Context(), m)
		if err != nil {
			return fmt.Errorf("decode scan request %s: %w", m.UUID, err)
		}
		seen <- ev
		return nil
	}
}

// TestPoisonRouting sends each kind of never-decodable body straight to the
// scan queue (as a person or a broken producer would) plus a valid
// hand-written ad-hoc one: the bad ones land on the poison queue with their
// reason and the original body, the good one is handled, and the scan queue
// ends empty.
func TestPoisonRouting(t *testing.T) {
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) {
		c.ScanQueue = uniqueName(t, "scan")
		c.PoisonQueue = uniqueName(t, "poison")
	})
	ctx := context.Background()
	q := e.sqs()
	scanURL := tr.Resources().ScanQueueURL
	// SQS has accepted bodies up to 1 MiB since 2025; our contract is
	// 256 KiB, so a bigger body must be poison, not a crash.
	if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(scanURL),
		Attributes: map[string]string{"MaximumMessageSize": "1048576"}}); err != nil {
		t.Fatal(err)
	}
	huge := `{"account_id":"123456789012","account_name":"` + strings.Repeat("é", 150*1024) + `"}`
	cases := []struct {
		body   string
		reason events.Reason
	}{
		{`this is not json`, events.ReasonMalformed},
		{`{"type":"AccountDeleted","schema_version":1,"account_id":"123456789012"}`, events.ReasonUnknownType},
		{`{"type":"ScanRequested","schema_version":7,"account_id":"123456789012"}`, events.ReasonUnknownType},
		{`{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","payload_ref":"r1/123456789012/AccountScanned-gone.json"}`, events.ReasonMissingPayload},
		{`{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","payload_ref":"r1/999999999999/AccountScanned-gone.json"}`, events.ReasonInvalid},
		{huge, events.ReasonTooLarge},
	}
	for _, c := range cases {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(scanURL), MessageBody: aws.String(c.body)}); err != nil {
			t.Fatalf("send %.40s: %v", c.body, err)
		}
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(scanURL), MessageBody: aws.String(`{"account_id": "123456789012"}`)}); err != nil {
		t.Fatal(err)
	}

	seen := make(chan events.Event, 10)
	codec := events.Codec{DefaultType: events.TypeScanRequested, Payloads: blob.Payloads{Store: blob.Folder{Dir: t.TempDir()}}}
	_, reg := newRouter(t, tr.Publisher(), nil, func(r *message.Router) {
		r.AddConsumerHandler("scanner", events.TopicScanRequests, tr.Subscriber(), decodeHandler(codec, seen))
	})
	select {
	case ev := <-seen:
		if sr := ev.(*events.ScanRequested); sr.AccountID != "123456789012" || sr.RunID != "" {
			t.Errorf("ad-hoc request decoded as %+v", sr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the valid ad-hoc message was not handled")
	}

	pch := subscribe(t, tr.Subscriber(), events.TopicPoison)
	got := receiveN(t, pch, len(cases), 20*time.Second)
	byReason := map[string][]*message.Message{}
	for _, m := range got {
		byReason[m.Metadata.Get(msg.MetaPoisonReason)] = append(byReason[m.Metadata.Get(msg.MetaPoisonReason)], m)
		if m.Metadata.Get(msg.MetaPoisonSource) != events.TopicScanRequests || m.Metadata.Get(msg.MetaPoisonHandler) != "scanner" {
			t.Errorf("poison source/handler = %q/%q", m.Metadata.Get(msg.MetaPoisonSource), m.Metadata.Get(msg.MetaPoisonHandler))
		}
		if m.Metadata.Get(msg.MetaPoisonError) == "" || m.Metadata.Get(msg.MetaPoisonMessageID) == "" {
			t.Errorf("poison message without error or original id: %v", m.Metadata)
		}
	}
	for _, c := range cases {
		ms := byReason[string(c.reason)]
		found := false
		for _, m := range ms {
			switch {
			case string(m.Payload) == c.body:
				found = true
			case c.reason == events.ReasonTooLarge && strings.HasPrefix(c.body, string(m.Payload)) &&
				m.Metadata.Get(msg.MetaPoisonTruncated) == fmt.Sprint(len(c.body)):
				found = true
			}
		}
		if !found {
			t.Errorf("no poison message with reason %s for body %.60s", c.reason, c.body)
		}
	}
	for reason, want := range map[events.Reason]float64{events.ReasonMalformed: 1, events.ReasonUnknownType: 2, events.ReasonMissingPayload: 1, events.ReasonTooLarge: 1} {
		if got := counterValue(t, reg, "configreport_poison_messages_total", "scanner", string(reason)); got != want {
			t.Errorf("poison_messages_total{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	waitEmpty(t, q, scanURL)
}

// TestNackRedelivers: a transient failure is nacked (no in-process retry
// here) and SQS delivers the message again after the visibility timeout.
func TestNackRedelivers(t *testing.T) {
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) {
		c.ScanQueue = uniqueName(t, "scan")
		c.PoisonQueue = uniqueName(t, "poison")
		c.ReceiveVisibilityTimeout = time.Second
	})
	ctx := context.Background()
	m, err := events.Codec{}.Marshal(ctx, scanRequest(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Publisher().Publish(events.TopicScanRequests, m); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	done := make(chan struct{})
	_, reg := newRouter(t, tr.Publisher(), func(c *msg.RouterConfig) { c.Retries = -1 }, func(r *message.Router) {
		r.AddConsumerHandler("scanner", events.TopicScanRequests, tr.Subscriber(), func(got *message.Message) error {
			if got.UUID != m.UUID {
				return fmt.Errorf("unexpected message %s", got.UUID)
			}
			if calls.Add(1) == 1 {
				return errors.New("throttled: try again later")
			}
			close(done)
			return nil
		})
	})
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("message not redelivered after a nack (%d deliveries)", calls.Load())
	}
	if got := counterValue(t, reg, "configreport_messages_total", "scanner", msg.OutcomeNack); got != 1 {
		t.Errorf("nack count = %v, want 1", got)
	}
	waitEmpty(t, e.sqs(), tr.Resources().ScanQueueURL)
}

// TestDeadLetterQueue: a message that fails every time moves to the scan
// queue's DLQ after maxReceiveCount receives (redrive policy set when the
// queue is created).
func TestDeadLetterQueue(t *testing.T) {
	e := goaws(t)
	tr := newTransport(t, e, func(c *msg.Config) {
		c.ScanQueue = uniqueName(t, "scan")
		c.PoisonQueue = uniqueName(t, "poison")
		c.ScanMaxReceiveCount = 2
		c.ReceiveVisibilityTimeout = time.Second
	})
	ctx := context.Background()
	m, err := events.Codec{}.Marshal(ctx, scanRequest(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Publisher().Publish(events.TopicScanRequests, m); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	newRouter(t, tr.Publisher(), func(c *msg.RouterConfig) { c.Retries = -1 }, func(r *message.Router) {
		r.AddConsumerHandler("scanner", events.TopicScanRequests, tr.Subscriber(), func(*message.Message) error {
			calls.Add(1)
			return errors.New("could not publish the result")
		})
	})
	q := e.sqs()
	dlq := tr.Resources().ScanDLQURL
	deadline := time.Now().Add(25 * time.Second)
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			if aws.ToString(out.Messages[0].Body) != string(m.Payload) {
				t.Errorf("DLQ body %s", aws.ToString(out.Messages[0].Body))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not in the DLQ after %d deliveries", calls.Load())
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handled %d times before the DLQ, want maxReceiveCount=2", n)
	}
}

// TestClaimCheckOverS3 sends an AccountScanned of thousands of findings:
// the body goes to S3, the message carries the key, the consumer reads it
// back whole.
func TestClaimCheckOverS3(t *testing.T) {
	e := goaws(t)
	s3ep := harness.Endpoint(t, "S3_ENDPOINT")
	ctx := context.Background()
	s3c := s3.New(s3.Options{Region: "us-east-1", Credentials: e.aws.Credentials, BaseEndpoint: aws.String(s3ep), UsePathStyle: true})
	bucket := strings.ToLower(uniqueName(t, "claims"))
	if len(bucket) > 63 {
		bucket = bucket[len(bucket)-63:]
	}
	bucket = strings.Trim(bucket, "-")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	store, err := blob.NewS3(s3c, blob.S3Config{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	codec := events.Codec{Payloads: blob.Payloads{Store: store}, PayloadPrefix: "claim-check"}
	tr := newTransport(t, e, func(c *msg.Config) {
		c.ResultsTopic = uniqueName(t, "results")
		c.ResultsQueue = uniqueName(t, "agg")
	})
	big := &events.AccountScanned{RunID: "01JBIG", AccountID: accountID(9), Status: events.StatusOK, ScannedAt: t0, Rules: []events.Rule{}, Errors: []events.ScanError{}}
	for i := range 3000 {
		big.Findings = append(big.Findings, events.Finding{Region: "eu-west-1", Rule: "s3-bucket-versioning-enabled", ResourceType: "AWS::S3::Bucket",
			ResourceID: fmt.Sprintf("bucket-%05d", i), Compliance: events.NonCompliant, Annotation: "versioning is off", RecordedAt: t0})
	}
	m, err := codec.Marshal(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Payload) > 1024 || !strings.Contains(string(m.Payload), `"payload_ref":"claim-check/01JBIG/`) {
		t.Fatalf("expected a claim check, got %d bytes", len(m.Payload))
	}
	if err := tr.Publisher().Publish(events.TopicResults, m); err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, tr.Subscriber(), events.TopicResults)
	got := receiveN(t, ch, 1, 20*time.Second)[0]
	ev, err := codec.Unmarshal(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	back := ev.(*events.AccountScanned)
	if len(back.Findings) != 3000 || back.Findings[2999].ResourceID != "bucket-02999" || back.PayloadRef != "" {
		t.Errorf("read back %d findings, ref %q", len(back.Findings), back.PayloadRef)
	}
}

// TestGracefulCloseReturnsInFlight: closing the router while a handler
// holds a message neither acks nor loses it: it comes back, same UUID, to
// the next consumer after the visibility timeout; Close returns within the
// router's close timeout.
func TestGracefulCloseReturnsInFlight(t *testing.T) {
	e := goaws(t)
	name := uniqueName(t, "scan")
	poison := uniqueName(t, "poison")
	mk := func() *msg.Transport {
		return newTransport(t, e, func(c *msg.Config) {
			c.ScanQueue, c.PoisonQueue = name, poison
			c.ReceiveVisibilityTimeout = time.Second
		})
	}
	tr1 := mk()
	ctx := context.Background()
	m, err := events.Codec{}.Marshal(ctx, scanRequest(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr1.Publisher().Publish(events.TopicScanRequests, m); err != nil {
		t.Fatal(err)
	}
	inHand := make(chan struct{})
	var once sync.Once
	r1, _ := newRouter(t, tr1.Publisher(), func(c *msg.RouterConfig) { c.CloseTimeout = 3 * time.Second }, func(r *message.Router) {
		r.AddConsumerHandler("scanner", events.TopicScanRequests, tr1.Subscriber(), func(got *message.Message) error {
			once.Do(func() { close(inHand) })
			<-got.Context().Done() // a scan interrupted by shutdown
			return got.Context().Err()
		})
	})
	select {
	case <-inHand:
	case <-time.After(20 * time.Second):
		t.Fatal("message never reached the handler")
	}
	start := time.Now()
	if err := r1.Close(); err != nil {
		t.Fatalf("router close: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s, over the close timeout", d)
	}

	tr2 := mk()
	ch := subscribe(t, tr2.Subscriber(), events.TopicScanRequests)
	got := receiveN(t, ch, 1, 20*time.Second)[0]
	if got.UUID != m.UUID {
		t.Errorf("redelivered %s, want %s", got.UUID, m.UUID)
	}
	waitEmpty(t, e.sqs(), tr2.Resources().ScanQueueURL)
}

// TestSettleAtShutdown: a message in hand when the subscription closes is
// settled by Transport.Settle, not left for the visibility timeout (60 s
// here): abandoned, it is visible again at once; handled after the close,
// it is deleted. Without Settle (the control) the abandoned one stays
// invisible, so the test can tell the two apart.
func TestSettleAtShutdown(t *testing.T) {
	cases := []struct {
		name    string
		settle  bool
		finish  bool // the handler finishes its work after the close
		wantNow bool // visible again (abandoned) or gone (finished) within seconds
	}{
		{name: "abandoned, released", settle: true, wantNow: true},
		{name: "finished after close, deleted", settle: true, finish: true, wantNow: true},
		{name: "abandoned without Settle (control)", settle: false, wantNow: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := goaws(t)
			tr := newTransport(t, e, func(c *msg.Config) {
				c.ScanQueue, c.PoisonQueue = uniqueName(t, "scan"), uniqueName(t, "poison")
				c.ReceiveVisibilityTimeout = time.Minute
			})
			ctx := context.Background()
			m, err := events.Codec{}.Marshal(ctx, scanRequest(5))
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Publisher().Publish(events.TopicScanRequests, m); err != nil {
				t.Fatal(err)
			}
			inHand := make(chan struct{})
			var once sync.Once
			r, _ := newRouter(t, tr.Publisher(), func(c *msg.RouterConfig) {
				c.CloseTimeout = 5 * time.Second
				if tc.settle {
					c.Settle = tr.Settle()
				}
			}, func(r *message.Router) {
				r.AddConsumerHandler("scanner", events.TopicScanRequests, tr.Subscriber(), func(got *message.Message) error {
					once.Do(func() { close(inHand) })
					<-got.Context().Done() // the process starts stopping
					if tc.finish {
						return nil // the scan finished and its result went out
					}
					return got.Context().Err()
				})
			})
			select {
			case <-inHand:
			case <-time.After(20 * time.Second):
				t.Fatal("message never reached the handler")
			}
			if err := r.Close(); err != nil {
				t.Fatalf("router close: %v", err)
			}
			c := e.sqs()
			url := tr.Resources().ScanQueueURL
			if tc.finish {
				// goaws counts a message in flight as visible too: both 0 means deleted.
				visible, inFlight := queueDepth(t, c, url)
				if got := visible == "0" && inFlight == "0"; got != tc.wantNow {
					t.Errorf("after the close: visible %s, in flight %s; want deleted", visible, inFlight)
				}
				return
			}
			out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 3, MaxNumberOfMessages: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(out.Messages) == 1; got != tc.wantNow {
				t.Errorf("received %d messages within 3 s of the close, want visible again at once: %v", len(out.Messages), tc.wantNow)
			}
		})
	}
}
