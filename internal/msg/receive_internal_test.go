package msg

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/events"
)

const fakeQueueURL = "http://sqs.local/123456789012/scan"

// fakeQueue is an SQS queue whose every ReceiveMessage waits for the test
// to answer it (what a long poll returns), so the test sees how many
// messages each receive asks for.
type fakeQueue struct {
	reqs chan receiveReq
	halt chan struct{} // closed when the test ends: receives still waiting answer nothing

	mu                sync.Mutex
	deleted, released []string // receipt handles
}

type receiveReq struct {
	n      int
	answer chan receiveAnswer
}

type receiveAnswer struct {
	msgs []sqstypes.Message
	err  error
}

func (r receiveReq) give(msgs []sqstypes.Message) { r.answer <- receiveAnswer{msgs: msgs} }

func newFakeQueue() *fakeQueue {
	return &fakeQueue{reqs: make(chan receiveReq), halt: make(chan struct{})}
}

func (f *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	r := receiveReq{n: int(in.MaxNumberOfMessages), answer: make(chan receiveAnswer, 1)}
	select {
	case f.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.halt:
		return &sqs.ReceiveMessageOutput{}, nil
	}
	select {
	case a := <-r.answer:
		if a.err != nil {
			return nil, a.err
		}
		return &sqs.ReceiveMessageOutput{Messages: a.msgs}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.halt:
		return &sqs.ReceiveMessageOutput{}, nil
	}
}

func (f *fakeQueue) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		f.deleted = append(f.deleted, aws.ToString(e.ReceiptHandle))
		out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (f *fakeQueue) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if in.VisibilityTimeout != 0 {
		return nil, fmt.Errorf("visibility %d, want 0", in.VisibilityTimeout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, aws.ToString(in.ReceiptHandle))
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (f *fakeQueue) settled() (deleted, released []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(slices.Values(f.deleted)), slices.Sorted(slices.Values(f.released))
}

// next is the next receive; the guard only keeps a broken receiver from
// hanging the test.
func (f *fakeQueue) next(t *testing.T) receiveReq {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no ReceiveMessage call")
		return receiveReq{}
	}
}

// sqsMessages are messages i..j-1 as SQS hands them over (receipt handle
// "rh-<i>", watermill UUID "m-<i>").
func sqsMessages(t *testing.T, i, j int) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	for ; i < j; i++ {
		sm, err := wsqs.DefaultMarshalerUnmarshaler{}.Marshal(message.NewMessage("m-"+strconv.Itoa(i), []byte(`{}`)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sqstypes.Message{
			Body: sm.Body, MessageAttributes: sm.MessageAttributes,
			MessageId: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String("rh-" + strconv.Itoa(i)),
		})
	}
	return out
}

func newTestReceiver(t *testing.T, f *fakeQueue, prefetch, subs int) (*queueReceiver, []<-chan *message.Message) {
	t.Helper()
	q := newQueueReceiver(f, receiverConfig{
		QueueURL: fakeQueueURL, Wait: 20 * time.Second, Prefetch: prefetch, RetrySleep: time.Millisecond,
		Unmarshaler: receiptUnmarshaler{inner: wsqs.DefaultMarshalerUnmarshaler{}, queueURL: fakeQueueURL},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(func() { _ = q.Close() })
	t.Cleanup(func() { close(f.halt) }) // first: the long poll in progress ends
	var chans []<-chan *message.Message
	for range subs {
		ch, err := q.Subscribe(context.Background(), "scan")
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	return q, chans
}

// settle answers the receive in progress with nothing once all subs
// subscriptions wait, so that the next receive is sized for all of them.
func settle(t *testing.T, q *queueReceiver, f *fakeQueue, subs int) {
	t.Helper()
	waitIdle(t, q, subs)
	f.next(t).give(nil)
}

// waitIdle waits until subs subscriptions wait for a message.
func waitIdle(t *testing.T, q *queueReceiver, subs int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		q.mu.Lock()
		idle := q.idle
		q.mu.Unlock()
		if idle == subs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions waiting, want %d", idle, subs)
		}
		time.Sleep(time.Millisecond)
	}
}

func take(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message handed over")
		return nil
	}
}

// TestReceiverAsksForWaitingSubscriptions: one receive asks for as many
// messages as subscriptions wait for one, plus the prefetch, up to SQS's
// 10 (watermill-aws: one per subscription, each with its own receive).
func TestReceiverAsksForWaitingSubscriptions(t *testing.T) {
	cases := []struct {
		subs, prefetch, want int
	}{
		{subs: 1, prefetch: 0, want: 1},
		{subs: 3, prefetch: 0, want: 3},
		{subs: 3, prefetch: 2, want: 5},
		{subs: 16, prefetch: 0, want: 10},
		{subs: 1, prefetch: 9, want: 10},
		{subs: 2, prefetch: 30, want: 10}, // prefetch capped at 9
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d subscriptions, prefetch %d", tc.subs, tc.prefetch), func(t *testing.T) {
			f := newFakeQueue()
			q, chans := newTestReceiver(t, f, tc.prefetch, tc.subs)
			settle(t, q, f, tc.subs)
			r := f.next(t)
			if r.n != tc.want {
				t.Fatalf("receive asked for %d messages, want %d", r.n, tc.want)
			}
			// Each message of the batch goes to a different subscription.
			r.give(sqsMessages(t, 0, r.n))
			type got struct {
				sub int
				m   *message.Message
			}
			merged := make(chan got)
			for i, ch := range chans {
				go func() {
					for m := range ch {
						merged <- got{i, m}
					}
				}()
			}
			subs, seen := map[int]bool{}, map[string]bool{}
			for range min(tc.subs, r.n) {
				var g got
				select {
				case g = <-merged:
				case <-time.After(20 * time.Second):
					t.Fatalf("%d of %d messages handed over", len(seen), min(tc.subs, r.n))
				}
				if subs[g.sub] || seen[g.m.UUID] {
					t.Fatalf("subscription %d got %s: a second message, or one handed over twice", g.sub, g.m.UUID)
				}
				subs[g.sub], seen[g.m.UUID] = true, true
				if h := g.m.Metadata.Get(metaReceiptHandle); h != "rh-"+g.m.UUID[2:] {
					t.Errorf("message %s: receipt handle %q", g.m.UUID, h)
				}
			}
		})
	}
}

// TestReceiverSettles: an ack deletes the message and frees the
// subscription for the next one, which comes from the prefetched rest of
// the batch without another receive; a nack deletes nothing; once every
// prefetched message is taken, the next receive asks for the waiting
// subscriptions only; Close releases what was received but not handed
// over, and leaves the messages in hand (their contexts ended) to Settle.
func TestReceiverSettles(t *testing.T) {
	f := newFakeQueue()
	q, chans := newTestReceiver(t, f, 2, 2)
	settle(t, q, f, 2)
	r := f.next(t)
	if r.n != 4 {
		t.Fatalf("receive asked for %d, want 4", r.n)
	}
	r.give(sqsMessages(t, 0, 4)) // 2 handed over, 2 held
	a, b := take(t, chans[0]), take(t, chans[1])
	a.Ack()
	a2 := take(t, chans[0]) // one held: no receive in between
	b.Nack()
	b2 := take(t, chans[1]) // the other held
	held := map[string]bool{a2.UUID: true, b2.UUID: true}
	if !held["m-2"] || !held["m-3"] {
		t.Fatalf("after the first two, handed over %s and %s, want m-2 and m-3", a2.UUID, b2.UUID)
	}
	a2.Ack()
	// Nothing held, one subscription waiting: 1 + prefetch 2.
	r = f.next(t)
	if r.n != 3 {
		t.Fatalf("receive asked for %d, want 3", r.n)
	}
	r.give(sqsMessages(t, 4, 7)) // 1 handed over, 2 held
	c := take(t, chans[0])
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Context().Err() == nil || b2.Context().Err() == nil {
		t.Error("messages in hand: context still open after Close")
	}
	for i, ch := range chans {
		if _, ok := <-ch; ok {
			t.Errorf("subscription %d: channel open after Close", i)
		}
	}
	deleted, released := f.settled()
	if want := []string{"rh-" + a.UUID[2:], "rh-" + a2.UUID[2:]}; !slices.Equal(deleted, slices.Sorted(slices.Values(want))) {
		t.Errorf("deleted %v, want %v (the acked ones)", deleted, want)
	}
	var wantReleased []string
	for _, id := range []string{"rh-4", "rh-5", "rh-6"} {
		if id != "rh-"+c.UUID[2:] {
			wantReleased = append(wantReleased, id)
		}
	}
	if !slices.Equal(released, wantReleased) {
		t.Errorf("released %v, want %v (received, never handed over)", released, wantReleased)
	}
	if _, err := q.Subscribe(context.Background(), "scan"); err == nil {
		t.Error("Subscribe after Close: no error")
	}
}

// TestReceiverKeepsCount: a subscription that ends while waiting is no
// longer counted (the next receive asks for one fewer), and a failed
// receive is tried again.
func TestReceiverKeepsCount(t *testing.T) {
	f := newFakeQueue()
	q, _ := newTestReceiver(t, f, 0, 2)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := q.Subscribe(ctx, "scan")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, q, f, 3)
	r := f.next(t)
	if r.n != 3 {
		t.Fatalf("receive asked for %d, want 3", r.n)
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("a message on a subscription whose context ended")
	}
	waitIdle(t, q, 2)
	r.answer <- receiveAnswer{err: fmt.Errorf("InternalError")}
	if r = f.next(t); r.n != 2 {
		t.Fatalf("after a subscription left and a failed receive: asked for %d, want 2", r.n)
	}
	r.give(nil)
}

// TestReceiverCloseKeepsTheLongPoll: Close while a receive is in progress
// does not cancel it (the queue may be handing it messages, which a
// cancelled request would leave invisible until their visibility
// timeout); what it brings is released at once.
func TestReceiverCloseKeepsTheLongPoll(t *testing.T) {
	f := newFakeQueue()
	q, _ := newTestReceiver(t, f, 0, 1)
	waitIdle(t, q, 1)
	r := f.next(t)
	closed := make(chan error, 1)
	go func() { closed <- q.Close() }()
	// Close has begun and waits; the long poll answers.
	for !q.isClosed() {
		time.Sleep(time.Millisecond)
	}
	r.give(sqsMessages(t, 0, 1))
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, released := f.settled(); !slices.Equal(released, []string{"rh-0"}) {
		t.Errorf("released %q, want the message the long poll brought at Close", released)
	}
}

func (q *queueReceiver) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// TestTransportQueues: every consumed topic, the results subscription queue
// included (watermill-aws's SNS subscriber before: one ReceiveMessage of
// one message per handler), is read by one shared receive loop that asks
// for as many messages as handlers wait (plus the prefetch, which is the
// scan and poison queues' only), reads SNS's envelope on the results queue
// only, records the queue and receipt handle for Settle, and deletes the
// acks with DeleteMessageBatch.
func TestTransportQueues(t *testing.T) {
	const (
		scanURL    = "http://sqs.local/123456789012/scan"
		poisonURL  = "http://sqs.local/123456789012/poison"
		resultsURL = "http://sqs.local/123456789012/agg"
		subs       = 3
	)
	payload := `{"type":"AccountScanned","run_id":"r"}`
	envelope := `{"Type":"Notification","MessageId":"sns-1","TopicArn":"arn:aws:sns:us-east-1:123456789012:results","Message":"` +
		strings.ReplaceAll(payload, `"`, `\"`) + `","MessageAttributes":{"_watermill_message_uuid":{"Type":"String","Value":"m-env"}}}`
	cases := []struct {
		topic    string
		url      string
		wantAsk  int    // subs + prefetch 2 where it applies
		wantBody string // of the enveloped message
		wantUUID string
	}{
		{topic: events.TopicScanRequests, url: scanURL, wantAsk: subs + 2, wantBody: envelope, wantUUID: "env-id"},
		{topic: events.TopicPoison, url: poisonURL, wantAsk: subs + 2, wantBody: envelope, wantUUID: "env-id"},
		{topic: events.TopicResults, url: resultsURL, wantAsk: subs, wantBody: payload, wantUUID: "m-env"},
	}
	for _, tc := range cases {
		t.Run(tc.topic, func(t *testing.T) {
			f := newFakeQueue()
			tr := &Transport{
				cfg: Config{WaitTime: 20 * time.Second, Prefetch: 2},
				res: Resources{ScanQueueURL: scanURL, PoisonQueueURL: poisonURL, ResultsQueueURL: resultsURL,
					ResultsTopicARN: "arn:aws:sns:us-east-1:123456789012:results"},
				logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			tr.sqsSubs = tr.queueReceivers(f)
			t.Cleanup(func() { _ = tr.Close() })
			t.Cleanup(func() { close(f.halt) })
			var chans []<-chan *message.Message
			for range subs {
				ch, err := tr.Subscriber().Subscribe(context.Background(), tc.topic)
				if err != nil {
					t.Fatal(err)
				}
				chans = append(chans, ch)
			}
			q := tr.sqsSubs[tc.url]
			if q == nil {
				t.Fatalf("no shared receiver for %s", tc.url)
			}
			settle(t, q, f, subs)
			r := f.next(t)
			if r.n != tc.wantAsk {
				t.Fatalf("receive asked for %d messages, want %d", r.n, tc.wantAsk)
			}
			batch := sqsMessages(t, 0, subs-1)
			batch = append(batch, sqstypes.Message{Body: aws.String(envelope), MessageId: aws.String("env-id"), ReceiptHandle: aws.String("rh-env")})
			r.give(batch)
			got := map[string]*message.Message{}
			for _, ch := range chans {
				m := take(t, ch)
				got[m.UUID] = m
				if m.Metadata.Get(metaQueueURL) != tc.url {
					t.Errorf("%s: queue %q, want %q", m.UUID, m.Metadata.Get(metaQueueURL), tc.url)
				}
			}
			env := got[tc.wantUUID]
			if env == nil {
				t.Fatalf("handed over %v, want the enveloped one as %s", slices.Collect(maps.Keys(got)), tc.wantUUID)
			}
			if string(env.Payload) != tc.wantBody || env.Metadata.Get(metaReceiptHandle) != "rh-env" {
				t.Errorf("enveloped message: body %.60q, receipt handle %q", env.Payload, env.Metadata.Get(metaReceiptHandle))
			}
			for _, m := range got {
				m.Ack()
			}
			// Deleted through the queue's batchDeleter (TestDeleterBatches
			// shows how acks share its calls).
			deadline := time.Now().Add(20 * time.Second)
			for {
				if deleted, _ := f.settled(); len(deleted) == subs {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("acks not deleted")
				}
				time.Sleep(time.Millisecond)
			}
			deleted, _ := f.settled()
			if want := []string{"rh-0", "rh-1", "rh-env"}; !slices.Equal(deleted, want) {
				t.Errorf("deleted %v, want %v", deleted, want)
			}
		})
	}
}
