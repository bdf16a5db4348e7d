package local

import (
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/msg/memqueue"
)

// bus is local mode's stand-in for SQS and SNS: one in-memory queue per
// logical topic. The results topic is a queue too, because in the cluster
// the aggregator reads it through its SQS subscription queue, shared by its
// replicas; the scan queue dead-letters after maxReceives, like its
// redrive policy. It also tallies the results published, for progress.
type bus struct {
	q     *memqueue.PubSub
	tally *tally
	// watch, when set, wraps every handler of both services (see Settle).
	watch message.HandlerMiddleware
}

const maxReceives = 5

func newBus() *bus {
	return &bus{q: memqueue.New(memqueue.Config{MaxReceives: maxReceives}), tally: &tally{seen: map[string]events.Status{}}}
}

func (b *bus) Publisher() message.Publisher   { return tapPublisher{b} }
func (b *bus) Subscriber() message.Subscriber { return b.q }
func (b *bus) Close() error                   { return b.q.Close() }

// Settle is the hook app's routers take from a bus to wrap every handler
// outermost (msg.RouterConfig.Settle). In-memory queues need no settling;
// local mode uses it to watch handler errors (diskGuard.middleware).
func (b *bus) Settle() message.HandlerMiddleware {
	if b.watch == nil {
		return func(h message.HandlerFunc) message.HandlerFunc { return h }
	}
	return b.watch
}

type tapPublisher struct{ b *bus }

func (t tapPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := t.b.q.Publish(topic, msgs...); err != nil {
		return err
	}
	if topic == events.TopicResults {
		for _, m := range msgs {
			t.b.tally.observe(m)
		}
	}
	return nil
}

func (t tapPublisher) Close() error { return nil }

// tally counts the distinct accounts with a published result, by status.
type tally struct {
	mu   sync.Mutex
	seen map[string]events.Status // run/account -> status ("" behind a claim check)
}

func (t *tally) observe(m *message.Message) {
	// Only the leading fields: the aggregator decodes the whole body
	// anyway, and decoding every result's rules and findings a second
	// time, for a progress count, was a sizeable part of local mode's
	// CPU. A body whose header cannot be read is not counted (the
	// aggregator poisons it); one that is malformed further on is counted
	// as published, which is what the tally says.
	h, err := events.Peek(m.Payload, events.PeekType, events.PeekRunID, events.PeekAccountID, events.PeekStatus)
	if err != nil || h.Type == nil || *h.Type != events.TypeAccountScanned || h.RunID == nil || h.AccountID == nil {
		return
	}
	var status events.Status // "" behind a claim check
	if h.Status != nil {
		status = *h.Status
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	key := *h.RunID + "/" + *h.AccountID
	if _, dup := t.seen[key]; !dup {
		t.seen[key] = status
	}
}

// counts returns, for run, the accounts with a result and those failed.
func (t *tally) counts(run string) (done, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prefix := run + "/"
	for k, s := range t.seen {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			done++
			if s == events.StatusFailed {
				failed++
			}
		}
	}
	return done, failed
}
