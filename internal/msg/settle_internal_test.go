package msg

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

type fakeSettler struct {
	deleted, released []string // receipt handles
	queues            []string
	visibility        []int32
	err               error
}

func (f *fakeSettler) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f.deleted = append(f.deleted, aws.ToString(in.ReceiptHandle))
	f.queues = append(f.queues, aws.ToString(in.QueueUrl))
	return &sqs.DeleteMessageOutput{}, f.err
}

func (f *fakeSettler) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f.released = append(f.released, aws.ToString(in.ReceiptHandle))
	f.queues = append(f.queues, aws.ToString(in.QueueUrl))
	f.visibility = append(f.visibility, in.VisibilityTimeout)
	return &sqs.ChangeMessageVisibilityOutput{}, f.err
}

func TestSettleMiddleware(t *testing.T) {
	const queue, handle = "http://sqs.local/123456789012/scan", "rh-1"
	handlerErr := errors.New("scan abandoned: context canceled")
	cases := []struct {
		name         string
		stopping     bool // the subscription closed under the handler
		meta         bool // the message came from an SQS subscription
		handlerErr   error
		settleErr    error
		wantDeleted  bool
		wantReleased bool
	}{
		{name: "running, acked: the subscription deletes it", meta: true},
		{name: "running, nacked: the visibility timeout is the backoff", meta: true, handlerErr: handlerErr},
		{name: "stopping, handled: deleted here", stopping: true, meta: true, wantDeleted: true},
		{name: "stopping, abandoned: released at once", stopping: true, meta: true, handlerErr: handlerErr, wantReleased: true},
		{name: "stopping, not from SQS: left alone", stopping: true, handlerErr: handlerErr},
		{name: "stopping, release fails: outcome unchanged", stopping: true, meta: true, handlerErr: handlerErr, settleErr: errors.New("AccessDenied"), wantReleased: true},
		{name: "stopping, delete fails: outcome unchanged", stopping: true, meta: true, settleErr: errors.New("AccessDenied"), wantDeleted: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSettler{err: tc.settleErr}
			mw := settleMiddleware(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
			m := message.NewMessage("uuid-1", []byte("{}"))
			if tc.meta {
				m.Metadata.Set(metaQueueURL, queue)
				m.Metadata.Set(metaReceiptHandle, handle)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m.SetContext(ctx)
			_, err := mw(func(m *message.Message) ([]*message.Message, error) {
				if tc.stopping {
					cancel()
				}
				return nil, tc.handlerErr
			})(m)
			if !errors.Is(err, tc.handlerErr) || (tc.handlerErr == nil) != (err == nil) {
				t.Errorf("error = %v, want the handler's %v", err, tc.handlerErr)
			}
			if got := len(f.deleted) == 1 && f.deleted[0] == handle; got != tc.wantDeleted || len(f.deleted) > 1 {
				t.Errorf("deleted = %v, want deleted: %v", f.deleted, tc.wantDeleted)
			}
			if got := len(f.released) == 1 && f.released[0] == handle && f.visibility[0] == 0; got != tc.wantReleased || len(f.released) > 1 {
				t.Errorf("released = %v (visibility %v), want released at visibility 0: %v", f.released, f.visibility, tc.wantReleased)
			}
			for _, q := range f.queues {
				if q != queue {
					t.Errorf("settled on queue %q, want %q", q, queue)
				}
			}
		})
	}
}

// TestReceiptUnmarshaler: the queue and receipt handle are recorded, and an
// incoming attribute of the same name cannot choose them.
func TestReceiptUnmarshaler(t *testing.T) {
	u := receiptUnmarshaler{inner: wsqs.DefaultMarshalerUnmarshaler{}, queueURL: "http://sqs.local/1/scan"}
	m, err := u.Unmarshal(&sqstypes.Message{
		Body: aws.String(`{"a":1}`), MessageId: aws.String("id-1"), ReceiptHandle: aws.String("real-handle"),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			metaReceiptHandle: {DataType: aws.String("String"), StringValue: aws.String("spoofed")},
			metaQueueURL:      {DataType: aws.String("String"), StringValue: aws.String("http://elsewhere/q")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Metadata.Get(metaReceiptHandle); got != "real-handle" {
		t.Errorf("receipt handle = %q, want real-handle", got)
	}
	if got := m.Metadata.Get(metaQueueURL); got != "http://sqs.local/1/scan" {
		t.Errorf("queue = %q", got)
	}
}
