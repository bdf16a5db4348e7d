package aggregate

import (
	"errors"
	"sync"
	"testing"

	"github.com/cybsecops/configreport/internal/ident"
)

// TestCoalescer: callers that arrive while a promotion of their run is
// running wait for it, then one of them runs (it started after they
// arrived, so it sees their held results) and stands for the others,
// unless it fails; callers of another run, or that arrive after, run.
func TestCoalescer(t *testing.T) {
	errStore := errors.New("store down")
	cases := []struct {
		name      string
		waiters   int    // arrive while the first call runs
		fail      []bool // by call number (0: the first call): that call fails
		other     bool   // the waiters name another run
		wantCalls int    // fn calls in all
		wantErrs  int    // callers that got an error
	}{
		{name: "alone", waiters: 0, wantCalls: 1},
		{name: "one waiter runs after the first", waiters: 1, wantCalls: 2},
		{name: "three waiters, one runs for all", waiters: 3, wantCalls: 2},
		{name: "the first fails, one waiter still runs for all", waiters: 3, fail: []bool{true}, wantCalls: 2, wantErrs: 1},
		{name: "the waiter that ran failed, the others run", waiters: 3, fail: []bool{false, true, false}, wantCalls: 3, wantErrs: 1},
		{name: "another run does not wait, its callers coalesce", waiters: 2, other: true, wantCalls: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var (
				co      coalescer
				mu      sync.Mutex
				calls   int
				entered = make(chan struct{})
				release = make(chan struct{})
			)
			fn := func() error {
				mu.Lock()
				n := calls
				calls++
				mu.Unlock()
				if n == 0 {
					close(entered)
					<-release
				}
				if n < len(c.fail) && c.fail[n] {
					return errStore
				}
				return nil
			}
			errs := make(chan error, c.waiters+1)
			first := co.arrive("run-a")
			go func() { _, err := co.run(first, fn); errs <- err }()
			<-entered
			id := ident.RunID("run-a")
			if c.other {
				id = "run-b"
			}
			// Arrivals are taken here, in order, while the first call runs.
			tickets := make([]ticket, c.waiters)
			for i := range tickets {
				tickets[i] = co.arrive(id)
			}
			var wg sync.WaitGroup
			for _, tk := range tickets {
				wg.Go(func() { _, err := co.run(tk, fn); errs <- err })
			}
			if c.other {
				wg.Wait() // they need not wait for run-a's call
			}
			close(release)
			wg.Wait()
			gotErrs := 0
			for range c.waiters + 1 {
				if <-errs != nil {
					gotErrs++
				}
			}
			if calls != c.wantCalls || gotErrs != c.wantErrs {
				t.Errorf("fn called %d times, %d callers failed; want %d, %d", calls, gotErrs, c.wantCalls, c.wantErrs)
			}
			if len(co.runs) != 0 {
				t.Errorf("%d runs left in the coalescer, want none", len(co.runs))
			}
		})
	}
}
