package awsconf

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// -concurrency bounds the Config, STS and Organizations calls of the whole
// process, whichever client sends them, and leaves queue calls alone.
func TestConcurrencyBoundsTheProcess(t *testing.T) {
	const limit, calls = 3, 24
	type gauge struct{ cur, max atomic.Int64 }
	var cfgG, sqsG gauge
	enter := func(g *gauge) {
		n := g.cur.Add(1)
		for {
			m := g.max.Load()
			if n <= m || g.max.CompareAndSwap(m, n) {
				break
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		g, body, ct := &cfgG, `{"ConfigRules":[]}`, "application/x-amz-json-1.1"
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
			g, body, ct = &sqsG, `{"QueueUrls":[]}`, "application/x-amz-json-1.0"
		}
		enter(g)
		time.Sleep(20 * time.Millisecond)
		g.cur.Add(-1)
		w.Header().Set("Content-Type", ct)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := load(t, srv.URL, Options{Concurrency: limit})
	var wg sync.WaitGroup
	for i := range calls {
		// Separate clients, as separate stages would build.
		cs, q := configservice.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
		wg.Go(func() {
			if _, err := cs.DescribeConfigRules(context.Background(), &configservice.DescribeConfigRulesInput{}); err != nil {
				t.Errorf("config call %d: %v", i, err)
			}
		})
		wg.Go(func() {
			if _, err := q.ListQueues(context.Background(), &sqs.ListQueuesInput{}); err != nil {
				t.Errorf("sqs call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := cfgG.max.Load(); got != limit {
		t.Errorf("Config calls in flight peaked at %d, want exactly the limit %d", got, limit)
	}
	if got := sqsG.max.Load(); got <= limit {
		t.Errorf("SQS calls in flight peaked at %d: queue calls must not be bounded by -concurrency", got)
	}
}

// A call waiting for a slot gives up with its context.
func TestConcurrencyWaitHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"ConfigRules":[]}`)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := load(t, srv.URL, Options{Concurrency: 1, MaxAttempts: 1})
	cs := configservice.NewFromConfig(cfg)
	go func() { _, _ = cs.DescribeConfigRules(context.Background(), &configservice.DescribeConfigRulesInput{}) }()
	time.Sleep(50 * time.Millisecond) // the first call holds the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := cs.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if err == nil || !strings.Contains(err.Error(), "slot") {
		t.Errorf("second call = %v, want it to give up waiting for a slot", err)
	}
}

// countingCreds counts Retrieve calls; with nested set, each Retrieve first
// makes a limited call of its own (an AssumeRole would), under the
// caller's slot.
type countingCreds struct {
	n      atomic.Int64
	nested func(context.Context) error
}

func (c *countingCreds) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.n.Add(1)
	if c.nested != nil {
		if err := c.nested(ctx); err != nil {
			return aws.Credentials{}, err
		}
	}
	return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "s", Source: "test"}, nil
}

// A call waiting for a slot has not fetched its credentials yet: a session
// near its end must not expire while the request waits behind others (it
// was refused with ExpiredToken when the wait came after signing). And a
// credential fetch that is itself a limited call runs under the caller's
// slot instead of waiting for a second one (with one slot, that would
// never come).
func TestCredentialsFetchedUnderTheSlot(t *testing.T) {
	release := make(chan struct{})
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if first.CompareAndSwap(false, true) {
			<-release // the first call holds the only slot until released
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"ConfigRules":[]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := load(t, srv.URL, Options{Concurrency: 1, MaxAttempts: 1})
	holder := configservice.NewFromConfig(cfg)
	done := make(chan error, 1)
	go func() {
		_, err := holder.DescribeConfigRules(context.Background(), &configservice.DescribeConfigRulesInput{})
		done <- err
	}()
	for !first.Load() {
		time.Sleep(5 * time.Millisecond)
	}

	nestedClient := configservice.NewFromConfig(cfg)
	creds := &countingCreds{nested: func(ctx context.Context) error {
		_, err := nestedClient.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
		return err
	}}
	waiter := configservice.NewFromConfig(cfg, func(o *configservice.Options) { o.Credentials = creds })
	waited := make(chan error, 1)
	go func() {
		_, err := waiter.DescribeConfigRules(context.Background(), &configservice.DescribeConfigRulesInput{})
		waited <- err
	}()
	time.Sleep(150 * time.Millisecond)
	if n := creds.n.Load(); n != 0 {
		t.Errorf("credentials fetched %d times while the call waited for a slot, want 0", n)
	}
	close(release)
	for _, ch := range []chan error{done, waited} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("call: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call never finished: the nested credential fetch deadlocked on the single slot")
		}
	}
	if n := creds.n.Load(); n != 1 {
		t.Errorf("credentials fetched %d times, want 1", n)
	}
}

// A freed slot goes to the waiter with the lowest priority, in arrival
// order among equals; a waiter that gives up leaves the queue, and one
// handed a slot as it gives up passes the slot on.
func TestInFlightLimitOrder(t *testing.T) {
	tests := []struct {
		name  string
		slots int
		prios []uint64 // waiters, in arrival order, once every slot is taken
		want  []int    // the order they are served in, by arrival index
	}{
		{"arrival order among equals", 1, []uint64{5, 5, 5}, []int{0, 1, 2}},
		{"lowest priority first", 1, []uint64{9, 3, 7, 1}, []int{3, 1, 2, 0}},
		{"no priority goes first", 2, []uint64{4, 0, 2, 0}, []int{1, 3, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newInFlightLimit(tt.slots)
			for range tt.slots {
				if err := l.acquire(context.Background(), 0); err != nil {
					t.Fatal(err)
				}
			}
			served := make(chan int, len(tt.prios))
			for i, p := range tt.prios {
				go func() {
					if err := l.acquire(context.Background(), p); err != nil {
						t.Error(err)
						return
					}
					served <- i
				}()
				waitQueued(t, l, i+1)
			}
			var got []int
			for range tt.prios {
				l.release()
				got = append(got, <-served)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("served %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInFlightLimitGiveUp(t *testing.T) {
	l := newInFlightLimit(1)
	if err := l.acquire(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- l.acquire(ctx, 1) }()
	waitQueued(t, l, 1)
	served := make(chan struct{})
	go func() {
		if err := l.acquire(context.Background(), 2); err != nil {
			t.Error(err)
		}
		close(served)
	}()
	waitQueued(t, l, 2)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled waiter got a slot")
	}
	l.release() // must reach the second waiter, not the one that left
	<-served
	l.release()
	if l.free != 1 || len(l.waiters) != 0 {
		t.Errorf("free %d, waiters %d after all released: want 1, 0", l.free, len(l.waiters))
	}

	// Handed a slot while giving up: the slot is passed on, not lost.
	l.mu.Lock()
	l.free = 0
	l.mu.Unlock()
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.acquire(ctx2, 1) }()
	waitQueued(t, l, 1)
	l.mu.Lock()
	handed := heap.Pop(&l.waiters).(*waiter) // as release does, without closing ready yet
	l.mu.Unlock()
	cancel2()
	if err := <-done; err == nil {
		t.Fatal("want the context's error")
	}
	close(handed.ready)
	if l.free != 1 {
		t.Errorf("free %d after a waiter handed a slot gave up: want 1 (passed on)", l.free)
	}
}

// waitQueued waits until n callers wait for a slot.
func waitQueued(t *testing.T, l *inFlightLimit, n int) {
	t.Helper()
	for range 10000 {
		l.mu.Lock()
		k := len(l.waiters)
		l.mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d waiters never queued", n)
}
