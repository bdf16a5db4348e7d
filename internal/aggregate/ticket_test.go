package aggregate

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/store"
)

// TestTicketLeaseOneFiling: two replicas race for an unticketed run.
func TestTicketLeaseOneFiling(t *testing.T) {
	e := newEnv(t)
	ticketRace(t, e, [3]store.Store{e.store, e.store, e.store})
}

// ticketRace: the emitting replica dies before its ticket is filed; two
// other replicas (a restarted pod has a new owner name) pass the ticket
// takeover at the same moment while Jira's search does not see tickets yet
// (eventually consistent). Jira holds both searches until both replicas
// are in it, which without the ticket lease makes both file; with it, the
// replica without the lease never searches, and exactly one ticket is
// filed. stores are the three replicas' stores (one table or file).
func ticketRace(t *testing.T, e *env, stores [3]store.Store) {
	ctx := context.Background()
	withStore := func(s store.Store) func(*Config, *Deps) { return func(_ *Config, d *Deps) { d.Store = s } }
	e.jira.failFind = 1
	a := e.aggregator("replica-a", withStore(stores[0]))
	handleAll(t, a, allMessages(t))
	a.Check(ctx) // emitted; the ticket's search fails; a then dies
	if st := e.state(); !st.Emitted || st.TicketKey != "" || st.TicketOwner != "replica-a" {
		t.Fatalf("after the emission: emitted %v, ticket %q, ticket lease %q; want emitted, none, replica-a",
			st.Emitted, st.TicketKey, st.TicketOwner)
	}

	e.clock.Add(2*time.Minute + time.Second) // past TicketTakeover (2*Lease) and a's ticket lease
	e.jira.staleSearch = true
	e.jira.findGate = make(chan struct{})
	b := e.aggregator("replica-b", withStore(stores[1]))
	c := e.aggregator("replica-c", withStore(stores[2]))
	var (
		wg   sync.WaitGroup
		done atomic.Int64
	)
	for _, r := range []*Aggregator{b, c} {
		wg.Go(func() {
			r.Check(ctx)
			done.Add(1)
		})
	}
	// Release Jira once both replicas are searching (what the lease must
	// prevent) or one has returned without searching (it lost the lease).
	deadline := time.Now().Add(20 * time.Second)
	for e.jira.finding.Load() < 2 && done.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	searching := e.jira.finding.Load()
	close(e.jira.findGate)
	wg.Wait()
	if n := e.jira.files.Load(); n != 1 {
		t.Fatalf("%d tickets filed (%d replicas searched at once), want exactly 1", n, searching)
	}
	if searching != 1 {
		t.Errorf("%d replicas searched Jira at once, want 1 (the lease holder)", searching)
	}
	st := e.state()
	if st.TicketKey != "SEC-1" || (st.TicketOwner != "replica-b" && st.TicketOwner != "replica-c") {
		t.Fatalf("ticket %q, lease %q; want SEC-1 filed under b's or c's lease", st.TicketKey, st.TicketOwner)
	}
	// Later passes, any replica: nothing more.
	e.clock.Add(10 * time.Minute)
	for _, r := range []*Aggregator{a, b, c} {
		r.Check(ctx)
	}
	if n := e.jira.files.Load(); n != 1 {
		t.Fatalf("%d tickets filed after later passes, want 1", n)
	}
}

// TestTicketLeaseHeldSkips: a replica that finds another's live ticket
// lease neither searches nor files, nor counts a failure; once the lease
// expires it takes over, searching first.
func TestTicketLeaseHeldSkips(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.jira.failFind = 1
	a := e.aggregator("replica-a")
	handleAll(t, a, allMessages(t))
	a.Check(ctx) // emitted; search fails; a holds the ticket lease for Lease (1m)
	e.clock.Add(2*time.Minute + time.Second)
	// Another replica (replica-x) takes the ticket lease first.
	until, err := e.store.ClaimTicket(ctx, runID, "replica-x", e.clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b := e.aggregator("replica-b")
	b.Check(ctx)
	if n := e.jira.files.Load(); n != 0 {
		t.Fatalf("b filed %d tickets while replica-x held the ticket lease", n)
	}
	if n := testutil.ToFloat64(b.metrics.ticketFailures); n != 0 {
		t.Errorf("b counted %v ticket failures for a held lease, want 0", n)
	}
	e.clock.Add(until.Sub(e.clock.Now()) + time.Nanosecond) // replica-x died holding it
	b.Check(ctx)
	if n := e.jira.files.Load(); n != 1 || e.state().TicketKey != "SEC-1" {
		t.Fatalf("after replica-x's lease: %d tickets, key %q; want 1, SEC-1", n, e.state().TicketKey)
	}
}
