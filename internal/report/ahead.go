package report

import (
	"iter"
	"sync"
)

// prefetchBatch and prefetchDepth bound a read-ahead (pullAhead): 4
// batches of 512 findings, a few hundred kilobytes.
const (
	prefetchBatch = 512
	prefetchDepth = 4
	// readAhead bounds the items the sequence may have produced beyond
	// those next has returned: the rest of the batch being handed out,
	// the batches queued, and the one being filled.
	readAhead = (prefetchDepth + 2) * prefetchBatch
)

// pullAhead is iter.Pull2 with the sequence running in its own goroutine,
// up to prefetchDepth batches of prefetchBatch items ahead of next, so that
// producing the items (decoding results from the store, or parsing a
// baseline) runs beside their consumer (the render) on another core
// instead of adding to its wall time: iter.Pull2 runs the sequence as a
// coroutine, never at the same time as its caller. Items reach next in
// the sequence's order. The sequence ends at its first error: next
// returns it, then ok false. stop ends the sequence and waits for it (it
// returns once seq is back from its current yield, so nothing reads what
// the sequence reads after stop has returned); stop may be called more
// than once, and must be called.
func pullAhead[T any](seq iter.Seq2[T, error]) (next func() (T, error, bool), stop func()) {
	type item struct {
		v   T
		err error
	}
	batches := make(chan []item, prefetchDepth)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(batches)
		batch := make([]item, 0, prefetchBatch)
		send := func() bool {
			select {
			case batches <- batch:
				batch = make([]item, 0, prefetchBatch)
				return true
			case <-done:
				return false
			}
		}
		for v, err := range seq {
			batch = append(batch, item{v, err})
			if err != nil {
				break
			}
			if len(batch) == cap(batch) && !send() {
				return
			}
		}
		if len(batch) > 0 {
			send()
		}
	})
	var (
		cur    []item
		ended  bool
		once   sync.Once
		zero   T
		stopFn = func() {
			once.Do(func() {
				close(done)
				wg.Wait()
			})
		}
	)
	next = func() (T, error, bool) {
		for len(cur) == 0 {
			if ended {
				return zero, nil, false
			}
			b, ok := <-batches
			if !ok {
				ended = true
				return zero, nil, false
			}
			cur = b
		}
		it := cur[0]
		cur = cur[1:]
		if it.err != nil {
			ended, cur = true, nil
		}
		return it.v, it.err, true
	}
	return next, stopFn
}
