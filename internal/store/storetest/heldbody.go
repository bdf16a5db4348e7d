package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// testHeldCopier checks store.HeldCopier, for the stores that have it:
// HeldBodies says what Held's decoded results say (account, status,
// covered regions), and RecordHeld records exactly what RecordResult of
// the held result would: the same result read back, first write wins, a
// created one counts once, the held result stays.
func testHeldCopier(t *testing.T, s store.Store) {
	hc, ok := s.(store.HeldCopier)
	if !ok {
		t.Skipf("%T does not implement store.HeldCopier", s)
	}
	ctx := ctxOf(t)
	const id = "run-heldcopy"
	recordRun(t, s, NewRun(id, 6), true)
	recordedFirst := Covering(NewResult(id, Account(4), 2), "us-east-1", "eu-west-1")
	recordResult(t, s, recordedFirst, true)
	tests := []struct {
		name        string
		res         *events.AccountScanned
		wantRegions []ident.Region
		covers      bool
		wantCreated bool
	}{
		{"covering", Covering(NewResult(id, Account(1), 3), "us-east-1", "eu-west-1"), []ident.Region{"eu-west-1", "us-east-1"}, true, true},
		{"one region twice, failed", withStatus(Covering(NewResult(id, Account(2), 1), "us-east-1", "us-east-1"), events.StatusFailed), []ident.Region{"us-east-1"}, false, true},
		{"no coverage", Covering(NewResult(id, Account(3), 0)), []ident.Region{}, false, true},
		{"recorded already: first write wins", Covering(NewResult(id, Account(4), 9), "us-east-1", "eu-west-1"), []ident.Region{"eu-west-1", "us-east-1"}, true, false},
		{"large (chunked where a store chunks)", withStatus(Covering(NewResult(id, Account(5), 20000), "eu-west-1", "us-east-1"), events.StatusPartial), []ident.Region{"eu-west-1", "us-east-1"}, true, true},
	}
	for _, tc := range tests {
		hold(t, s, tc.res, true)
	}
	var got []store.HeldBody
	for h, err := range hc.HeldBodies(ctx, id) {
		if err != nil {
			t.Fatalf("HeldBodies(%s): %v", id, err)
		}
		got = append(got, h)
	}
	if len(got) != len(tests) {
		t.Fatalf("HeldBodies = %d results, want %d", len(got), len(tests))
	}
	want := NewRun(id, 6).Regions
	results := 1
	for i, tc := range tests {
		h := got[i]
		if h.RunID != id || h.AccountID != tc.res.AccountID || h.Status != tc.res.Status || !slices.Equal(h.Regions, tc.wantRegions) {
			t.Fatalf("%s: HeldBodies yields %s/%s %s %v, want %s/%s %s %v", tc.name, h.RunID, h.AccountID, h.Status, h.Regions,
				id, tc.res.AccountID, tc.res.Status, tc.wantRegions)
		}
		if h.Covers(want) != tc.covers || h.Covers(want) != (len(tc.res.Uncovered(want)) == 0) {
			t.Fatalf("%s: Covers(%v) = %v, want %v", tc.name, want, h.Covers(want), tc.covers)
		}
		created, err := hc.RecordHeld(ctx, h)
		if err != nil || created != tc.wantCreated {
			t.Fatalf("%s: RecordHeld = %v, %v; want %v", tc.name, created, err, tc.wantCreated)
		}
		if tc.wantCreated {
			results++
		}
		// Again: a redelivered promotion changes nothing.
		if created, err := hc.RecordHeld(ctx, h); err != nil || created {
			t.Fatalf("%s: RecordHeld again = %v, %v; want false", tc.name, created, err)
		}
		if st := runState(t, s, id); st.Results != results {
			t.Fatalf("%s: Results = %d after RecordHeld, want %d", tc.name, st.Results, results)
		}
		if ok, err := s.HasResult(ctx, id, tc.res.AccountID); err != nil || !ok {
			t.Fatalf("%s: HasResult after RecordHeld = %v, %v", tc.name, ok, err)
		}
	}
	// What was recorded is what was held (or, first write wins, what was
	// recorded before); the held results stay until DropHeld.
	rec := collect(t, s, id)
	if len(rec) != len(tests) {
		t.Fatalf("Results yields %d, want %d", len(rec), len(tests))
	}
	for i, tc := range tests {
		wantRes := tc.res
		if !tc.wantCreated {
			wantRes = recordedFirst
		}
		sameJSON(t, tc.name+": recorded from the held body", rec[i], wantRes)
	}
	if h := held(t, s, id); len(h) != len(tests) {
		t.Fatalf("Held after RecordHeld = %d, want %d (RecordHeld does not drop)", len(h), len(tests))
	}
	bad := got[0]
	bad.RunID = "bad id"
	if _, err := hc.RecordHeld(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("RecordHeld with a bad run id: %v, want ErrInvalid", err)
	}
}
