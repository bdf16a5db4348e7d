package msg_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

var nameSeq atomic.Int64

// uniqueName is a queue/topic name of this test, unique across runs of
// the same emulator.
func uniqueName(t testing.TB, suffix string) string {
	base := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	if len(base) > 40 {
		base = base[len(base)-40:]
	}
	return strings.Trim(fmt.Sprintf("%s-%x-%d-%s", base, time.Now().UnixNano()&0xffffffff, nameSeq.Add(1), suffix), "-")
}

// opRecorder records the SDK operations a client sends.
type opRecorder struct {
	mu  sync.Mutex
	ops []string
}

func (r *opRecorder) add(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("record-op",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.mu.Lock()
			r.ops = append(r.ops, awsmw.GetOperationName(ctx))
			r.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

func (r *opRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ops...)
}

func (r *opRecorder) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.ops {
		if o == op {
			n++
		}
	}
	return n
}

type emu struct {
	aws aws.Config
	rec *opRecorder
}

// goaws returns an AWS config on the SQS/SNS emulator (static credentials:
// goaws checks none) with an operation recorder on both clients.
func goaws(t testing.TB) emu {
	t.Helper()
	sqsEP := harness.Endpoint(t, "SQS_ENDPOINT")
	if sns := harness.Endpoint(t, "SNS_ENDPOINT"); sns != sqsEP {
		t.Fatalf("SNS_ENDPOINT %s differs from SQS_ENDPOINT %s: goaws serves both on one port", sns, sqsEP)
	}
	rec := &opRecorder{}
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(sqsEP),
		APIOptions:   []func(*middleware.Stack) error{rec.add, goawsPolicyCompat},
	}
	return emu{aws: cfg, rec: rec}
}

func (e emu) sqs() *sqs.Client { return sqs.NewFromConfig(e.aws) }
func (e emu) sns() *sns.Client { return sns.NewFromConfig(e.aws) }

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("MSG_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTransport builds a Transport on the emulator, creating its resources,
// with short polls and visibility so redelivery takes seconds.
func newTransport(t testing.TB, e emu, mod func(*msg.Config)) *msg.Transport {
	t.Helper()
	cfg := msg.Config{
		AWS:                      e.aws,
		CreateResources:          true,
		WaitTime:                 time.Second,
		ReceiveVisibilityTimeout: 2 * time.Second,
		Logger:                   testLogger(t),
	}
	mod(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tr, err := msg.New(ctx, cfg)
	if err != nil {
		t.Fatalf("msg.New: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// newRouter returns a router on its own registry, with the handlers added
// by add, running until the test ends.
func newRouter(t *testing.T, poison message.Publisher, mod func(*msg.RouterConfig), add func(r *message.Router)) (*message.Router, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := msg.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := msg.RouterConfig{Poison: poison, Metrics: m, Logger: testLogger(t), CloseTimeout: 5 * time.Second, RetryBackoff: 10 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	r, err := msg.NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	add(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("router did not stop within 15s")
		}
	})
	select {
	case <-r.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("router did not start within 10s")
	}
	return r, reg
}

// receiveN reads n messages from ch (acking each), failing after timeout.
func receiveN(t *testing.T, ch <-chan *message.Message, n int, timeout time.Duration) []*message.Message {
	t.Helper()
	var got []*message.Message
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d messages", len(got), n)
			}
			m.Ack()
			got = append(got, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages within %s", len(got), n, timeout)
		}
	}
	return got
}

// queueDepth is ApproximateNumberOfMessages + NotVisible.
func queueDepth(t *testing.T, c *sqs.Client, url string) (visible, inFlight string) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"},
	})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", url, err)
	}
	return out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
}

// counterValue is the counter name{handler, second label} in reg (0 when
// absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name, handler, second string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var h, o string
			for _, l := range m.GetLabel() {
				if l.GetName() == "handler" {
					h = l.GetValue()
				} else {
					o = l.GetValue()
				}
			}
			if h == handler && o == second {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// goawsPolicyCompat drops the Policy attribute from SetQueueAttributes:
// goaws v0.5.4 decodes it, under the JSON protocol, as a JSON object where
// SQS sends a string, answers InvalidParameterValue, and does not enforce
// policies anyway. Test-only: the production path sends the AWS format.
func goawsPolicyCompat(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("goaws-policy-compat",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if sq, ok := in.Parameters.(*sqs.SetQueueAttributesInput); ok {
				if _, has := sq.Attributes["Policy"]; has {
					cp := *sq
					cp.Attributes = map[string]string{}
					for k, v := range sq.Attributes {
						if k != "Policy" {
							cp.Attributes[k] = v
						}
					}
					if len(cp.Attributes) == 0 {
						return middleware.InitializeOutput{Result: &sqs.SetQueueAttributesOutput{}}, middleware.Metadata{}, nil
					}
					in.Parameters = &cp
				}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// subscribe subscribes to topic until the test ends. watermill-aws blocks
// sending a received message until someone takes it, so the cleanup drains
// (nacks) what is left, letting the subscriber close.
func subscribe(t *testing.T, sub message.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	t.Cleanup(func() {
		cancel()
		go func() {
			for m := range ch {
				m.Nack()
			}
		}()
	})
	return ch
}
