package local

import (
	"encoding/json"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/memqueue"
	"github.com/cybsecops/configreport/internal/msg"
)

// bus is local mode's stand-in for SQS and SNS: one in-memory queue per
// logical topic. The results topic is a queue too, because in the cluster
// the aggregator reads it through its SQS subscription queue, shared by its
// replicas; the scan queue dead-letters after maxReceives, like its
// redrive policy. It also tallies the results published, for progress.
type bus struct {
	q     *memqueue.PubSub
	tally *tally
}

const maxReceives = 5

func newBus() *bus {
	return &bus{q: memqueue.New(memqueue.Config{MaxReceives: maxReceives}), tally: &tally{seen: map[string]events.Status{}}}
}

func (b *bus) Publisher() message.Publisher   { return tapPublisher{b} }
func (b *bus) Subscriber() message.Subscriber { return b.q }
func (b *bus) Close() error                   { return b.q.Close() }

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
	var h struct {
		Type      events.Type   `json:"type"`
		RunID     string        `json:"run_id"`
		AccountID string        `json:"account_id"`
		Status    events.Status `json:"status"`
	}
	if json.Unmarshal(m.Payload, &h) != nil || h.Type != events.TypeAccountScanned {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	key := h.RunID + "/" + h.AccountID
	if _, dup := t.seen[key]; !dup {
		t.seen[key] = h.Status
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
