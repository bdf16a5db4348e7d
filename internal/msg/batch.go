package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS limits on one SendMessageBatch call: 10 entries, and the sum of the
// entries' sizes (body plus attribute names, types and values) at most
// 256 KiB, the same as one message.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 * 1024
)

// SQSBatchAPI is the part of *sqs.Client BatchPublisher calls.
type SQSBatchAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// BatchPublisher publishes to SQS queues with SendMessageBatch. The
// watermill-aws v1.0.1 publisher sends one SendMessage per message; the
// trigger publishes 10 ScanRequested per call for 500+ accounts, and one
// request per 10 cuts the calls (and the SQS bill) tenfold. Messages are
// marshaled exactly as watermill-aws does (wsqs.DefaultMarshalerUnmarshaler),
// so its subscriber reads them unchanged.
type BatchPublisher struct {
	client  SQSBatchAPI
	queues  map[string]string // topic -> queue URL
	logger  *slog.Logger
	retries int
	backoff time.Duration

	unlistedOnce sync.Once
}

// NewBatchPublisher publishes topic t to queues[t].
func NewBatchPublisher(client SQSBatchAPI, queues map[string]string, logger *slog.Logger) *BatchPublisher {
	if logger == nil {
		logger = slog.Default()
	}
	return &BatchPublisher{client: client, queues: queues, logger: logger, retries: 3, backoff: 200 * time.Millisecond}
}

// Publish sends msgs in as few calls as the limits allow. The context is
// the first message's (message.Message.Context). Entries SQS failed on its
// side (not SenderFault) are retried a few times; what still fails is
// returned, naming each message, and the caller publishes again (consumers
// are idempotent, so the ones that did go through do no harm twice).
func (p *BatchPublisher) Publish(topic string, msgs ...*message.Message) error {
	url, ok := p.queues[topic]
	if !ok {
		return fmt.Errorf("publish %s: no queue configured", topic)
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx := msgs[0].Context()
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(msgs))
	sizes := make([]int, 0, len(msgs))
	for _, m := range msgs {
		sm, err := wsqs.DefaultMarshalerUnmarshaler{}.Marshal(m)
		if err != nil {
			return fmt.Errorf("publish %s: marshal %s: %w", topic, m.UUID, err)
		}
		e := types.SendMessageBatchRequestEntry{
			MessageBody:       sm.Body,
			MessageAttributes: sm.MessageAttributes,
		}
		size := entrySize(e)
		if size > MaxBatchBytes {
			return fmt.Errorf("publish %s: message %s is %d bytes with its attributes, over SQS's %d", topic, m.UUID, size, MaxBatchBytes)
		}
		entries = append(entries, e)
		sizes = append(sizes, size)
	}
	var errs []error
	for start := 0; start < len(entries); {
		end, total := start, 0
		for end < len(entries) && end-start < MaxBatchEntries && total+sizes[end] <= MaxBatchBytes {
			total += sizes[end]
			end++
		}
		if err := p.send(ctx, url, msgs[start:end], entries[start:end]); err != nil {
			errs = append(errs, err)
		}
		start = end
	}
	if len(errs) > 0 {
		return fmt.Errorf("publish %s: %w", topic, errors.Join(errs...))
	}
	return nil
}

func entrySize(e types.SendMessageBatchRequestEntry) int {
	n := len(aws.ToString(e.MessageBody))
	for k, v := range e.MessageAttributes {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

func (p *BatchPublisher) send(ctx context.Context, url string, msgs []*message.Message, entries []types.SendMessageBatchRequestEntry) error {
	// Entry ids are the index in this call: unique, and short of the
	// 80-character limit whatever the message UUIDs look like.
	pending := make(map[string]int, len(entries))
	for i := range entries {
		id := strconv.Itoa(i)
		entries[i].Id = aws.String(id)
		pending[id] = i
	}
	delay := p.backoff
	var permanent []error
	for attempt := 0; ; attempt++ {
		batch := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for i := range entries {
			if _, ok := pending[aws.ToString(entries[i].Id)]; ok {
				batch = append(batch, entries[i])
			}
		}
		out, err := p.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: batch})
		if err != nil {
			// The SDK's retryer has already retried what was retryable.
			return fmt.Errorf("send batch of %d to %s: %w", len(batch), url, err)
		}
		listed := len(out.Successful) + len(out.Failed)
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
		if listed == 0 && len(batch) > 0 {
			// AWS lists every entry as Successful or Failed. A 200 that
			// lists none is an emulator answering the JSON protocol with
			// query-protocol field names (goaws v0.5.4, see
			// docs/EMULATORS.md): the messages were queued.
			p.unlistedOnce.Do(func() {
				p.logger.Warn("SendMessageBatch response lists no entry; assuming all were sent (an emulator, not AWS; logged once)",
					slog.String("queue", url), slog.Int("entries", len(batch)))
			})
			return nil
		}
		retry := false
		for _, f := range out.Failed {
			i, known := pending[aws.ToString(f.Id)]
			if !known {
				continue
			}
			if f.SenderFault {
				// Invalid content or attributes: no retry will take it.
				permanent = append(permanent, fmt.Errorf("message %s: %s: %s", msgs[i].UUID, aws.ToString(f.Code), aws.ToString(f.Message)))
				delete(pending, aws.ToString(f.Id))
			} else {
				retry = true
			}
		}
		if !retry || attempt >= p.retries {
			for id, i := range pending {
				permanent = append(permanent, fmt.Errorf("message %s (entry %s): not sent after %d attempts", msgs[i].UUID, id, attempt+1))
			}
			return errors.Join(permanent...)
		}
		p.logger.Warn("sqs batch entries failed on the server side, retrying",
			slog.String("queue", url), slog.Int("failed", len(pending)), slog.Int("attempt", attempt+1))
		select {
		case <-ctx.Done():
			return fmt.Errorf("send batch to %s: %w", url, ctx.Err())
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// Close is a no-op (no per-publisher resources).
func (p *BatchPublisher) Close() error { return nil }

var _ message.Publisher = (*BatchPublisher)(nil)
