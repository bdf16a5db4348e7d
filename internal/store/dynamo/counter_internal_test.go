package dynamo

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
)

// fakeCounter is a run counter whose ADDs can be held (to make increments
// arrive during one) and failed.
type fakeCounter struct {
	mu    sync.Mutex
	total int64
	adds  []int64
	hold  chan struct{} // when set, the next ADD waits for it to close
	held  chan struct{} // closed when that ADD has started
	fail  map[int]error // by ADD index
}

func (f *fakeCounter) inc(_ context.Context, n int64) (map[string]types.AttributeValue, error) {
	f.mu.Lock()
	hold, held := f.hold, f.held
	f.hold = nil
	i := len(f.adds)
	f.adds = append(f.adds, n)
	err := f.fail[i]
	f.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total += n
	return map[string]types.AttributeValue{"results": num(f.total)}, nil
}

// joined waits until n increments of id are gathered behind the ADD in
// flight (no timing: it yields until they are).
func joined(c *counters, id ident.RunID, n int64) {
	for {
		c.mu.Lock()
		rc := c.runs[id]
		got := int64(0)
		if rc != nil && rc.open != nil {
			got = rc.open.n
		}
		c.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

func TestCountersCoalesce(t *testing.T) {
	errADD := errors.New("ADD failed")
	for _, tc := range []struct {
		name string
		// during: increments arriving while the first ADD is in flight
		// (0: the first goes alone).
		during   int
		fail     map[int]error
		cancel   bool // the waiters' ctx ends before the ADD returns
		wantAdds []int64
		// wantFirst, wantRest: the count each caller gets (-1: an error).
		wantFirst, wantRest int64
	}{
		{name: "lone increment goes at once", during: 0, wantAdds: []int64{1}, wantFirst: 1},
		{name: "arrivals during an ADD share the next one", during: 5, wantAdds: []int64{1, 5}, wantFirst: 1, wantRest: 6},
		{name: "a failed ADD fails its whole batch only", during: 3, fail: map[int]error{1: errADD}, wantAdds: []int64{1, 3}, wantFirst: 1, wantRest: -1},
		{name: "the first ADD failing leaves the next batch counted", during: 2, fail: map[int]error{0: errADD}, wantAdds: []int64{1, 2}, wantFirst: -1, wantRest: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c counters
			const id = ident.RunID("run-1")
			f := &fakeCounter{hold: make(chan struct{}), held: make(chan struct{}), fail: tc.fail}
			release := f.hold
			count := func(item map[string]types.AttributeValue, err error) int64 {
				if err != nil {
					return -1
				}
				n, _ := getN(item, "results")
				return n
			}
			first := make(chan int64, 1)
			go func() { first <- count(c.add(context.Background(), id, f.inc)) }()
			<-f.held
			rest := make(chan int64, tc.during)
			for range tc.during {
				go func() { rest <- count(c.add(context.Background(), id, f.inc)) }()
			}
			joined(&c, id, int64(tc.during))
			close(release)
			if got := <-first; got != tc.wantFirst {
				t.Errorf("first caller got %d, want %d", got, tc.wantFirst)
			}
			for range tc.during {
				if got := <-rest; got != tc.wantRest {
					t.Errorf("a caller of the second batch got %d, want %d", got, tc.wantRest)
				}
			}
			if !slices.Equal(f.adds, tc.wantAdds) {
				t.Errorf("ADDs %v, want %v", f.adds, tc.wantAdds)
			}
			if len(c.runs) != 0 {
				t.Errorf("%d runs left in the table after every ADD returned", len(c.runs))
			}
		})
	}
}

// A caller whose ctx ends while it waits for its batch's leader returns
// at once, and its increment (its marker is written) still goes with the
// batch. (The leader waits for the ADD in flight whatever its ctx: the
// batch counts on it.)
func TestCountersWaiterCancelled(t *testing.T) {
	var c counters
	const id = ident.RunID("run-1")
	f := &fakeCounter{hold: make(chan struct{}), held: make(chan struct{})}
	release := f.hold
	first := make(chan error, 1)
	go func() { _, err := c.add(context.Background(), id, f.inc); first <- err }()
	<-f.held
	leader := make(chan error, 1)
	go func() { _, err := c.add(context.Background(), id, f.inc); leader <- err }()
	joined(&c, id, 1)
	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() { _, err := c.add(ctx, id, f.inc); waiter <- err }()
	joined(&c, id, 2)
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 2}; !slices.Equal(f.adds, want) || f.total != 3 {
		t.Fatalf("ADDs %v (total %d), want %v (3)", f.adds, f.total, want)
	}
}

// Runs do not share batches.
func TestCountersPerRun(t *testing.T) {
	var c counters
	f := &fakeCounter{hold: make(chan struct{}), held: make(chan struct{})}
	release := f.hold
	first := make(chan error, 1)
	go func() { _, err := c.add(context.Background(), "run-a", f.inc); first <- err }()
	<-f.held
	// run-b's increment goes while run-a's ADD is held.
	if _, err := c.add(context.Background(), "run-b", f.inc); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 1}; !slices.Equal(f.adds, want) {
		t.Fatalf("ADDs %v, want %v", f.adds, want)
	}
}

// An ADD that panics fails its batch's other callers and lets the next
// batch go, instead of leaving them waiting for good.
func TestCountersPanicReleases(t *testing.T) {
	var c counters
	const id = ident.RunID("run-1")
	f := &fakeCounter{hold: make(chan struct{}), held: make(chan struct{})}
	release := f.hold
	panicking := func(ctx context.Context, n int64) (map[string]types.AttributeValue, error) {
		if _, err := f.inc(ctx, n); err != nil {
			return nil, err
		}
		panic("injected")
	}
	first := make(chan any, 1)
	go func() {
		defer func() { first <- recover() }()
		_, _ = c.add(context.Background(), id, panicking)
	}()
	<-f.held
	waiter := make(chan error, 1)
	go func() { _, err := c.add(context.Background(), id, f.inc); waiter <- err }()
	joined(&c, id, 1)
	close(release)
	if r := <-first; r == nil {
		t.Fatal("the panic did not reach the leader's caller")
	}
	if err := <-waiter; err != nil {
		t.Fatalf("the next batch: %v", err)
	}
	// A batch sharing the panicking ADD.
	f.hold, f.held = make(chan struct{}), make(chan struct{})
	release = f.hold
	go func() {
		defer func() { first <- recover() }()
		_, _ = c.add(context.Background(), id, f.inc)
	}()
	<-f.held
	lead := make(chan any, 1)
	go func() {
		defer func() { lead <- recover() }()
		_, _ = c.add(context.Background(), id, panicking)
	}()
	joined(&c, id, 1)
	shared := make(chan error, 1)
	go func() { _, err := c.add(context.Background(), id, f.inc); shared <- err }()
	joined(&c, id, 2)
	close(release)
	<-first
	if r := <-lead; r == nil {
		t.Fatal("the panic did not reach the second batch's leader")
	}
	if err := <-shared; err == nil {
		t.Fatal("a caller sharing a panicked ADD got no error")
	}
	if len(c.runs) != 0 {
		t.Errorf("%d runs left in the table", len(c.runs))
	}
}
