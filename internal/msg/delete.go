package msg

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// deleteAPI is the part of *sqs.Client a batchDeleter calls.
type deleteAPI interface {
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// maxDeleteEntries is SQS's limit on the entries of one DeleteMessageBatch.
const maxDeleteEntries = 10

// deleteCallTimeout bounds one DeleteMessageBatch call, the SDK's retries
// included. The SDK's HTTP client has no response timeout, and every
// handler of the queue waits for its own ack's delete before it takes the
// next message, while the calls go one after another: one call that never
// returns would stop the whole queue's consumption. Past it the messages
// are logged and come back after their visibility timeout, as for any
// failed delete.
const deleteCallTimeout = 30 * time.Second

// batchDeleter deletes the acked messages of one queue with
// DeleteMessageBatch: the acks of concurrent handlers share calls, up to 10
// a call, instead of one DeleteMessage each. There is no linger: a
// goroutine sends whatever acks wait right now, so an ack alone is deleted
// at once; while a call is in flight the next acks gather for the call
// after it. More than 10 waiting go out as several calls at the same time.
//
// On Close the acks already handed over are still deleted: Close sends
// what waits and returns when every call ended, within SettleTimeout
// (after which the calls in flight are cancelled and their messages come
// back after their visibility timeout, as any undeleted message).
type batchDeleter struct {
	client   deleteAPI
	queueURL string
	logger   *slog.Logger

	// ctx ends SettleTimeout after Close began; each call is also bounded
	// by callTimeout (deleteCallTimeout).
	ctx         context.Context
	cancel      context.CancelFunc
	callTimeout time.Duration

	mu      sync.Mutex
	pending []deleteReq
	started bool // the loop runs (from the queue's first subscription)
	closed  bool
	kick    chan struct{} // cap 1: pending grew, or closed
	done    chan struct{} // the loop returned
	once    sync.Once
}

// deleteReq is one acked message to delete.
type deleteReq struct {
	handle *string
	uuid   string        // for logs
	done   chan struct{} // closed once its delete was tried
}

func newBatchDeleter(client deleteAPI, queueURL string, logger *slog.Logger) *batchDeleter {
	ctx, cancel := context.WithCancel(context.Background())
	return &batchDeleter{
		client: client, queueURL: queueURL, logger: logger,
		ctx: ctx, cancel: cancel, callTimeout: deleteCallTimeout,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// start runs the loop; a process that only publishes (the trigger) never
// starts it.
func (d *batchDeleter) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	go d.run()
}

// delete queues the message's deletion; the channel is closed once it was
// tried (failures are logged here: the message comes back after its
// visibility timeout, and is handled again).
func (d *batchDeleter) delete(handle *string, uuid string) <-chan struct{} {
	r := deleteReq{handle: handle, uuid: uuid, done: make(chan struct{})}
	d.mu.Lock()
	if d.closed || !d.started {
		d.mu.Unlock()
		// Not reached from queueReceiver (it starts the deleter with its
		// first subscription, and its subscriptions end before the deleter
		// closes); logged rather than lost silently.
		d.logger.Warn("message acked while its queue's deleter is not running, not deleted: it will be handled again after its visibility timeout",
			slog.String("message_uuid", uuid))
		close(r.done)
		return r.done
	}
	d.pending = append(d.pending, r)
	d.mu.Unlock()
	d.wake()
	return r.done
}

func (d *batchDeleter) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Close deletes what waits and returns when every call ended (at most
// SettleTimeout later); safe to call more than once.
func (d *batchDeleter) Close() {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		started := d.started
		d.mu.Unlock()
		if !started {
			d.cancel()
			close(d.done)
			return
		}
		d.wake()
		stop := time.AfterFunc(SettleTimeout, d.cancel)
		<-d.done
		stop.Stop()
		d.cancel()
	})
	<-d.done
}

func (d *batchDeleter) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		batch, closed := d.pending, d.closed
		d.pending = nil
		d.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-d.kick
			continue
		}
		if len(batch) <= maxDeleteEntries {
			d.send(batch)
			continue
		}
		var wg sync.WaitGroup
		for start := 0; start < len(batch); start += maxDeleteEntries {
			chunk := batch[start:min(start+maxDeleteEntries, len(batch))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.send(chunk)
			}()
		}
		wg.Wait()
	}
}

// send deletes up to 10 messages in one call.
func (d *batchDeleter) send(reqs []deleteReq) {
	defer func() {
		for _, r := range reqs {
			close(r.done)
		}
	}()
	// Entry ids are the index in this call: distinct, as SQS requires.
	in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(d.queueURL), Entries: make([]sqstypes.DeleteMessageBatchRequestEntry, len(reqs))}
	for i, r := range reqs {
		in.Entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: r.handle}
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.callTimeout)
	defer cancel()
	out, err := d.client.DeleteMessageBatch(ctx, in)
	if err == nil && out == nil {
		err = errors.New("no response")
	}
	if err != nil {
		// The SDK's retryer has retried what was retryable.
		uuids := make([]string, len(reqs))
		for i, r := range reqs {
			uuids[i] = r.uuid
		}
		d.logger.Error("cannot delete handled messages: they will be handled again after their visibility timeout",
			slog.Any("message_uuids", uuids), slog.Any("error", err))
		return
	}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(reqs) {
			continue
		}
		if alreadyDeleted(aws.ToString(f.Message)) {
			continue
		}
		d.logger.Error("cannot delete a handled message: it will be handled again after its visibility timeout",
			slog.String("message_uuid", reqs[i].uuid), slog.String("code", aws.ToString(f.Code)),
			slog.String("error", aws.ToString(f.Message)), slog.Bool("sender_fault", f.SenderFault))
	}
}

// alreadyDeleted tells a failed entry whose message is no longer in the
// queue (deleted by an earlier ack, or by Settle while stopping): nothing
// is lost. AWS answers success for such a handle; goaws v0.5.4 fails the
// entry with "Message not found" (DeleteMessage: the longer sentence).
func alreadyDeleted(message string) bool {
	return message == "Message not found" || message == "The specified queue does not contain the message specified."
}
