package msg_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/msg"
)

// fakeBatchSQS records SendMessageBatch calls and fails the entries whose
// body is in failOnce (once, as a server fault) or failAlways (sender fault).
type fakeBatchSQS struct {
	mu         sync.Mutex
	calls      [][]sqstypes.SendMessageBatchRequestEntry
	failOnce   map[string]bool
	failAlways map[string]bool
}

func (f *fakeBatchSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in.Entries)
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		body := aws.ToString(e.MessageBody)
		switch {
		case f.failAlways[body]:
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidMessageContents"), SenderFault: true, Message: aws.String("bad")})
		case f.failOnce[body]:
			delete(f.failOnce, body)
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
		default:
			out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + aws.ToString(e.Id))})
		}
	}
	return out, nil
}

func msgs(n, size int) []*message.Message {
	var out []*message.Message
	for i := range n {
		body := fmt.Sprintf("%04d", i) + strings.Repeat("x", max(size-4, 0))
		m := message.NewMessage(fmt.Sprintf("uuid-%d", i), []byte(body))
		m.Metadata.Set("event_type", "ScanRequested")
		out = append(out, m)
	}
	return out
}

func TestBatchPublisherChunks(t *testing.T) {
	tests := []struct {
		name      string
		n, size   int
		wantCalls []int // entries per call
	}{
		{"one", 1, 100, []int{1}},
		{"ten fit one call", 10, 100, []int{10}},
		{"23 by count", 23, 100, []int{10, 10, 3}},
		// 100 KiB bodies: two per call under the 256 KiB total.
		{"by size", 5, 100 * 1024, []int{2, 2, 1}},
		{"empty", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBatchSQS{}
			p := msg.NewBatchPublisher(f, map[string]string{"scan-requests": "https://sqs/1/scan"}, nil)
			if err := p.Publish("scan-requests", msgs(tt.n, tt.size)...); err != nil {
				t.Fatal(err)
			}
			var got []int
			seen := map[string]bool{}
			for _, c := range f.calls {
				got = append(got, len(c))
				total := 0
				for _, e := range c {
					seen[aws.ToString(e.MessageBody)[:4]] = true
					total += len(aws.ToString(e.MessageBody))
					if aws.ToString(e.MessageAttributes[wsqs.UUIDAttribute].StringValue) == "" {
						t.Error("entry without the watermill UUID attribute")
					}
				}
				if total > msg.MaxBatchBytes {
					t.Errorf("call of %d bytes over the batch limit", total)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantCalls) {
				t.Errorf("entries per call = %v, want %v", got, tt.wantCalls)
			}
			if len(seen) != tt.n {
				t.Errorf("%d distinct messages sent, want %d", len(seen), tt.n)
			}
		})
	}
}

func TestBatchPublisherFailures(t *testing.T) {
	ms := msgs(4, 10)
	body := func(i int) string { return string(ms[i].Payload) }

	f := &fakeBatchSQS{failOnce: map[string]bool{body(1): true, body(3): true}}
	p := msg.NewBatchPublisher(f, map[string]string{"scan-requests": "u"}, nil)
	if err := p.Publish("scan-requests", ms...); err != nil {
		t.Fatalf("server-side failures should be retried: %v", err)
	}
	if len(f.calls) != 2 || len(f.calls[1]) != 2 {
		t.Errorf("calls = %d (second with %d entries), want a retry of the 2 failed", len(f.calls), len(f.calls[len(f.calls)-1]))
	}

	f = &fakeBatchSQS{failAlways: map[string]bool{body(2): true}}
	p = msg.NewBatchPublisher(f, map[string]string{"scan-requests": "u"}, nil)
	err := p.Publish("scan-requests", ms...)
	if err == nil || !strings.Contains(err.Error(), ms[2].UUID) || !strings.Contains(err.Error(), "InvalidMessageContents") {
		t.Fatalf("sender fault: %v; want an error naming message %s", err, ms[2].UUID)
	}
	if len(f.calls) != 1 {
		t.Errorf("a sender fault was retried: %d calls", len(f.calls))
	}

	// A sender fault and a server fault in one call: the second is retried
	// all the same, and only the first is reported.
	f = &fakeBatchSQS{failAlways: map[string]bool{body(0): true}, failOnce: map[string]bool{body(3): true}}
	p = msg.NewBatchPublisher(f, map[string]string{"scan-requests": "u"}, nil)
	err = p.Publish("scan-requests", ms...)
	if err == nil || !strings.Contains(err.Error(), ms[0].UUID) || strings.Contains(err.Error(), ms[3].UUID) {
		t.Errorf("mixed failures: %v; want only message %s reported", err, ms[0].UUID)
	}
	if len(f.calls) != 2 || len(f.calls[1]) != 1 || aws.ToString(f.calls[1][0].MessageBody) != body(3) {
		t.Errorf("mixed failures: %d calls; want a retry of the server-side failure alone", len(f.calls))
	}

	if err := p.Publish("results", ms...); err == nil {
		t.Error("publishing to an unconfigured topic succeeded")
	}
	tooBig := msgs(1, msg.MaxBatchBytes+1)
	if err := p.Publish("scan-requests", tooBig...); err == nil {
		t.Error("a message over the SQS limit was sent")
	}
}

// TestBatchMarshalingMatchesWatermill: what BatchPublisher sends decodes
// with watermill-aws's own unmarshaler, UUID and metadata included.
func TestBatchMarshalingMatchesWatermill(t *testing.T) {
	f := &fakeBatchSQS{}
	p := msg.NewBatchPublisher(f, map[string]string{"t": "u"}, nil)
	in := msgs(1, 20)[0]
	in.Metadata.Set("run_id", "01JX")
	if err := p.Publish("t", in); err != nil {
		t.Fatal(err)
	}
	e := f.calls[0][0]
	out, err := wsqs.DefaultMarshalerUnmarshaler{}.Unmarshal(&sqstypes.Message{Body: e.MessageBody, MessageAttributes: e.MessageAttributes, MessageId: aws.String("server-id")})
	if err != nil {
		t.Fatal(err)
	}
	if out.UUID != in.UUID || string(out.Payload) != string(in.Payload) || out.Metadata.Get("run_id") != "01JX" || out.Metadata.Get("event_type") != "ScanRequested" {
		t.Errorf("round trip: %s %q %v", out.UUID, out.Payload, out.Metadata)
	}
}

func TestEnvelopeUnmarshaler(t *testing.T) {
	body := `{"type":"AccountScanned","schema_version":1,"run_id":"r"}`
	quoted := strings.ReplaceAll(body, `"`, `\"`)
	tests := []struct {
		name     string
		raw      string
		attrs    map[string]sqstypes.MessageAttributeValue
		wantBody string
		wantUUID string
		wantRun  string
	}{
		{"raw delivery", body, map[string]sqstypes.MessageAttributeValue{
			wsqs.UUIDAttribute: {DataType: aws.String("String"), StringValue: aws.String("u-1")},
			"run_id":           {DataType: aws.String("String"), StringValue: aws.String("r")},
		}, body, "u-1", "r"},
		{"AWS envelope", `{"Type":"Notification","MessageId":"sns-1","TopicArn":"arn:aws:sns:us-east-1:1:results","Message":"` + quoted + `",` +
			`"MessageAttributes":{"_watermill_message_uuid":{"Type":"String","Value":"u-2"},"run_id":{"Type":"String","Value":"r"}}}`, nil, body, "u-2", "r"},
		{"envelope without attributes", `{"Type":"Notification","MessageId":"sns-3","TopicArn":"arn:aws:sns:us-east-1:1:results","Message":"` + quoted + `"}`, nil, body, "sns-3", ""},
		// An event body is never taken for an envelope, even though JSON
		// field matching would be case-insensitive.
		{"event with lowercase type", `{"type":"Notification","topicarn":"x","message":"y"}`, nil, `{"type":"Notification","topicarn":"x","message":"y"}`, "sqs-id", ""},
		{"not json", `garbage`, nil, `garbage`, "sqs-id", ""},
		// AWS writes its envelope indented, keys in capitals.
		{"AWS envelope, indented", "{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : \"sns-4\",\n  \"TopicArn\" : \"arn:aws:sns:us-east-1:1:results\",\n  \"Message\" : \"" + quoted + "\"\n}", nil, body, "sns-4", ""},
		// A body whose first key is in lower case is an event (the codec
		// writes "type" first), never an envelope, whatever keys follow:
		// it is not parsed to find out.
		{"event that also has envelope keys", `{"type":"AccountScanned","Type":"Notification","TopicArn":"t","Message":"m"}`, nil,
			`{"type":"AccountScanned","Type":"Notification","TopicArn":"t","Message":"m"}`, "sqs-id", ""},
		{"event, indented", " \n{ \"type\":\"AccountScanned\",\"Type\":\"Notification\",\"TopicArn\":\"t\",\"Message\":\"m\"}", nil,
			" \n{ \"type\":\"AccountScanned\",\"Type\":\"Notification\",\"TopicArn\":\"t\",\"Message\":\"m\"}", "sqs-id", ""},
		// A first key spelled with an escape is left to the full parse.
		{"envelope with an escaped first key", `{"\u0054ype":"Notification","MessageId":"sns-5","TopicArn":"t","Message":"` + quoted + `"}`, nil, body, "sns-5", ""},
		{"empty object", `{}`, nil, `{}`, "sqs-id", ""},
		{"empty", ``, nil, ``, "sqs-id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := msg.EnvelopeUnmarshaler{}.Unmarshal(&sqstypes.Message{Body: aws.String(tt.raw), MessageAttributes: tt.attrs, MessageId: aws.String("sqs-id")})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Payload) != tt.wantBody || m.UUID != tt.wantUUID || m.Metadata.Get("run_id") != tt.wantRun {
				t.Errorf("got body %q uuid %q run %q", m.Payload, m.UUID, m.Metadata.Get("run_id"))
			}
		})
	}
}

func TestTopicArnMarshaler(t *testing.T) {
	m := message.NewMessage("u-9", []byte(`{}`))
	m.Metadata.Set("run_id", "r")
	in := msg.TopicArnMarshaler{}.Marshal("arn:aws:sns:us-east-1:111122223333:results", m)
	if aws.ToString(in.TopicArn) != "arn:aws:sns:us-east-1:111122223333:results" || in.TargetArn != nil {
		t.Errorf("TopicArn %v TargetArn %v", aws.ToString(in.TopicArn), aws.ToString(in.TargetArn))
	}
	if aws.ToString(in.MessageAttributes[wsqs.UUIDAttribute].StringValue) != "u-9" || aws.ToString(in.MessageAttributes["run_id"].StringValue) != "r" {
		t.Errorf("attributes %v", in.MessageAttributes)
	}
}

func TestPoisonCopy(t *testing.T) {
	m := message.NewMessage("orig", []byte("not json"))
	for i := range 12 {
		m.Metadata.Set(fmt.Sprintf("k%02d", i), "v")
	}
	m.SetContext(context.Background())
	pm := msg.PoisonCopy(m, events.ReasonMalformed, errors.New(strings.Repeat("e", 5000)))
	if len(pm.Metadata) > 9 {
		t.Errorf("%d metadata keys: SQS allows 10 attributes, one is the UUID", len(pm.Metadata))
	}
	if pm.Metadata.Get(msg.MetaPoisonReason) != "malformed" || pm.Metadata.Get(msg.MetaPoisonMessageID) != "orig" || len(pm.Metadata.Get(msg.MetaPoisonError)) != 1024 {
		t.Errorf("metadata %v", pm.Metadata)
	}
	if pm.Metadata.Get("k00") != "v" {
		t.Error("original metadata not copied in sorted order")
	}

	// The transport's own keys (queue, receipt handle) stay behind: a
	// receipt handle means nothing on another queue.
	own := message.NewMessage("own", []byte("x"))
	own.Metadata.Set("_sqs_receipt_handle", "rh")
	own.Metadata.Set("_sqs_queue_url", "http://q")
	own.Metadata.Set("a", "kept")
	own.SetContext(context.Background())
	if om := msg.PoisonCopy(own, events.ReasonMalformed, errors.New("bad")).Metadata; om.Get("_sqs_receipt_handle") != "" || om.Get("_sqs_queue_url") != "" || om.Get("a") != "kept" {
		t.Errorf("poison copy metadata %v: transport keys copied or others lost", om)
	}
	if pm.UUID == m.UUID || string(pm.Payload) != "not json" {
		t.Errorf("copy uuid %s payload %q", pm.UUID, pm.Payload)
	}

	big := message.NewMessage("big", []byte(strings.Repeat("é", events.MessageLimit)))
	big.SetContext(context.Background())
	pm = msg.PoisonCopy(big, events.ReasonTooLarge, errors.New("too large"))
	if len(pm.Payload) > events.MaxInlineBody || pm.Metadata.Get(msg.MetaPoisonTruncated) != fmt.Sprint(len(big.Payload)) {
		t.Errorf("truncated to %d bytes, marker %q", len(pm.Payload), pm.Metadata.Get(msg.MetaPoisonTruncated))
	}
	if !strings.HasPrefix(string(big.Payload), string(pm.Payload)) || !isValidUTF8(pm.Payload) {
		t.Error("truncation is not a valid UTF-8 prefix")
	}
}

func isValidUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// recordingPublisher is a poison publisher that can be made to fail.
type recordingPublisher struct {
	mu   sync.Mutex
	got  []*message.Message
	topc []string
	err  error
}

func (p *recordingPublisher) Publish(topic string, ms ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.got = append(p.got, ms...)
	p.topc = append(p.topc, topic)
	return nil
}
func (p *recordingPublisher) Close() error { return nil }

// TestRouterPolicy drives the middleware chain NewRouter installs, handler
// outcome by handler outcome.
func TestRouterPolicy(t *testing.T) {
	decodeErr := fmt.Errorf("decode: %w", &events.DecodeError{Reason: events.ReasonUnknownType, Err: errors.New("type Foo")})
	tests := []struct {
		name        string
		handler     func(calls int) error
		poisonErr   error
		wantErr     bool
		wantCalls   int
		wantPoison  string
		wantOutcome string
	}{
		{"ok", func(int) error { return nil }, nil, false, 1, "", msg.OutcomeAck},
		{"decode error is poison and acked", func(int) error { return decodeErr }, nil, false, 1, "unknown-type", msg.OutcomePoison},
		{"poison publish fails: nack", func(int) error { return decodeErr }, errors.New("sqs down"), true, 1, "", msg.OutcomeNack},
		{"transient retried then ok", func(c int) error {
			if c < 3 {
				return errors.New("throttled")
			}
			return nil
		}, nil, false, 3, "", msg.OutcomeAck},
		{"transient exhausted: nack", func(int) error { return errors.New("throttled") }, nil, true, 3, "", msg.OutcomeNack},
		{"panic: nacked, not retried, not poison", func(int) error { panic("nil map") }, nil, true, 1, "", msg.OutcomePanic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			metrics, err := msg.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			pub := &recordingPublisher{err: tt.poisonErr}
			logger := testLogger(t)
			chain := []message.HandlerMiddleware{
				msg.Poison(pub, events.TopicPoison, metrics, logger),
				msg.Retry(2, time.Millisecond, logger),
				msg.Recoverer(logger),
			}
			calls := 0
			var h message.HandlerFunc = func(*message.Message) ([]*message.Message, error) {
				calls++
				if got := gaugeValue(t, reg, "configreport_messages_in_flight"); got != 1 {
					t.Errorf("in flight while handling = %v, want 1", got)
				}
				return nil, tt.handler(calls)
			}
			for i := len(chain) - 1; i >= 0; i-- {
				h = chain[i](h)
			}
			in := message.NewMessage("m-1", []byte(`{"type":"Foo","schema_version":1}`))
			in.Metadata.Set("run_id", "r")
			_, err = h(in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("handler called %d times, want %d", calls, tt.wantCalls)
			}
			if tt.wantPoison != "" {
				if len(pub.got) != 1 || pub.topc[0] != events.TopicPoison {
					t.Fatalf("poison publishes: %d to %v", len(pub.got), pub.topc)
				}
				p := pub.got[0]
				if p.Metadata.Get(msg.MetaPoisonReason) != tt.wantPoison || string(p.Payload) != string(in.Payload) ||
					p.Metadata.Get("run_id") != "r" || !strings.Contains(p.Metadata.Get(msg.MetaPoisonError), "type Foo") {
					t.Errorf("poison copy %q %v", p.Payload, p.Metadata)
				}
			} else if len(pub.got) != 0 {
				t.Errorf("unexpected poison publish")
			}
			if got := counterValue(t, reg, "configreport_messages_total", "", tt.wantOutcome); got != 1 {
				t.Errorf("outcome %s counted %v times", tt.wantOutcome, got)
			}
			if got := gaugeValue(t, reg, "configreport_messages_in_flight"); got != 0 {
				t.Errorf("in flight after handling = %v, want 0", got)
			}
		})
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := msg.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := msg.NewMetrics(reg)
	if err != nil || a == nil || b == nil {
		t.Fatalf("second registration: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	ok := aws.Config{Region: "us-east-1", Credentials: creds}
	tests := []struct {
		name string
		cfg  msg.Config
		want []string
	}{
		{"nothing configured", msg.Config{AWS: ok}, []string{"no queue or topic"}},
		{"no credentials nor region", msg.Config{ScanQueue: "https://q"}, []string{"credentials", "region"}},
		{"topic name without create", msg.Config{AWS: ok, ResultsTopic: "results"}, []string{"must be an ARN"}},
		{"subscription queue without topic", msg.Config{AWS: ok, ResultsQueue: "https://q"}, []string{"needs the results topic"}},
		{"bad waits", msg.Config{AWS: ok, ScanQueue: "q", WaitTime: 30 * time.Second, ReceiveVisibilityTimeout: -1}, []string{"receive wait", "receive visibility"}},
		{"prefetch over a receive", msg.Config{AWS: ok, ScanQueue: "q", Prefetch: 10}, []string{"prefetch 10 is outside 0..9"}},
		{"negative prefetch", msg.Config{AWS: ok, ScanQueue: "q", Prefetch: -1}, []string{"prefetch -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := msg.New(context.Background(), tt.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRouterConfigValidate(t *testing.T) {
	if _, err := msg.NewRouter(msg.RouterConfig{Metrics: &msg.Metrics{}}); err == nil || !strings.Contains(err.Error(), "poison publisher") {
		t.Errorf("router without poison publisher: %v", err)
	}
}

func TestFlags(t *testing.T) {
	hub := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	tests := []struct {
		name    string
		need    msg.Need
		args    []string
		wantErr []string
		check   func(t *testing.T, c msg.Config)
	}{
		{"scanner", msg.NeedScanQueue | msg.NeedResultsTopic | msg.NeedPoisonQueue | msg.NeedConsume,
			[]string{"-scan-queue-url", "https://sqs.us-east-1.amazonaws.com/1/scan", "-results-topic-arn", "arn:aws:sns:us-east-1:1:results",
				"-poison-queue-url", "https://sqs.us-east-1.amazonaws.com/1/poison", "-receive-wait", "5s", "-receive-prefetch", "3"}, nil,
			func(t *testing.T, c msg.Config) {
				if c.WaitTime != 5*time.Second || c.CreateResources || c.ScanQueue == "" || c.ResultsQueue != "" || c.Prefetch != 3 {
					t.Errorf("config %+v", c)
				}
			}},
		{"aggregator missing everything", msg.NeedResultsTopic | msg.NeedResultsQueue | msg.NeedPoisonQueue | msg.NeedConsume, nil,
			[]string{"-results-topic-arn is required", "-results-queue-url is required", "-poison-queue-url is required"}, nil},
		{"scanner prefetch over a receive", msg.NeedScanQueue | msg.NeedResultsTopic | msg.NeedPoisonQueue | msg.NeedConsume,
			[]string{"-scan-queue-url", "scan", "-results-topic-arn", "arn:aws:sns:us-east-1:1:results", "-poison-queue-url", "poison", "-receive-prefetch", "12"},
			[]string{"prefetch 12 is outside 0..9"}, nil},
		{"trigger with a topic name needs create", msg.NeedScanQueue | msg.NeedResultsTopic,
			[]string{"-scan-queue-url", "scan", "-results-topic-arn", "results"}, []string{"must be an ARN"}, nil},
		{"emulator run", msg.NeedScanQueue | msg.NeedResultsTopic,
			[]string{"-scan-queue-url", "scan", "-results-topic-arn", "results", "-create-resources"}, nil,
			func(t *testing.T, c msg.Config) {
				if !c.CreateResources || c.ScanMaxReceiveCount != 5 {
					t.Errorf("config %+v", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			var f msg.Flags
			f.Register(fs, tt.need)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := f.Config(hub, nil)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "no queue or topic") {
				t.Errorf("error %v repeats the missing flags in other words", err)
			}
		})
	}
	// A trigger has no consumer flags.
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	var f msg.Flags
	f.Register(fs, msg.NeedScanQueue|msg.NeedResultsTopic)
	if fs.Lookup("receive-wait") != nil || fs.Lookup("results-queue-url") != nil || fs.Lookup("receive-prefetch") != nil {
		t.Error("trigger got consumer flags")
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
