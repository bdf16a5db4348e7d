package dynamo

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
)

// counters coalesces the increments of a run's result counter made at the
// same time in this process (group commit): while one UpdateItem of a run's
// counter is in flight, the increments that arrive wait for it and then go
// as one ADD of their number, and each of their callers gets the run item
// that write returned. A lone increment goes at once, so nothing waits for
// a batch to fill; under the aggregator's concurrent consumers (results
// received ten at a time) a result costs its two conditional puts and a
// share of one update instead of a whole one, and the update was a third
// of the store's client CPU per result.
//
// It changes nothing the counter's readers rely on: every marker of a
// batch is written before its ADD, so the counter is never ahead of the
// markers by a batch (only by an SDK retry, as before), and a failed ADD
// fails every caller of the batch: each nacks, and its redelivery finds its
// marker, so, as after a crash between a marker and its increment, the
// counter stays short until a recount (see doc.go). The run item a caller
// gets counts its own result and its batch's, so Results >= its own
// position, which is what the completion check needs.
type counters struct {
	mu   sync.Mutex
	runs map[ident.RunID]*runCounter
}

// runCounter is one run's state: busy while a batch's ADD is in flight,
// open the batch gathering the increments that arrive meanwhile.
type runCounter struct {
	busy bool
	open *countBatch
}

// countBatch is the increments that go in one ADD.
type countBatch struct {
	n     int64
	ready chan struct{} // closed when the batch may go (the previous ADD is done)
	done  chan struct{} // closed when item and err are set
	item  map[string]types.AttributeValue
	err   error
}

// add adds one to id's counter through inc (one ADD of n, returning the
// run item as it left it), sharing the ADD with the increments of id that
// arrive while one is in flight. The first caller of a batch makes its
// ADD, with its own ctx, after the ADD in flight returns; the others wait
// for it (or for their ctx: their increment still goes with the batch).
func (c *counters) add(ctx context.Context, id ident.RunID, inc func(ctx context.Context, n int64) (map[string]types.AttributeValue, error)) (map[string]types.AttributeValue, error) {
	c.mu.Lock()
	if c.runs == nil {
		c.runs = map[ident.RunID]*runCounter{}
	}
	rc := c.runs[id]
	if rc == nil {
		rc = &runCounter{}
		c.runs[id] = rc
	}
	b, lead := rc.open, false
	if b == nil {
		b, lead = &countBatch{ready: make(chan struct{}), done: make(chan struct{})}, true
		rc.open = b
		if !rc.busy {
			rc.busy = true
			close(b.ready)
		}
	}
	b.n++
	c.mu.Unlock()

	if !lead {
		select {
		case <-b.done:
			return b.item, b.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// The leader does not give up on its ctx while it waits: the batch's
	// other callers count on its ADD (which its ctx bounds).
	<-b.ready
	c.mu.Lock()
	rc.open = nil // later increments gather in the next batch
	n := b.n
	c.mu.Unlock()
	// Deferred, so that even a panic in inc (which goes on up to the
	// router's recoverer) fails the batch's other callers and lets the
	// next batch go, rather than leaving them waiting for good.
	finished := false
	defer func() {
		if !finished {
			b.item, b.err = nil, errors.New("count: the shared increment panicked")
		}
		close(b.done)
		c.mu.Lock()
		if rc.open != nil {
			close(rc.open.ready) // the next batch's leader goes
		} else {
			rc.busy = false
			delete(c.runs, id)
		}
		c.mu.Unlock()
	}()
	b.item, b.err = inc(ctx, n)
	finished = true
	return b.item, b.err
}
