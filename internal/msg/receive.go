package msg

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
)

// receiverAPI is the part of *sqs.Client a queueReceiver calls.
type receiverAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	deleteAPI
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// receiverConfig configures a queueReceiver.
type receiverConfig struct {
	QueueURL string
	// Wait is the long-poll wait of a receive; Visibility, when > 0, the
	// visibility timeout asked on each.
	Wait, Visibility time.Duration
	// Prefetch is how many messages a receive may take beyond the
	// subscriptions waiting for one, kept for the next ones to free up
	// (0..9). They are received, so invisible to other consumers, until
	// handed over; KEDA's SQS scaler counts them (in flight) all the same.
	Prefetch int
	// RetrySleep is the pause after a failed receive.
	RetrySleep  time.Duration
	Unmarshaler wsqs.Unmarshaler
	Logger      *slog.Logger
}

// queueReceiver is a watermill Subscriber of one SQS queue whose
// subscriptions share one receive loop. A watermill-aws subscription polls
// on its own (a ReceiveMessage per message, one long-poll loop per router
// handler: 16 to 140 per scanner); here one loop asks for as many messages
// as there are subscriptions waiting for one (plus Prefetch), up to SQS's 10
// a call, and polls not at all while every subscription has a message in
// hand.
//
// Each subscription behaves as a watermill-aws one: it hands over one
// message at a time and waits for its ack or nack; an ack deletes the
// message (after its handler published the result: a crash before that
// leaves it to come back after its visibility timeout), a nack leaves it
// invisible until its visibility timeout (the redelivery backoff; the
// queue's maxReceiveCount bounds the attempts). The deletes of concurrent
// acks share DeleteMessageBatch calls (batchDeleter), and a subscription
// takes its next message once its ack's delete was tried. Messages carry
// the transport's metadata (queue URL, receipt handle), so Settle works on
// them as on watermill-aws's. On Close (or when the subscription's context
// ends) the message contexts end and an ack or nack after that is left to
// Settle; acks already handed over are deleted before Close returns;
// messages received but not yet handed over are made visible again at
// once.
type queueReceiver struct {
	cfg     receiverConfig
	client  receiverAPI
	logger  *slog.Logger
	deleter *batchDeleter

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	idle    int  // subscriptions waiting for a message
	started bool // the receive loop runs
	closed  bool
	wake    chan struct{}         // cap 1: idle went up
	deliver chan sqstypes.Message // to a waiting subscription
}

func newQueueReceiver(client receiverAPI, cfg receiverConfig) *queueReceiver {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Prefetch = min(max(cfg.Prefetch, 0), maxReceive-1)
	ctx, cancel := context.WithCancel(context.Background())
	logger := cfg.Logger.With(slog.String("queue", lastSegment(cfg.QueueURL)))
	return &queueReceiver{
		cfg:     cfg,
		client:  client,
		logger:  logger,
		deleter: newBatchDeleter(client, cfg.QueueURL, logger),
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		deliver: make(chan sqstypes.Message),
	}
}

// maxReceive is SQS's MaxNumberOfMessages limit.
const maxReceive = 10

// Subscribe starts a subscription (topic is the caller's: the queue is
// fixed). The receive loop starts with the first.
func (q *queueReceiver) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, errors.New("subscriber closed")
	}
	if !q.started {
		q.started = true
		q.deleter.start()
		q.wg.Add(1)
		go q.receiveLoop()
	}
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(q.ctx, cancel)
	out := make(chan *message.Message)
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer close(out)
		defer stop()
		defer cancel()
		q.subscription(sctx, out)
	}()
	return out, nil
}

// Close ends every subscription and the receive loop, waits for them, then
// deletes the acks they handed over (within SettleTimeout).
func (q *queueReceiver) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
	q.deleter.Close()
	return nil
}

// subscription hands messages to out one at a time until ctx ends.
func (q *queueReceiver) subscription(ctx context.Context, out chan<- *message.Message) {
	for {
		q.mu.Lock()
		q.idle++
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
		var sm sqstypes.Message
		select {
		case sm = <-q.deliver: // the receive loop counted us out of idle
		case <-ctx.Done():
			q.mu.Lock()
			q.idle--
			q.mu.Unlock()
			return
		}
		if !q.handOver(ctx, sm, out) {
			return
		}
	}
}

// handOver gives one message to the handler and settles it as the handler
// says; false when ctx ended.
func (q *queueReceiver) handOver(ctx context.Context, sm sqstypes.Message, out chan<- *message.Message) bool {
	m, err := q.cfg.Unmarshaler.Unmarshal(&sm)
	if err != nil {
		// As watermill-aws: the message comes back after its visibility
		// timeout, and the redrive policy ends in the DLQ.
		q.logger.Error("cannot unmarshal an SQS message; left for redelivery",
			slog.String("message_id", aws.ToString(sm.MessageId)), slog.Any("error", err))
		return true
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.SetContext(mctx)
	select {
	case out <- m:
	case <-ctx.Done():
		q.release([]sqstypes.Message{sm})
		return false
	}
	select {
	case <-m.Acked():
		select {
		case <-q.deleter.delete(sm.ReceiptHandle, m.UUID):
		case <-ctx.Done():
			return false // Close waits for the delete
		}
	case <-m.Nacked():
		// Invisible until its visibility timeout: the redelivery backoff.
	case <-ctx.Done():
		// Stopping: the ack or nack still to come is Settle's.
		return false
	}
	return true
}

// receiveLoop receives for the waiting subscriptions and hands the
// messages over, until Close.
func (q *queueReceiver) receiveLoop() {
	defer q.wg.Done()
	var ready []sqstypes.Message
	defer func() { q.release(ready) }()
	for {
		q.mu.Lock()
		idle := q.idle
		q.mu.Unlock()
		switch {
		case idle > 0 && len(ready) > 0:
			select {
			case q.deliver <- ready[0]:
				ready = ready[1:]
				q.mu.Lock()
				q.idle--
				q.mu.Unlock()
			case <-q.ctx.Done():
				return
			}
		case idle == 0:
			select {
			case <-q.wake:
			case <-q.ctx.Done():
				return
			}
		default:
			if q.ctx.Err() != nil {
				return // closed: no new long poll
			}
			msgs, err := q.receive(min(idle+q.cfg.Prefetch, maxReceive))
			if err != nil {
				if q.ctx.Err() != nil {
					return
				}
				q.logger.Error("cannot receive messages", slog.Any("error", err))
				select {
				case <-time.After(q.cfg.RetrySleep):
				case <-q.ctx.Done():
					return
				}
				continue
			}
			ready = append(ready, msgs...)
		}
	}
}

func (q *queueReceiver) receive(n int) ([]sqstypes.Message, error) {
	in := &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(q.cfg.QueueURL),
		MessageAttributeNames: []string{"All"},
		WaitTimeSeconds:       int32(q.cfg.Wait / time.Second),
		MaxNumberOfMessages:   int32(n),
	}
	if q.cfg.Visibility > 0 {
		in.VisibilityTimeout = int32((q.cfg.Visibility + time.Second - 1) / time.Second)
	}
	// Not ended by Close: a receive cancelled while the queue hands it
	// messages loses them until their visibility timeout (the queue counts
	// them received; the answer goes nowhere), which at a scale-down held
	// a run's last account for the whole timeout. Close waits for the
	// long poll instead (at most Wait) and releases what it brings.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(q.ctx), q.cfg.Wait+receiveMargin)
	defer cancel()
	out, err := q.client.ReceiveMessage(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// receiveMargin bounds a receive beyond its long-poll wait (a queue that
// does not answer).
const receiveMargin = 10 * time.Second

// release makes messages received but not handled visible again at once,
// so another consumer takes them now rather than after the visibility
// timeout. A failure is logged: the timeout releases them anyway.
func (q *queueReceiver) release(msgs []sqstypes.Message) {
	for _, sm := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), SettleTimeout)
		_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(q.cfg.QueueURL), ReceiptHandle: sm.ReceiptHandle, VisibilityTimeout: 0,
		})
		cancel()
		if err != nil {
			q.logger.Warn("message received but not handed over, not released: it returns after its visibility timeout",
				slog.String("message_id", aws.ToString(sm.MessageId)), slog.Any("error", err))
		}
	}
}

var _ message.Subscriber = (*queueReceiver)(nil)
