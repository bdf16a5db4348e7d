package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/store"
)

func testClaimLifecycle(t *testing.T, s store.Store) {
	const id = "run-claim"
	recordRun(t, s, NewRun(id, 2), true)
	ttl := 5 * time.Minute

	c := claim(t, s, id, "a", T0, ttl, nil)
	if c.RunID != id || c.Owner != "a" || !c.Until.Equal(T0.Add(ttl)) || !c.GeneratedAt.Equal(T0) {
		t.Fatalf("first claim = %+v, want owner a until T0+5m, GeneratedAt T0", c)
	}
	// Another owner while the lease is live.
	claim(t, s, id, "b", T0.Add(time.Minute), ttl, store.ErrClaimed)
	claim(t, s, id, "b", T0.Add(ttl), ttl, store.ErrClaimed) // expiry is exclusive: live until Until
	// Renewal by the holder extends the lease, GeneratedAt stays.
	t1 := T0.Add(2 * time.Minute)
	c = claim(t, s, id, "a", t1, ttl, nil)
	if !c.Until.Equal(t1.Add(ttl)) || !c.GeneratedAt.Equal(T0) {
		t.Fatalf("renewal = %+v, want until t1+5m, GeneratedAt T0", c)
	}
	st := runState(t, s, id)
	if st.ClaimOwner != "a" || !st.ClaimUntil.Equal(t1.Add(ttl)) || !st.GeneratedAt.Equal(T0) {
		t.Fatalf("state after renewal = owner %q until %s generated %s", st.ClaimOwner, st.ClaimUntil, st.GeneratedAt)
	}
	// Takeover once the lease expired: GeneratedAt is still the first claim's.
	t2 := t1.Add(ttl + time.Nanosecond)
	c = claim(t, s, id, "b", t2, ttl, nil)
	if c.Owner != "b" || !c.Until.Equal(t2.Add(ttl)) || !c.GeneratedAt.Equal(T0) {
		t.Fatalf("takeover = %+v, want owner b until t2+5m, GeneratedAt T0", c)
	}
	// The previous holder lost it: no renewal, no emission.
	claim(t, s, id, "a", t2.Add(time.Second), ttl, store.ErrClaimed)
	markEmitted(t, s, id, "a", "reports/a.xlsx", t2.Add(time.Second), store.ErrLeaseLost)
	// The new holder emits; afterwards nobody can claim.
	markEmitted(t, s, id, "b", "reports/b.xlsx", t2.Add(time.Minute), nil)
	claim(t, s, id, "b", t2.Add(2*time.Minute), ttl, store.ErrEmitted)
	claim(t, s, id, "c", t2.Add(time.Hour), ttl, store.ErrEmitted)
	st = runState(t, s, id)
	if !st.Emitted || st.ReportKey != "reports/b.xlsx" || !st.EmittedAt.Equal(t2.Add(time.Minute)) || !st.GeneratedAt.Equal(T0) {
		t.Fatalf("emitted state = %+v", st)
	}
}

func testClaimSingleWinner(t *testing.T, s store.Store) {
	const id = "run-race"
	recordRun(t, s, NewRun(id, 1), true)
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		errs    []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("replica-%d", i)
			<-start
			_, err := s.Claim(ctxOf(t), id, owner, T0, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, owner)
			case errors.Is(err, store.ErrClaimed):
			default:
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("claimers failed: %v", errors.Join(errs...))
	}
	if len(winners) != 1 {
		t.Fatalf("%d claimers won the lease (%v), want exactly 1", len(winners), winners)
	}
	if st := runState(t, s, id); st.ClaimOwner != winners[0] {
		t.Fatalf("stored owner %q, winner %q", st.ClaimOwner, winners[0])
	}
	// Same race on emission after an expired lease: one takeover wins.
	winners = nil
	start = make(chan struct{})
	later := T0.Add(2 * time.Minute)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("late-%d", i)
			<-start
			_, err := s.Claim(ctxOf(t), id, owner, later, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, owner)
			} else if !errors.Is(err, store.ErrClaimed) {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 || len(winners) != 1 {
		t.Fatalf("takeover race: winners %v, errors %v; want exactly 1 winner", winners, errors.Join(errs...))
	}
}

func testClaimNeedsRunStarted(t *testing.T, s store.Store) {
	// Only results: the run cannot be emitted, it does not know its accounts.
	recordResult(t, s, NewResult("run-norun", Account(1), 1), true)
	claim(t, s, "run-norun", "a", T0, time.Minute, store.ErrNotFound)
	recordRun(t, s, NewRun("run-norun", 1), true)
	claim(t, s, "run-norun", "a", T0, time.Minute, nil)
}

func testMarkEmitted(t *testing.T, s store.Store) {
	const id = "run-emit"
	recordRun(t, s, NewRun(id, 1), true)
	// Never claimed.
	markEmitted(t, s, id, "a", "k1", T0, store.ErrLeaseLost)
	claim(t, s, id, "a", T0, time.Minute, nil)
	markEmitted(t, s, id, "b", "k1", T0, store.ErrLeaseLost) // not the holder
	if st := runState(t, s, id); st.Emitted {
		t.Fatal("a non-owner's MarkEmitted emitted the run")
	}
	markEmitted(t, s, id, "a", "k1", T0.Add(time.Second), nil)
	// Idempotent for the same owner and key; EmittedAt stays the first.
	markEmitted(t, s, id, "a", "k1", T0.Add(time.Hour), nil)
	// A different key, or another caller, cannot rewrite it.
	markEmitted(t, s, id, "a", "k2", T0.Add(time.Hour), store.ErrEmitted)
	markEmitted(t, s, id, "b", "k1", T0.Add(time.Hour), store.ErrEmitted)
	st := runState(t, s, id)
	if !st.Emitted || st.ReportKey != "k1" || !st.EmittedAt.Equal(T0.Add(time.Second)) {
		t.Fatalf("state = emitted %v key %q at %s; want true, k1, T0+1s", st.Emitted, st.ReportKey, st.EmittedAt)
	}
}

func testMarkEmittedExpiredNotTaken(t *testing.T, s store.Store) {
	// A holder whose lease expired may still emit while no one took over:
	// the lease protects against two renders, not against slowness.
	const id = "run-slow"
	recordRun(t, s, NewRun(id, 1), true)
	claim(t, s, id, "a", T0, time.Minute, nil)
	markEmitted(t, s, id, "a", "k", T0.Add(time.Hour), nil)
	if st := runState(t, s, id); !st.Emitted {
		t.Fatal("not emitted")
	}
}
