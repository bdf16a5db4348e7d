package local

import (
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
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
	gate  gate
	// watch, when set, wraps every handler of both services (see Settle).
	watch message.HandlerMiddleware
}

const maxReceives = 5

// gateBudget bounds the result bodies a gate keeps back (see gate).
const gateBudget = 64 << 20

func newBus() *bus {
	return &bus{q: memqueue.New(memqueue.Config{MaxReceives: maxReceives}), tally: &tally{seen: map[string]events.Status{}},
		gate: gate{budget: gateBudget}}
}

// gate keeps back the results of the run being opened until the
// aggregator has recorded its RunStarted. The scan starts while the walk
// goes on, and a result that reaches the aggregator before its RunStarted
// is held (written to the store, read back, written again and deleted
// when the RunStarted comes): a quarter of a 1,000-account run's results
// were, at 20 ms per call, and the hold was 6% of local mode's CPU. Kept
// here they cost nothing; they are lost with the process, as any message
// of this in-memory bus is (a resumed run scans again the accounts without
// a recorded result). Past budget bytes of bodies, what it keeps and what
// comes after go on to the aggregator, which holds them as before.
type gate struct {
	mu     sync.Mutex
	run    string // "" : none kept back
	kept   []*message.Message
	bytes  int
	budget int
}

// Gate keeps back the results of run from now on, until Release.
func (b *bus) Gate(run ident.RunID) {
	b.gate.mu.Lock()
	defer b.gate.mu.Unlock()
	b.gate.run = string(run)
}

// Release publishes the results kept back for run, in their order, and
// lets its next ones through.
func (b *bus) Release(run ident.RunID) error {
	b.gate.mu.Lock()
	defer b.gate.mu.Unlock()
	if b.gate.run != string(run) {
		return nil
	}
	return b.openLocked()
}

func (b *bus) openLocked() error {
	kept := b.gate.kept
	b.gate.run, b.gate.kept, b.gate.bytes = "", nil, 0
	if len(kept) == 0 {
		return nil
	}
	return b.q.Publish(events.TopicResults, kept...)
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
	if topic != events.TopicResults {
		return t.b.q.Publish(topic, msgs...)
	}
	pass := msgs
	g := &t.b.gate
	g.mu.Lock()
	if g.run != "" {
		pass = nil
		for _, m := range msgs {
			if run, ok := resultOf(m); ok && run == g.run {
				g.kept = append(g.kept, m.Copy()) // the caller may reuse m
				g.bytes += len(m.Payload)
				continue
			}
			pass = append(pass, m)
		}
		if g.bytes > g.budget {
			if err := t.b.openLocked(); err != nil {
				g.mu.Unlock()
				return err
			}
		}
	}
	g.mu.Unlock()
	if len(pass) > 0 {
		if err := t.b.q.Publish(topic, pass...); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		t.b.tally.observe(m)
	}
	return nil
}

// resultOf returns the run of an AccountScanned message; ok false for any
// other (a RunStarted, a body that cannot be read).
func resultOf(m *message.Message) (string, bool) {
	h, err := events.Peek(m.Payload, events.PeekType, events.PeekRunID)
	if err != nil || h.Type == nil || *h.Type != events.TypeAccountScanned || h.RunID == nil {
		return "", false
	}
	return *h.RunID, true
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
