package msg

import (
	"context"
	"log/slog"
	"strings"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Metadata this package sets on every message it receives from SQS, so that
// a message can still be settled after its subscription closed. The prefix
// marks them as the transport's own: PoisonCopy leaves them out, and an
// incoming message attribute of the same name is overwritten.
const (
	metaPrefix        = "_sqs_"
	metaQueueURL      = metaPrefix + "queue_url"
	metaReceiptHandle = metaPrefix + "receipt_handle"
)

// isTransportMeta tells whether a metadata key is the transport's own.
func isTransportMeta(key string) bool { return strings.HasPrefix(key, metaPrefix) }

// SettleTimeout bounds the one SQS call that settles a message after its
// subscription closed. The router's close timeout leaves a scan a quarter
// of itself (5 s by default) after FinishTimeout; this fits in it.
const SettleTimeout = 3 * time.Second

// receiptUnmarshaler records where a message came from (its queue and
// receipt handle) in its metadata.
type receiptUnmarshaler struct {
	inner    wsqs.Unmarshaler
	queueURL string
}

func (u receiptUnmarshaler) Unmarshal(m *sqstypes.Message) (*message.Message, error) {
	msg, err := u.inner.Unmarshal(m)
	if err != nil {
		return nil, err
	}
	msg.Metadata.Set(metaQueueURL, u.queueURL)
	msg.Metadata.Set(metaReceiptHandle, aws.ToString(m.ReceiptHandle))
	return msg, nil
}

// settler is the part of the SQS client Settle needs.
type settler interface {
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Settle is the outermost router middleware of a process consuming SQS. It
// acts only on a message whose subscription closed while it was handled
// (its context ended: the process is stopping), because the subscription
// then forgets it, ack or nack:
//   - handled (nil error: the result was published, or the message went to
//     the poison queue): delete it now, or another consumer would do the
//     work again once the visibility timeout passes;
//   - not handled (the scan in hand was abandoned, or its result could not
//     be published): make it visible again at once (visibility 0), so that
//     a running replica takes it now instead of after the visibility
//     timeout (15 minutes in production, which would hold the whole run).
//
// A message nacked while its subscription is open is left alone: its
// visibility timeout is the backoff before the redelivery, and the queue's
// maxReceiveCount bounds the attempts. A message without the transport's
// metadata (another bus) passes through. Errors here are logged, never
// returned: the outcome of the handler stands, and SQS's visibility timeout
// settles the message if this could not.
func (t *Transport) Settle() message.HandlerMiddleware {
	return settleMiddleware(t.sqsClient, t.logger)
}

func settleMiddleware(c settler, logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(m *message.Message) ([]*message.Message, error) {
			out, err := h(m)
			if m.Context().Err() == nil {
				return out, err
			}
			queue, handle := m.Metadata.Get(metaQueueURL), m.Metadata.Get(metaReceiptHandle)
			if queue == "" || handle == "" {
				return out, err
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(m.Context()), SettleTimeout)
			defer cancel()
			attrs := []any{slog.String("handler", message.HandlerNameFromCtx(m.Context())),
				slog.String("message_uuid", m.UUID), slog.String("queue", lastSegment(queue))}
			if err == nil {
				if _, derr := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: aws.String(handle)}); derr != nil {
					logger.Warn("message handled while stopping, but not deleted: it will be handled again after its visibility timeout",
						append(attrs, slog.Any("error", derr))...)
				} else {
					logger.Info("message handled while stopping, deleted", attrs...)
				}
				return out, err
			}
			if _, verr := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(queue), ReceiptHandle: aws.String(handle), VisibilityTimeout: 0,
			}); verr != nil {
				logger.Warn("message abandoned while stopping, not released: it returns after its visibility timeout",
					append(attrs, slog.Any("error", verr))...)
			} else {
				logger.Info("message abandoned while stopping, released to the queue", attrs...)
			}
			return out, err
		}
	}
}
