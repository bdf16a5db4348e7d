package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func testAdhocJoin(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	x, y := Account(42), Account(43)
	joined := func(id, want ident.RunID) {
		t.Helper()
		if st := runState(t, s, id); st.JoinedTo != want {
			t.Fatalf("%s JoinedTo = %q, want %q", id, st.JoinedTo, want)
		}
	}
	recordRun(t, s, NewAdhocRun("a1", x, T0), true)
	joined("a1", "")
	// A second request while a1 has no result: it joins a1.
	recordRun(t, s, NewAdhocRun("a2", x, T0.Add(time.Minute)), true)
	joined("a2", "a1")
	recordRun(t, s, NewAdhocRun("a3", x, T0.Add(2*time.Minute)), true)
	joined("a3", "a1")
	// Another account, and a scheduled run of one account, are not limited.
	recordRun(t, s, NewAdhocRun("b1", y, T0.Add(time.Minute)), true)
	joined("b1", "")
	sched := NewRun("s1", 1)
	sched.Accounts[0].AccountID = x
	recordRun(t, s, sched, true)
	joined("s1", "")
	p, err := s.Pending(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []ident.RunID{"a1", "b1", "s1"}) {
		t.Fatalf("Pending = %v, want [a1 b1 s1] (joined runs are never pending)", got)
	}
	// A held result is no result: the slot stays with a1.
	hold(t, s, Covering(NewResult("a1", x, 1)), true)
	recordRun(t, s, NewAdhocRun("a4", x, T0.Add(3*time.Minute)), true)
	joined("a4", "a1")
	// Once a1 has its result, a new request opens a new run (fix, then rescan).
	recordResult(t, s, NewResult("a1", x, 1), true)
	recordRun(t, s, NewAdhocRun("a5", x, T0.Add(4*time.Minute)), true)
	joined("a5", "")
	recordRun(t, s, NewAdhocRun("a6", x, T0.Add(5*time.Minute)), true)
	joined("a6", "a5")
	// Once a5 is emitted (its deadline passed without a result), likewise.
	emit(t, s, "a5")
	recordRun(t, s, NewAdhocRun("a7", x, T0.Add(6*time.Minute)), true)
	joined("a7", "")
	// A request started after a7's deadline does not join it.
	recordRun(t, s, NewAdhocRun("a8", x, T0.Add(6*time.Minute+45*time.Minute)), true)
	joined("a8", "")
	// Joined runs cannot be claimed into a report of their own by Pending,
	// and keep their RunStarted.
	if st := runState(t, s, "a2"); st.Started == nil || st.Started.Accounts[0].AccountID != x {
		t.Fatalf("joined run a2 lost its RunStarted: %+v", st)
	}
}

func testAdhocJoinOnce(t *testing.T, s store.Store) {
	x := Account(44)
	recordRun(t, s, NewAdhocRun("c1", x, T0), true)
	recordRun(t, s, NewAdhocRun("c2", x, T0.Add(time.Minute)), true)
	if st := runState(t, s, "c2"); st.JoinedTo != "c1" {
		t.Fatalf("c2 JoinedTo = %q, want c1", st.JoinedTo)
	}
	// c1 gets its result; a redelivered (or different) RunStarted of c2
	// changes nothing: the decision was made with the first write.
	recordResult(t, s, NewResult("c1", x, 1), true)
	recordRun(t, s, NewAdhocRun("c2", x, T0.Add(time.Minute)), false)
	other := NewAdhocRun("c2", Account(45), T0.Add(2*time.Minute))
	recordRun(t, s, other, false)
	st := runState(t, s, "c2")
	if st.JoinedTo != "c1" || st.Started.Accounts[0].AccountID != x {
		t.Fatalf("c2 after a second RunStarted: JoinedTo %q, account %s; want c1, %s", st.JoinedTo, st.Started.Accounts[0].AccountID, x)
	}
	// A redelivered RunStarted of the slot's owner does not make it join.
	recordRun(t, s, NewAdhocRun("c1", x, T0), false)
	if st := runState(t, s, "c1"); st.JoinedTo != "" {
		t.Fatalf("c1 JoinedTo = %q after its own redelivery", st.JoinedTo)
	}
}
