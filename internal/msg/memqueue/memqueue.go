// Package memqueue is an in-memory watermill Publisher/Subscriber with
// queue semantics, the local-mode stand-in for SQS: each message goes to
// exactly one of the topic's subscribers (competing consumers), a nacked
// or abandoned message is delivered again, and after MaxReceives
// deliveries it moves to a dead-letter topic, as SQS's redrive policy does.
//
// watermill's GoChannel is a topic (every subscriber gets every message):
// right for the results topic, wrong for the scan queue, where several
// consumers must share the work. memqueue is not durable: local mode's
// durability comes from its store, which a restarted run resumes from.
package memqueue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Config tunes redelivery.
type Config struct {
	// MaxReceives moves a message to DeadLetterSuffix's topic after this
	// many deliveries; 0 redelivers for ever.
	MaxReceives int
	// DeadLetterSuffix names the dead-letter topic (topic + suffix);
	// default "-dlq".
	DeadLetterSuffix string
	// RedeliveryDelay is how long a nacked message waits before it is
	// visible again (SQS's visibility timeout); default 100ms.
	RedeliveryDelay time.Duration
}

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("memqueue: closed")

type entry struct {
	uuid     string
	payload  []byte
	meta     message.Metadata
	receives int
}

type queue struct {
	items    []*entry
	ready    chan struct{} // closed and replaced whenever items grow
	inFlight int
}

// PubSub implements message.Publisher and message.Subscriber.
type PubSub struct {
	cfg     Config
	mu      sync.Mutex
	queues  map[string]*queue
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

// New returns an empty PubSub.
func New(cfg Config) *PubSub {
	if cfg.DeadLetterSuffix == "" {
		cfg.DeadLetterSuffix = "-dlq"
	}
	if cfg.RedeliveryDelay <= 0 {
		cfg.RedeliveryDelay = 100 * time.Millisecond
	}
	return &PubSub{cfg: cfg, queues: map[string]*queue{}, closing: make(chan struct{})}
}

func (p *PubSub) queueLocked(topic string) *queue {
	q := p.queues[topic]
	if q == nil {
		q = &queue{ready: make(chan struct{})}
		p.queues[topic] = q
	}
	return q
}

func (p *PubSub) pushLocked(topic string, e *entry) {
	q := p.queueLocked(topic)
	q.items = append(q.items, e)
	close(q.ready)
	q.ready = make(chan struct{})
}

// Publish enqueues copies of msgs: the caller may reuse them.
func (p *PubSub) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for _, m := range msgs {
		p.pushLocked(topic, &entry{uuid: m.UUID, payload: append([]byte(nil), m.Payload...), meta: copyMeta(m.Metadata)})
	}
	return nil
}

// Subscribe returns a channel on which this subscriber receives its share
// of topic's messages, one at a time: the next comes after the previous
// is acked or nacked. The channel closes when ctx ends or on Close.
func (p *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.queueLocked(topic)
	p.wg.Add(1)
	p.mu.Unlock()
	out := make(chan *message.Message)
	go func() {
		defer p.wg.Done()
		defer close(out)
		for {
			e, ok := p.take(ctx, topic)
			if !ok {
				return
			}
			if !p.deliver(ctx, topic, e, out) {
				return
			}
		}
	}()
	return out, nil
}

// take waits for the next message of topic.
func (p *PubSub) take(ctx context.Context, topic string) (*entry, bool) {
	for {
		p.mu.Lock()
		q := p.queues[topic]
		if len(q.items) > 0 {
			e := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.inFlight++
			p.mu.Unlock()
			return e, true
		}
		ready := q.ready
		p.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, false
		case <-p.closing:
			return nil, false
		}
	}
}

// deliver hands e to the subscriber and waits for its verdict; it reports
// whether the subscription goes on.
func (p *PubSub) deliver(ctx context.Context, topic string, e *entry, out chan<- *message.Message) bool {
	e.receives++
	msg := message.NewMessage(e.uuid, e.payload)
	msg.Metadata = copyMeta(e.meta)
	msgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg.SetContext(msgCtx)
	// stopped: the subscriber's context ended or the PubSub is closing;
	// the message goes back to its queue at once.
	stopped := func() bool {
		p.requeue(topic, e, 0)
		return false
	}
	select {
	case out <- msg:
	case <-ctx.Done():
		return stopped()
	case <-p.closing:
		return stopped()
	}
	select {
	case <-msg.Acked():
		p.mu.Lock()
		p.queues[topic].inFlight--
		p.mu.Unlock()
		return true
	case <-msg.Nacked():
		p.requeue(topic, e, p.cfg.RedeliveryDelay)
		return true
	case <-ctx.Done():
		return stopped()
	case <-p.closing:
		return stopped()
	}
}

// requeue returns an unacknowledged message to its queue (after delay), or
// to the dead-letter topic once it was received MaxReceives times.
func (p *PubSub) requeue(topic string, e *entry, delay time.Duration) {
	p.mu.Lock()
	p.queues[topic].inFlight--
	dead := p.cfg.MaxReceives > 0 && e.receives >= p.cfg.MaxReceives
	if dead || delay == 0 || p.closed {
		if dead {
			e.receives = 0
			topic += p.cfg.DeadLetterSuffix
		}
		p.pushLocked(topic, e)
		p.mu.Unlock()
		return
	}
	// Invisible while it waits, as on SQS, so it still counts in flight.
	p.queues[topic].inFlight++
	p.mu.Unlock()
	t := time.NewTimer(delay)
	go func() {
		select {
		case <-t.C:
		case <-p.closing:
			t.Stop()
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.queues[topic].inFlight--
		p.pushLocked(topic, e)
	}()
}

// Close stops every subscription; messages in flight return to their queue.
func (p *PubSub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func copyMeta(m message.Metadata) message.Metadata {
	c := make(message.Metadata, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Depth returns the messages waiting and those delivered but not yet
// acknowledged (SQS's ApproximateNumberOfMessages and ...NotVisible), as
// a test of a bus built on the queue reads them.
func (p *PubSub) Depth(topic string) (waiting, inFlight int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queueLocked(topic)
	return len(q.items), q.inFlight
}
