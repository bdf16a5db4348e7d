package storetest

import (
	"errors"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func testHeldResults(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const id = "run-held"
	recordRun(t, s, NewRun(id, 3), true)
	one := Covering(NewResult(id, Account(2), 3), "us-east-1")
	hold(t, s, one, true)
	hold(t, s, Covering(NewResult(id, Account(2), 5), "eu-west-1"), false) // as broad: the first stays
	hold(t, s, Covering(NewResult(id, Account(2), 7)), false)              // narrower
	hold(t, s, Covering(NewResult(id, Account(1), 1)), true)               // breadth 0, another account
	// A held result never counts.
	st := runState(t, s, id)
	if st.Results != 0 {
		t.Fatalf("Results = %d with only held results, want 0", st.Results)
	}
	if ok, err := s.HasResult(ctx, id, Account(2)); err != nil || ok {
		t.Fatalf("HasResult of a held result = %v, %v; want false", ok, err)
	}
	missing, err := s.MissingResults(ctx, id, []ident.AccountID{Account(1), Account(2), Account(3)})
	if err != nil || len(missing) != 3 {
		t.Fatalf("MissingResults with only held results = %v, %v; want all three", missing, err)
	}
	if got := collect(t, s, id); len(got) != 0 {
		t.Fatalf("Results yields %d held results, want none", len(got))
	}
	h := held(t, s, id)
	if len(h) != 2 || h[0].AccountID != Account(1) || h[1].AccountID != Account(2) {
		t.Fatalf("Held = %d results, want accounts 1 and 2 in order", len(h))
	}
	sameJSON(t, "held result", h[1], one)
	// A broader one replaces it.
	both := Covering(NewResult(id, Account(2), 9), "us-east-1", "eu-west-1")
	hold(t, s, both, true)
	if h := held(t, s, id); len(h) != 2 {
		t.Fatalf("Held = %d results after a replacement, want 2", len(h))
	} else {
		sameJSON(t, "replaced held result", h[1], both)
	}
	// Held results of other runs are apart, and a recorded one is apart.
	hold(t, s, Covering(NewResult("run-held-other", Account(2), 1), "us-east-1"), true)
	recordResult(t, s, NewResult(id, Account(3), 1), true)
	if h := held(t, s, id); len(h) != 2 {
		t.Fatalf("Held = %d results, want 2 (other runs and recorded results apart)", len(h))
	}
	if err := s.DropHeld(ctx, id, Account(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.DropHeld(ctx, id, Account(9)); err != nil { // none held: no error
		t.Fatal(err)
	}
	if h := held(t, s, id); len(h) != 1 || h[0].AccountID != Account(1) {
		t.Fatalf("Held after DropHeld = %d results, want account 1 only", len(h))
	}
	if h := held(t, s, "run-held-other"); len(h) != 1 {
		t.Fatalf("DropHeld reached another run: %d held there", len(h))
	}
	// Before its RunStarted, a run's results may be held too.
	hold(t, s, Covering(NewResult("run-held-early", Account(1), 1), "us-east-1"), true)
	if _, err := s.HoldResult(ctx, &events.AccountScanned{RunID: "bad id", AccountID: Account(1)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("HoldResult with a bad run id: %v, want ErrInvalid", err)
	}
}

func testHeldLarge(t *testing.T, s store.Store) {
	big := Covering(NewResult("run-held-big", Account(7), 20000), "us-east-1")
	hold(t, s, big, true)
	h := held(t, s, "run-held-big")
	if len(h) != 1 {
		t.Fatalf("Held = %d results, want 1", len(h))
	}
	sameJSON(t, "held result with 20,000 findings", h[0], big)
}
