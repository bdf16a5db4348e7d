package local

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/msg"
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
	if topic == msg.TopicResults {
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
	h, ok := readResultHeader(m.Payload)
	if !ok || h.Type != events.TypeAccountScanned {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	key := h.RunID + "/" + h.AccountID
	if _, dup := t.seen[key]; !dup {
		t.seen[key] = h.Status
	}
}

type resultHeader struct {
	Type      events.Type
	RunID     string
	AccountID string
	Status    events.Status
}

// readResultHeader reads a results message's type, run, account and
// status, and nothing else: the aggregator decodes the whole body anyway,
// and decoding every result's rules and findings a second time, for a
// progress count, was a sizeable part of local mode's CPU. The events'
// encoding puts these four fields first, so the read stops within the
// first few hundred bytes; in any other order (a claim-check stub) it
// skips the other values whole. A body whose header cannot be read is not
// counted (the aggregator poisons it); one that is malformed further on is
// counted as published, which is what the tally says.
func readResultHeader(body []byte) (resultHeader, bool) {
	var h resultHeader
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return h, false
	}
	for found := 0; found < 4 && dec.More(); {
		tok, err := dec.Token()
		if err != nil {
			return h, false
		}
		var dst any
		switch tok {
		case "type":
			dst = &h.Type
		case "run_id":
			dst = &h.RunID
		case "account_id":
			dst = &h.AccountID
		case "status":
			dst = &h.Status
		default:
			dst = new(json.RawMessage)
			found-- // not one of the four
		}
		if err := dec.Decode(dst); err != nil {
			return h, false
		}
		found++
	}
	return h, true
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
