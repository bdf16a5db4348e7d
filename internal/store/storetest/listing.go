package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func testPending(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	if p, err := s.Pending(ctx, 100); err != nil || len(p) != 0 {
		t.Fatalf("Pending on an empty store = %v, %v", p, err)
	}
	for _, id := range []ident.RunID{"p1", "p2", "p3"} {
		recordRun(t, s, NewRun(id, 2), true)
	}
	recordResult(t, s, NewResult("p1", Account(1), 1), true)
	recordResult(t, s, NewResult("orphan", Account(1), 1), true) // no RunStarted: not pending
	claim(t, s, "p2", "o", T0, time.Minute, nil)                 // claimed, not emitted: pending
	emit(t, s, "p3")
	p, err := s.Pending(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []ident.RunID{"p1", "p2"}) {
		t.Fatalf("Pending = %v, want [p1 p2]", got)
	}
	for _, st := range p {
		if st.Started == nil || st.Emitted {
			t.Errorf("pending %s = %+v", st.RunID, st)
		}
		if st.RunID == "p1" && st.Results != 1 {
			t.Errorf("pending p1 Results = %d, want 1", st.Results)
		}
		if st.RunID == "p2" && (st.ClaimOwner != "o" || !st.GeneratedAt.Equal(T0)) {
			t.Errorf("pending p2 claim = %q %s", st.ClaimOwner, st.GeneratedAt)
		}
	}
}

func testPendingBounded(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	// Run ids sort the other way round from deadlines: a flood of runs
	// with ids that sort first and far deadlines must not hide the run
	// whose deadline is nearest.
	want := []ident.RunID{}
	for i := range 6 {
		id := ident.RunID(fmt.Sprintf("b%d", 9-i))
		run := NewRun(id, 1)
		run.Deadline = T0.Add(time.Duration(i+1) * time.Hour)
		recordRun(t, s, run, true)
		want = append(want, id)
	}
	emit(t, s, "b8") // deadline 2h: emitted, never pending
	want = slices.DeleteFunc(want, func(id ident.RunID) bool { return id == "b8" })
	for _, limit := range []int{1, 3, 5, 100} {
		p, err := s.Pending(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]ident.RunID, 0, len(p))
		for _, st := range p {
			got = append(got, st.RunID)
		}
		w := want[:min(limit, len(want))]
		if !slices.Equal(got, w) {
			t.Errorf("Pending(%d) = %v, want %v (earliest deadline first)", limit, got, w)
		}
	}
	if _, err := s.Pending(ctx, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Pending(0) err = %v, want ErrInvalid", err)
	}
}

// testRunLister checks store.RunLister, which every implementation has:
// the latest runs first, counts from recorded results only (first write
// wins, held and unexpected results ignored), reads that change nothing.
func testRunLister(t *testing.T, s store.Store) {
	rl, ok := s.(store.RunLister)
	if !ok {
		t.Fatalf("%T does not implement store.RunLister", s)
	}
	ctx := ctxOf(t)
	for _, r := range []struct {
		id ident.RunID
		at time.Duration
		n  int
	}{{"r-old", 0, 3}, {"r-new", time.Hour, 4}, {"r-tie-a", 30 * time.Minute, 1}, {"r-tie-b", 30 * time.Minute, 1}} {
		run := NewRun(r.id, r.n)
		run.StartedAt = T0.Add(r.at)
		run.Deadline = run.StartedAt.Add(45 * time.Minute)
		recordRun(t, s, run, true)
	}
	recordResult(t, s, NewResult("r-new", Account(1), 2), true)
	recordResult(t, s, withStatus(NewResult("r-new", Account(2), 0), events.StatusFailed), true)
	recordResult(t, s, NewResult("r-new", Account(2), 1), false) // first write (failed) wins
	recordResult(t, s, withStatus(NewResult("r-new", Account(3), 1), events.StatusPartial), true)
	recordResult(t, s, NewResult("r-new", Account(99), 1), true) // not expected: not counted
	hold(t, s, Covering(NewResult("r-new", Account(4), 1), "us-east-1"), true)
	for i := 1; i <= 3; i++ {
		recordResult(t, s, NewResult("r-old", Account(i), 1), true)
	}
	emit(t, s, "r-old")
	if err := s.SetTicket(ctx, "r-old", "CR-7"); err != nil {
		t.Fatal(err)
	}
	recordResult(t, s, withStatus(NewResult("r-orphan", Account(5), 0), events.StatusFailed), true)

	type counts struct{ Expected, Reported, Failed, Missing int }
	countsOf := func(sum store.RunSummary) counts {
		return counts{sum.Expected, sum.Reported, sum.Failed, sum.Missing}
	}
	want := map[ident.RunID]counts{
		"r-new":   {4, 3, 1, 1},
		"r-tie-b": {1, 0, 0, 1},
		"r-tie-a": {1, 0, 0, 1},
		"r-old":   {3, 3, 0, 0},
	}
	order := []ident.RunID{"r-new", "r-tie-b", "r-tie-a", "r-old"}
	for _, limit := range []int{1, 2, 4, 100} {
		got, err := rl.Recent(ctx, limit)
		if err != nil {
			t.Fatalf("Recent(%d): %v", limit, err)
		}
		var gotIDs []ident.RunID
		for _, sum := range got {
			gotIDs = append(gotIDs, sum.RunID)
			if c := countsOf(sum); c != want[sum.RunID] {
				t.Errorf("Recent(%d): %s counts %+v, want %+v", limit, sum.RunID, c, want[sum.RunID])
			}
			if sum.Unreported != nil {
				t.Errorf("Recent(%d): %s has Unreported %v, want nil (RunSummary's)", limit, sum.RunID, sum.Unreported)
			}
			if sum.Started == nil {
				t.Errorf("Recent(%d): %s without its RunStarted", limit, sum.RunID)
			}
		}
		if w := order[:min(limit, len(order))]; !slices.Equal(gotIDs, w) {
			t.Errorf("Recent(%d) = %v, want %v (latest started first, then run id descending)", limit, gotIDs, w)
		}
	}

	old, err := rl.RunSummary(ctx, "r-old")
	if err != nil {
		t.Fatal(err)
	}
	if !old.Emitted || old.ReportKey != "reports/r-old.xlsx" || !old.EmittedAt.Equal(T0.Add(time.Second)) || old.TicketKey != "CR-7" || old.Unreported != nil {
		t.Errorf("RunSummary(r-old) = emitted %v at %v, key %q, ticket %q, unreported %v",
			old.Emitted, old.EmittedAt, old.ReportKey, old.TicketKey, old.Unreported)
	}
	sum, err := rl.RunSummary(ctx, "r-new")
	if err != nil {
		t.Fatal(err)
	}
	if c := countsOf(sum); c != want["r-new"] {
		t.Errorf("RunSummary(r-new) counts %+v, want %+v", c, want["r-new"])
	}
	if len(sum.Unreported) != 1 || sum.Unreported[0].AccountID != Account(4) || sum.Unreported[0].Name != "acct-4" {
		t.Errorf("RunSummary(r-new).Unreported = %+v, want account 4 (its result is only held)", sum.Unreported)
	}
	if sum.Started == nil || sum.Started.Trigger != events.TriggerScheduled || !sum.Started.StartedAt.Equal(T0.Add(time.Hour)) {
		t.Errorf("RunSummary(r-new).Started = %+v", sum.Started)
	}
	orphan, err := rl.RunSummary(ctx, "r-orphan")
	if err != nil {
		t.Fatalf("RunSummary of a run with results only: %v", err)
	}
	if c := countsOf(orphan); orphan.Started != nil || c != (counts{0, 1, 1, 0}) {
		t.Errorf("RunSummary(r-orphan) = started %v, counts %+v; want no RunStarted, 1 reported, 1 failed", orphan.Started, c)
	}
	if _, err := rl.RunSummary(ctx, "r-unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RunSummary(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := rl.Recent(ctx, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Recent(0) err = %v, want ErrInvalid", err)
	}
	// Reads only: the open run is still pending, nothing was claimed.
	if st := runState(t, s, "r-new"); st.ClaimOwner != "" || st.Emitted || st.Results != 4 {
		t.Errorf("after listing: r-new claim %q, emitted %v, results %d; want unchanged (4 recorded)", st.ClaimOwner, st.Emitted, st.Results)
	}
}
