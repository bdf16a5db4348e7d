package msg_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/msg"
)

// TestProductionPath runs the production configuration on the emulator:
// resources made beforehand (as CloudFormation does), CreateResources off,
// queues by name or URL, the topic by ARN.
func TestProductionPath(t *testing.T) {
	e := goaws(t)
	ctx := context.Background()
	q, s := e.sqs(), e.sns()
	scan, agg, poison, topic := uniqueName(t, "scan"), uniqueName(t, "agg"), uniqueName(t, "poison"), uniqueName(t, "results")
	urls := map[string]string{}
	for _, name := range []string{scan, agg, poison} {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		urls[name] = aws.ToString(out.QueueUrl)
	}
	tout, err := s.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topic)})
	if err != nil {
		t.Fatal(err)
	}
	aggARN := "arn:aws:sqs:us-east-1:100010001000:" + agg
	if _, err := s.Subscribe(ctx, &sns.SubscribeInput{TopicArn: tout.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(aggARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	before := len(e.rec.snapshot())
	tr := newTransport(t, e, func(c *msg.Config) {
		c.CreateResources = false
		c.ScanQueue = scan         // by name: GetQueueUrl
		c.ResultsQueue = urls[agg] // by URL: no call
		c.PoisonQueue = urls[poison]
		c.ResultsTopic = aws.ToString(tout.TopicArn)
	})
	for _, op := range e.rec.snapshot()[before:] {
		if op != "GetQueueUrl" {
			t.Errorf("production start-up sent %s: only GetQueueUrl (for a queue given by name) is expected", op)
		}
	}
	if tr.Resources().ScanQueueURL != urls[scan] {
		t.Errorf("scan queue resolved to %s, want %s", tr.Resources().ScanQueueURL, urls[scan])
	}
	m, err := events.Codec{}.Marshal(ctx, scanRequest(5))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Publisher().Publish(events.TopicScanRequests, m); err != nil {
		t.Fatal(err)
	}
	if got := receiveN(t, subscribe(t, tr.Subscriber(), events.TopicScanRequests), 1, 20*time.Second)[0]; got.UUID != m.UUID {
		t.Errorf("scan queue gave %s", got.UUID)
	}
	r, err := events.Codec{}.Marshal(ctx, &events.AccountScanned{RunID: "01JPROD", AccountID: accountID(5), Status: events.StatusOK, ScannedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Publisher().Publish(events.TopicResults, r); err != nil {
		t.Fatal(err)
	}
	if got := receiveN(t, subscribe(t, tr.Subscriber(), events.TopicResults), 1, 20*time.Second)[0]; got.UUID != r.UUID || string(got.Payload) != string(r.Payload) {
		t.Errorf("results queue gave %s %.100s", got.UUID, got.Payload)
	}

	// A queue that does not exist fails start-up, naming it.
	_, err = msg.New(ctx, msg.Config{AWS: e.aws, ScanQueue: uniqueName(t, "missing"), WaitTime: time.Second})
	if err == nil || !strings.Contains(err.Error(), "resolve queue") {
		t.Errorf("missing queue: %v", err)
	}
}

// TestGoawsDeviations pins each way goaws v0.5.4 differs from AWS that
// this code or its tests adapt to (docs/EMULATORS.md lists them): if an
// upgrade fixes one, this test says so and the adaptation can go.
func TestGoawsDeviations(t *testing.T) {
	e := goaws(t)
	ctx := context.Background()
	q, s := e.sqs(), e.sns()

	t.Run("missing queue error shape", func(t *testing.T) {
		_, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(uniqueName(t, "none"))})
		var dne *sqstypes.QueueDoesNotExist
		var api smithy.APIError
		if err == nil || errors.As(err, &dne) || !errors.As(err, &api) {
			t.Fatalf("AWS answers QueueDoesNotExist; goaws gave %v (QueueDoesNotExist matched: %v)", err, errors.As(err, &dne))
		}
		t.Logf("missing queue: code %q, not the SDK's *types.QueueDoesNotExist", api.ErrorCode())
	})
	t.Run("missing topic error shape", func(t *testing.T) {
		_, err := s.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:100010001000:" + uniqueName(t, "none")), Message: aws.String("x")})
		var nf *snstypes.NotFoundException
		var api smithy.APIError
		if err == nil || errors.As(err, &nf) || !errors.As(err, &api) {
			t.Fatalf("AWS answers NotFound; goaws gave %v", err)
		}
		t.Logf("missing topic: code %q, not *types.NotFoundException", api.ErrorCode())
	})
	t.Run("Publish with TargetArn", func(t *testing.T) {
		out, err := s.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(uniqueName(t, "t"))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Publish(ctx, &sns.PublishInput{TargetArn: out.TopicArn, Message: aws.String("x")}); err == nil {
			t.Fatal("goaws now accepts TargetArn: TopicArnMarshaler is no longer needed for it")
		}
	})
	t.Run("SetQueueAttributes Policy as a string", func(t *testing.T) {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(t, "p"))})
		if err != nil {
			t.Fatal(err)
		}
		// Straight to the server, bypassing goawsPolicyCompat.
		raw := sqs.NewFromConfig(aws.Config{Region: e.aws.Region, Credentials: e.aws.Credentials, BaseEndpoint: e.aws.BaseEndpoint})
		_, err = raw.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: out.QueueUrl,
			Attributes: map[string]string{"Policy": `{"Version":"2012-10-17","Statement":[]}`}})
		if err == nil {
			t.Fatal("goaws now accepts a Policy string: goawsPolicyCompat can go")
		}
	})
	t.Run("SendMessageBatch response field names", func(t *testing.T) {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(t, "b"))})
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: out.QueueUrl,
			Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("0"), MessageBody: aws.String("x")}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Successful)+len(res.Failed) != 0 {
			t.Fatal("goaws now lists batch entries: BatchPublisher's unlisted-entries fallback is no longer exercised")
		}
	})
	t.Run("DeleteMessageBatch of a deleted message", func(t *testing.T) {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(t, "d"))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
		rcv, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, WaitTimeSeconds: 1, VisibilityTimeout: 60})
		if err != nil || len(rcv.Messages) != 1 {
			t.Fatalf("receive: %v, %d messages", err, len(rcv.Messages))
		}
		in := &sqs.DeleteMessageBatchInput{QueueUrl: out.QueueUrl, Entries: []sqstypes.DeleteMessageBatchRequestEntry{
			{Id: aws.String("0"), ReceiptHandle: rcv.Messages[0].ReceiptHandle}}}
		var answers []string
		for range 2 {
			res, err := q.DeleteMessageBatch(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, ok := range res.Successful {
				answers = append(answers, "deleted "+aws.ToString(ok.Id))
			}
			for _, f := range res.Failed {
				answers = append(answers, "failed "+aws.ToString(f.Id)+": "+aws.ToString(f.Message))
			}
		}
		// The response lists its entries (unlike SendMessageBatch's), and
		// the second delete of one handle fails its entry where AWS
		// succeeds: batchDeleter takes that failure for "already deleted".
		if want := []string{"deleted 0", "failed 0: Message not found"}; !slices.Equal(answers, want) {
			t.Fatalf("goaws answered %q, want %q: update batchDeleter's alreadyDeleted and docs/EMULATORS.md", answers, want)
		}
	})
	t.Run("duplicate subscriptions collapse", func(t *testing.T) {
		tp, err := s.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(uniqueName(t, "t"))})
		if err != nil {
			t.Fatal(err)
		}
		qn := uniqueName(t, "q")
		if _, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(qn)}); err != nil {
			t.Fatal(err)
		}
		in := &sns.SubscribeInput{TopicArn: tp.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String("arn:aws:sqs:us-east-1:100010001000:" + qn)}
		a, err1 := s.Subscribe(ctx, in)
		b, err2 := s.Subscribe(ctx, in)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		list, err := s.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: tp.TopicArn})
		if err != nil {
			t.Fatal(err)
		}
		// AWS returns the same subscription ARN for an identical Subscribe;
		// goaws keeps one subscription but hands out a new ARN each time.
		if len(list.Subscriptions) != 1 {
			t.Errorf("%d subscriptions after two identical Subscribe calls", len(list.Subscriptions))
		}
		t.Logf("identical Subscribe calls returned ARNs equal: %v", aws.ToString(a.SubscriptionArn) == aws.ToString(b.SubscriptionArn))
	})
	t.Run("no size limit on SNS Publish", func(t *testing.T) {
		tp, err := s.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(uniqueName(t, "t"))})
		if err != nil {
			t.Fatal(err)
		}
		// AWS refuses a message over 256 KiB with InvalidParameter; goaws
		// takes it, so the size contract is checked by our code
		// (events.Codec, BatchPublisher), never left to the emulator.
		if _, err := s.Publish(ctx, &sns.PublishInput{TopicArn: tp.TopicArn, Message: aws.String(strings.Repeat("x", 300*1024))}); err != nil {
			t.Fatalf("goaws now refuses a 300 KiB publish (%v), as AWS does: update docs/EMULATORS.md", err)
		}
	})
}
