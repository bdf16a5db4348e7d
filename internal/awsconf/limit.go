package awsconf

import (
	"container/heap"
	"context"
	"fmt"
	"sync"

	"github.com/aws/smithy-go/middleware"
)

// limitedServices are the APIs the job reads from the organisation: the
// calls -concurrency bounds. Queue, topic, object store and table calls are
// not counted: they are bounded by the consumers, and a long poll may hold
// a connection for 20 s without loading anyone.
var limitedServices = map[string]bool{
	"Config Service": true,
	"STS":            true,
	"Organizations":  true,
	"EC2":            true,
}

// inFlightLimit bounds, across every client built from one Load, the
// attempts of limited services on the wire at once. It is what makes
// -concurrency a bound of the process, not of one stage: in local mode the
// trigger's OU walk and the scanner's workers share it.
//
// It sits in the Finalize step right after the retry loop, so a call
// waiting out a backoff holds no slot, and before the identity is resolved
// and the request signed, so a request never waits for a slot with
// credentials in hand that may expire meanwhile (a scan's session can be
// minutes from its end; a request queued behind others after signing was
// refused with ExpiredToken). Fetching credentials may itself be an AWS
// call (AssumeRole through the STS client, also limited): it runs under
// the caller's slot, marked in the context, since the caller is not on the
// wire until its credentials are in; taking a second slot there could
// deadlock with every slot held by callers waiting for their credentials.
// The slot is released when the response has been read (the Deserialize
// step has returned).
//
// A free slot goes to the waiter with the lowest priority value
// (WithCallPriority), in arrival order among equals. A scanner holding many
// accounts while their calls are paced gives each account its start order:
// the oldest account's next call goes first, so accounts finish in about
// the time their own pacing allows and the younger ones fill the slots
// while the older ones wait, instead of all of them sharing the slots
// evenly and finishing together, late. Calls without a priority (the OU
// walk in local mode) go before every account's.
type inFlightLimit struct {
	mu      sync.Mutex
	free    int
	arrived uint64
	waiters waitHeap
}

// slotHeld marks a context whose call already holds a slot.
type slotHeld struct{}

// callPriority is the context key of WithCallPriority.
type callPriority struct{}

// WithCallPriority orders the calls made under ctx among those waiting for
// one of the process's call slots: lower first. The scanner gives each
// account its start order; calls without one have priority 0.
func WithCallPriority(ctx context.Context, p uint64) context.Context {
	return context.WithValue(ctx, callPriority{}, p)
}

// CallPriority is the priority WithCallPriority gave ctx, 0 when none.
func CallPriority(ctx context.Context) uint64 {
	p, _ := ctx.Value(callPriority{}).(uint64)
	return p
}

func newInFlightLimit(n int) *inFlightLimit {
	return &inFlightLimit{free: n}
}

func (l *inFlightLimit) ID() string { return "configreport.InFlightLimit" }

func (l *inFlightLimit) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if !limitedServices[middleware.GetServiceID(ctx)] || ctx.Value(slotHeld{}) != nil {
		return next.HandleFinalize(ctx, in)
	}
	if err := l.acquire(ctx, CallPriority(ctx)); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("wait for an AWS call slot: %w", err)
	}
	defer l.release()
	markOnWire(ctx)
	return next.HandleFinalize(context.WithValue(ctx, slotHeld{}, true), in)
}

// acquire takes a slot: at once when one is free and nobody waits, else
// when release hands it over, lowest priority first.
func (l *inFlightLimit) acquire(ctx context.Context, prio uint64) error {
	l.mu.Lock()
	if l.free > 0 && len(l.waiters) == 0 {
		l.free--
		l.mu.Unlock()
		return nil
	}
	w := &waiter{prio: prio, arrived: l.arrived, ready: make(chan struct{})}
	l.arrived++
	heap.Push(&l.waiters, w)
	l.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		if w.index < 0 { // handed a slot meanwhile: pass it on
			l.mu.Unlock()
			l.release()
		} else {
			heap.Remove(&l.waiters, w.index)
			l.mu.Unlock()
		}
		return ctx.Err()
	}
}

// release hands the slot to the first waiter, or frees it.
func (l *inFlightLimit) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) == 0 {
		l.free++
		return
	}
	w := heap.Pop(&l.waiters).(*waiter)
	close(w.ready)
}

// waiter is a call waiting for a slot; index is its place in the heap, -1
// once it has been handed one.
type waiter struct {
	prio    uint64
	arrived uint64
	index   int
	ready   chan struct{}
}

// waitHeap orders waiters by priority, then arrival (container/heap).
type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio < h[j].prio
	}
	return h[i].arrived < h[j].arrived
}
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// addTo installs the limit on a client's stack: after the retry loop when
// the client has one, else at the end of Finalize.
func (l *inFlightLimit) addTo(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get("Retry"); ok {
		return stack.Finalize.Insert(l, "Retry", middleware.After)
	}
	return stack.Finalize.Add(l, middleware.After)
}
