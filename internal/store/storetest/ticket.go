package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func testSetTicket(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	for _, id := range []ident.RunID{"t1", "t2", "t3"} {
		recordRun(t, s, NewRun(id, 1), true)
	}
	emit(t, s, "t1")
	emit(t, s, "t2")
	if err := s.SetTicket(ctx, "t3", "SEC-3"); err == nil {
		t.Error("SetTicket on a run not emitted succeeded")
	}
	un, err := s.Unticketed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(un); !slices.Equal(got, []ident.RunID{"t1", "t2"}) {
		t.Fatalf("Unticketed = %v, want [t1 t2]", got)
	}
	for _, st := range un {
		if !st.Emitted || st.ReportKey == "" || st.Started == nil {
			t.Errorf("Unticketed state %s = %+v, want emitted with key and RunStarted", st.RunID, st)
		}
	}
	if err := s.SetTicket(ctx, "t1", "SEC-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTicket(ctx, "t1", "SEC-1"); err != nil {
		t.Fatalf("SetTicket again with the same key: %v", err)
	}
	if st := runState(t, s, "t1"); st.TicketKey != "SEC-1" {
		t.Fatalf("TicketKey = %q", st.TicketKey)
	}
	un, err = s.Unticketed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(un); !slices.Equal(got, []ident.RunID{"t2"}) {
		t.Fatalf("Unticketed after SetTicket(t1) = %v, want [t2]", got)
	}
}

func testTicketLease(t *testing.T, s store.Store) {
	const id = "tl"
	claimTicket(t, s, id, "a", T0, time.Minute, store.ErrNotFound)
	recordRun(t, s, NewRun(id, 1), true)
	claimTicket(t, s, id, "a", T0, time.Minute, store.ErrNotEmitted)
	emit(t, s, id)
	claimTicket(t, s, id, "", T0, time.Minute, store.ErrInvalid)
	claimTicket(t, s, id, "a", T0, 0, store.ErrInvalid)

	claimTicket(t, s, id, "a", T0, time.Minute, nil)
	claimTicket(t, s, id, "b", T0.Add(30*time.Second), time.Minute, store.ErrClaimed)
	claimTicket(t, s, id, "b", T0.Add(time.Minute), time.Minute, store.ErrClaimed) // live up to and including its end
	claimTicket(t, s, id, "a", T0.Add(30*time.Second), time.Minute, nil)           // renewed by its owner
	claimTicket(t, s, id, "b", T0.Add(90*time.Second), time.Minute, store.ErrClaimed)
	claimTicket(t, s, id, "b", T0.Add(90*time.Second+time.Nanosecond), time.Minute, nil) // expired: taken over
	claimTicket(t, s, id, "a", T0.Add(2*time.Minute), time.Minute, store.ErrClaimed)
	st := runState(t, s, id)
	if want := T0.Add(150*time.Second + time.Nanosecond); st.TicketOwner != "b" || !st.TicketUntil.Equal(want) {
		t.Fatalf("Run: ticket lease %q until %s, want b until %s", st.TicketOwner, st.TicketUntil, want)
	}
	if err := s.SetTicket(ctxOf(t), id, "SEC-9"); err != nil {
		t.Fatal(err)
	}
	claimTicket(t, s, id, "b", T0.Add(2*time.Minute), time.Minute, store.ErrTicketed)
	claimTicket(t, s, id, "c", T0.Add(time.Hour), time.Minute, store.ErrTicketed)
	if st := runState(t, s, id); st.TicketKey != "SEC-9" || st.ReportKey == "" || !st.Emitted {
		t.Fatalf("after the ticket: %+v", st)
	}
}

// testTicketLeaseSingleWinner: replicas racing for an unticketed run's
// lease, exactly one gets it.
func testTicketLeaseSingleWinner(t *testing.T, s store.Store) {
	const id = "tl-race"
	recordRun(t, s, NewRun(id, 1), true)
	emit(t, s, id)
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range n {
		wg.Go(func() {
			owner := fmt.Sprintf("replica-%d", i)
			_, err := s.ClaimTicket(ctxOf(t), id, owner, T0.Add(time.Hour), time.Minute)
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, owner)
				mu.Unlock()
			case !errors.Is(err, store.ErrClaimed):
				t.Errorf("ClaimTicket(%s): %v, want nil or ErrClaimed", owner, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("ticket lease winners = %v, want exactly one", winners)
	}
	if st := runState(t, s, id); st.TicketOwner != winners[0] {
		t.Fatalf("TicketOwner = %q, want the winner %q", st.TicketOwner, winners[0])
	}
}
