package aggregate

import (
	"context"
	"sync"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// promote promotes the held results of st's run (promoteHeld). Promotions
// of one run take turns in this replica, and one that started after the
// caller arrived and succeeded stands for the caller's, which returns 0
// then (coalescer).
func (a *Aggregator) promote(ctx context.Context, st store.RunState) (int, error) {
	var n int
	_, err := a.promotes.run(a.promotes.arrive(st.RunID), func() error {
		var err error
		n, err = a.promoteHeld(ctx, st)
		return err
	})
	return n, err
}

// coalescer runs one function per run at a time and lets a caller skip
// its own call when a call that started after it arrived has succeeded:
// that call saw everything the caller wrote before arriving. Promotion
// reads every held result of the run, so callers that overlap (each
// result held before its RunStarted, under 16 consumers) would otherwise
// each record the same held results again: the aggregator's profile of
// a load run put two thirds of its handler time there.
type coalescer struct {
	mu   sync.Mutex
	runs map[ident.RunID]*coalesced
}

type coalesced struct {
	run sync.Mutex // held while the function runs
	// Guarded by coalescer.mu:
	users   int // callers between arrive and done
	started int // calls started so far
	okStart int // start number of the latest successful call
}

// ticket is a caller's arrival: the calls of its run started before it.
type ticket struct {
	id    ident.RunID
	c     *coalesced
	after int
}

func (c *coalescer) arrive(id ident.RunID) ticket {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[ident.RunID]*coalesced{}
	}
	r := c.runs[id]
	if r == nil {
		r = &coalesced{}
		c.runs[id] = r
	}
	r.users++
	return ticket{id: id, c: r, after: r.started}
}

// run calls fn unless a call of t's run that started after t's arrival
// has succeeded meanwhile; it reports whether fn was called.
func (c *coalescer) run(t ticket, fn func() error) (bool, error) {
	defer c.done(t)
	t.c.run.Lock()
	defer t.c.run.Unlock()
	c.mu.Lock()
	if t.c.okStart > t.after {
		c.mu.Unlock()
		return false, nil
	}
	t.c.started++
	n := t.c.started
	c.mu.Unlock()
	if err := fn(); err != nil {
		return true, err
	}
	c.mu.Lock()
	t.c.okStart = n
	c.mu.Unlock()
	return true, nil
}

func (c *coalescer) done(t ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.c.users--; t.c.users == 0 {
		delete(c.runs, t.id)
	}
}
