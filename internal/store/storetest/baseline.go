package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// week is the scheduled runs' cadence in these tests.
const week = 7 * 24 * time.Hour

// scheduledAt returns a scheduled RunStarted of one account started at at.
func scheduledAt(id ident.RunID, at time.Time) *events.RunStarted {
	run := NewRun(id, 1)
	run.StartedAt, run.Deadline = at, at.Add(45*time.Minute)
	return run
}

func findingsKey(id ident.RunID) string { return "reports/" + string(id) + ".findings.jsonl.gz" }

// emitWithFindings claims the recorded run at now and marks it emitted
// with its findings key, returning the claim.
func emitWithFindings(t *testing.T, s store.Store, id ident.RunID, now time.Time) store.Claim {
	t.Helper()
	c := claim(t, s, id, "o", now, time.Minute, nil)
	if err := s.MarkEmitted(ctxOf(t), id, "o", "reports/"+string(id)+".xlsx", findingsKey(id), now.Add(time.Second)); err != nil {
		t.Fatalf("MarkEmitted(%s) with findings: %v", id, err)
	}
	return c
}

func sameRef(t *testing.T, what string, got, want *store.BaselineRef) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

func latest(t *testing.T, s store.Store) *store.BaselineRef {
	t.Helper()
	ref, err := s.LatestScheduled(ctxOf(t))
	if err != nil {
		t.Fatalf("LatestScheduled: %v", err)
	}
	return ref
}

func refOf(id ident.RunID, generatedAt time.Time) *store.BaselineRef {
	return &store.BaselineRef{RunID: id, GeneratedAt: generatedAt, FindingsKey: findingsKey(id)}
}

// testBaselineFixedAtFirstClaim: each week's run compares with the latest
// scheduled run emitted when it was first claimed, and keeps it through
// renewals and takeovers even when a later run is emitted meanwhile.
func testBaselineFixedAtFirstClaim(t *testing.T, s store.Store) {
	sameRef(t, "LatestScheduled of an empty store", latest(t, s), nil)
	w1, w2, w3 := T0, T0.Add(week), T0.Add(2*week)
	recordRun(t, s, scheduledAt("w1", w1), true)
	if st := runState(t, s, "w1"); st.BaselineFixed || st.Baseline != nil || st.FindingsKey != "" {
		t.Fatalf("unclaimed run: BaselineFixed %v, Baseline %+v, FindingsKey %q; want false, nil, empty", st.BaselineFixed, st.Baseline, st.FindingsKey)
	}
	c := emitWithFindings(t, s, "w1", w1)
	sameRef(t, "first run's Claim.Baseline", c.Baseline, nil)
	st := runState(t, s, "w1")
	if !st.BaselineFixed || st.Baseline != nil || st.FindingsKey != findingsKey("w1") {
		t.Fatalf("emitted first run: BaselineFixed %v, Baseline %+v, FindingsKey %q; want true, nil, %q", st.BaselineFixed, st.Baseline, st.FindingsKey, findingsKey("w1"))
	}
	sameRef(t, "LatestScheduled after w1", latest(t, s), refOf("w1", w1))

	recordRun(t, s, scheduledAt("w2", w2), true)
	recordRun(t, s, scheduledAt("w3", w3), true)
	c = claim(t, s, "w3", "b", w3, time.Minute, nil) // w3 claimed before w2 is emitted
	sameRef(t, "w3's first Claim.Baseline", c.Baseline, refOf("w1", w1))
	c = emitWithFindings(t, s, "w2", w2)
	sameRef(t, "w2's Claim.Baseline", c.Baseline, refOf("w1", w1))
	sameRef(t, "LatestScheduled after w2", latest(t, s), refOf("w2", w2))

	// Renewal and takeover of w3 keep the baseline of its first claim.
	c = claim(t, s, "w3", "b", w3.Add(30*time.Second), time.Minute, nil)
	sameRef(t, "w3's renewal Claim.Baseline", c.Baseline, refOf("w1", w1))
	c = claim(t, s, "w3", "c", w3.Add(time.Hour), time.Minute, nil)
	sameRef(t, "w3's takeover Claim.Baseline", c.Baseline, refOf("w1", w1))
	st = runState(t, s, "w3")
	if !st.BaselineFixed {
		t.Fatal("w3: BaselineFixed false after its claims")
	}
	sameRef(t, "Run(w3).Baseline", st.Baseline, refOf("w1", w1))
	if err := s.MarkEmitted(ctxOf(t), "w3", "c", "reports/w3.xlsx", findingsKey("w3"), w3.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sameRef(t, "LatestScheduled after w3", latest(t, s), refOf("w3", w3))
	// The next run compares with w3, whose GeneratedAt is its first claim's.
	recordRun(t, s, scheduledAt("w4", T0.Add(3*week)), true)
	c = claim(t, s, "w4", "a", T0.Add(3*week), time.Minute, nil)
	sameRef(t, "w4's Claim.Baseline", c.Baseline, refOf("w3", w3))
}

// testLatestOnlyScheduledWithFindings: a run without a findings file, or
// an ad-hoc run, never becomes the baseline; an ad-hoc run compares with
// the latest scheduled run like any other.
func testLatestOnlyScheduledWithFindings(t *testing.T, s store.Store) {
	recordRun(t, s, scheduledAt("nofile", T0), true)
	claim(t, s, "nofile", "o", T0, time.Minute, nil)
	markEmitted(t, s, "nofile", "o", "reports/nofile.xlsx", T0.Add(time.Second), nil)
	if st := runState(t, s, "nofile"); !st.Emitted || st.FindingsKey != "" {
		t.Fatalf("run emitted without findings: Emitted %v, FindingsKey %q", st.Emitted, st.FindingsKey)
	}
	sameRef(t, "LatestScheduled after a run without findings", latest(t, s), nil)

	recordRun(t, s, NewAdhocRun("adhoc-1", Account(7), T0.Add(time.Hour)), true)
	emitWithFindings(t, s, "adhoc-1", T0.Add(time.Hour))
	sameRef(t, "LatestScheduled after an ad-hoc run", latest(t, s), nil)

	recordRun(t, s, scheduledAt("sched", T0.Add(2*time.Hour)), true)
	emitWithFindings(t, s, "sched", T0.Add(2*time.Hour))
	recordRun(t, s, NewAdhocRun("adhoc-2", Account(8), T0.Add(3*time.Hour)), true)
	c := emitWithFindings(t, s, "adhoc-2", T0.Add(3*time.Hour))
	sameRef(t, "ad-hoc run's Claim.Baseline", c.Baseline, refOf("sched", T0.Add(2*time.Hour)))
	sameRef(t, "LatestScheduled after a later ad-hoc run", latest(t, s), refOf("sched", T0.Add(2*time.Hour)))
}

// testLatestIsLatestStarted: the pointer follows started_at (ties: the
// larger run id), not the order of emission.
func testLatestIsLatestStarted(t *testing.T, s store.Store) {
	recordRun(t, s, scheduledAt("late", T0.Add(2*time.Hour)), true)
	recordRun(t, s, scheduledAt("early", T0.Add(time.Hour)), true)
	emitWithFindings(t, s, "late", T0)
	emitWithFindings(t, s, "early", T0.Add(time.Minute))
	sameRef(t, "LatestScheduled after emitting an earlier-started run last", latest(t, s), refOf("late", T0))

	at := T0.Add(3 * time.Hour)
	recordRun(t, s, scheduledAt("tie-b", at), true)
	recordRun(t, s, scheduledAt("tie-a", at), true)
	emitWithFindings(t, s, "tie-b", T0.Add(2*time.Minute))
	emitWithFindings(t, s, "tie-a", T0.Add(3*time.Minute))
	sameRef(t, "LatestScheduled after a tie on started_at", latest(t, s), refOf("tie-b", T0.Add(2*time.Minute)))
}

// testLatestConcurrent: runs marked emitted at once end with the latest
// started one as the pointer, whatever the order their writes land in.
func testLatestConcurrent(t *testing.T, s store.Store) {
	const n = 8
	for i := range n {
		id := ident.RunID(fmt.Sprintf("conc-%d", i))
		recordRun(t, s, scheduledAt(id, T0.Add(time.Duration(i)*time.Hour)), true)
		claim(t, s, id, "o", T0, time.Minute, nil)
	}
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for i := n - 1; i >= 0; i-- { // the latest first: a last-writer-wins store ends on an earlier run
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ident.RunID(fmt.Sprintf("conc-%d", i))
			errs[i] = s.MarkEmitted(ctxOf(t), id, "o", "reports/"+string(id)+".xlsx", findingsKey(id), T0.Add(time.Second))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sameRef(t, "LatestScheduled after concurrent emissions", latest(t, s), refOf(ident.RunID(fmt.Sprintf("conc-%d", n-1)), T0))
}

// testMarkEmittedFindingsKey: MarkEmitted is idempotent for the same keys
// only; the findings key is permanent like the report key.
func testMarkEmittedFindingsKey(t *testing.T, s store.Store) {
	const id = "run-fk"
	recordRun(t, s, scheduledAt(id, T0), true)
	claim(t, s, id, "a", T0, time.Minute, nil)
	ctx := ctxOf(t)
	for i, want := range []error{nil, nil} {
		if err := s.MarkEmitted(ctx, id, "a", "r.xlsx", "f1", T0.Add(time.Duration(i+1)*time.Second)); !errors.Is(err, want) {
			t.Fatalf("MarkEmitted #%d = %v, want %v", i+1, err, want)
		}
	}
	for _, fk := range []string{"f2", ""} {
		if err := s.MarkEmitted(ctx, id, "a", "r.xlsx", fk, T0.Add(time.Minute)); !errors.Is(err, store.ErrEmitted) {
			t.Fatalf("MarkEmitted with findings key %q after f1 = %v, want ErrEmitted", fk, err)
		}
	}
	st := runState(t, s, id)
	if st.FindingsKey != "f1" || !st.EmittedAt.Equal(T0.Add(time.Second)) {
		t.Fatalf("FindingsKey %q, EmittedAt %s; want f1, T0+1s", st.FindingsKey, st.EmittedAt)
	}
	sameRef(t, "LatestScheduled", latest(t, s), &store.BaselineRef{RunID: id, GeneratedAt: T0, FindingsKey: "f1"})
}

// testPinBaseline: a pin fixes the baseline before the first claim, and
// nothing changes a fixed baseline.
func testPinBaseline(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	recordRun(t, s, scheduledAt("base", T0), true)
	emitWithFindings(t, s, "base", T0)
	base := refOf("base", T0)
	other := &store.BaselineRef{RunID: "older", GeneratedAt: T0.Add(-week), FindingsKey: findingsKey("older")}
	for _, id := range []ident.RunID{"pinned", "none", "claimed"} {
		recordRun(t, s, scheduledAt(id, T0.Add(week)), true)
	}
	pin := func(id ident.RunID, ref *store.BaselineRef, want error) {
		t.Helper()
		if err := s.PinBaseline(ctx, id, ref); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Fatalf("PinBaseline(%s, %s) = %v, want %v", id, ref, err, want)
		}
	}
	pin("unknown", other, store.ErrNotFound)
	recordResult(t, s, NewResult("results-only", Account(1), 1), true)
	pin("results-only", nil, store.ErrNotFound)
	pin("bad id!", nil, store.ErrInvalid)
	pin("pinned", &store.BaselineRef{RunID: "pinned", GeneratedAt: T0, FindingsKey: "f"}, store.ErrInvalid)
	pin("pinned", &store.BaselineRef{RunID: "older", GeneratedAt: T0}, store.ErrInvalid)

	pin("pinned", other, nil)
	st := runState(t, s, "pinned")
	if !st.BaselineFixed {
		t.Fatal("pinned run: BaselineFixed false")
	}
	sameRef(t, "Run(pinned).Baseline", st.Baseline, other)
	pin("pinned", other, nil) // the same again
	pin("pinned", nil, store.ErrBaselineFixed)
	pin("pinned", base, store.ErrBaselineFixed)
	c := claim(t, s, "pinned", "a", T0.Add(week), time.Minute, nil)
	sameRef(t, "pinned run's Claim.Baseline", c.Baseline, other)

	pin("none", nil, nil)
	c = claim(t, s, "none", "a", T0.Add(week), time.Minute, nil)
	sameRef(t, "run pinned to none: Claim.Baseline", c.Baseline, nil)
	pin("none", base, store.ErrBaselineFixed)
	if st := runState(t, s, "none"); !st.BaselineFixed || st.Baseline != nil {
		t.Fatalf("run pinned to none: BaselineFixed %v, Baseline %+v", st.BaselineFixed, st.Baseline)
	}

	c = claim(t, s, "claimed", "a", T0.Add(week), time.Minute, nil)
	sameRef(t, "unpinned run's Claim.Baseline", c.Baseline, base)
	pin("claimed", base, nil)
	pin("claimed", nil, store.ErrBaselineFixed)
	pin("claimed", other, store.ErrBaselineFixed)
}

// testBaselineSingleFixing: concurrent first claims and pins fix one
// baseline, which every later claim returns.
func testBaselineSingleFixing(t *testing.T, s store.Store) {
	recordRun(t, s, scheduledAt("base", T0), true)
	emitWithFindings(t, s, "base", T0)
	const id = "contended"
	recordRun(t, s, scheduledAt(id, T0.Add(week)), true)
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		claims []store.Claim
		pinned int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				c, err := s.Claim(ctxOf(t), id, fmt.Sprintf("o%d", i), T0.Add(week), time.Minute)
				if err == nil {
					mu.Lock()
					claims = append(claims, c)
					mu.Unlock()
				}
				return
			}
			if s.PinBaseline(ctxOf(t), id, nil) == nil {
				mu.Lock()
				pinned++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st := runState(t, s, id)
	if !st.BaselineFixed || len(claims) != 1 {
		t.Fatalf("BaselineFixed %v, %d winning claims; want true, 1", st.BaselineFixed, len(claims))
	}
	sameRef(t, "the winning Claim.Baseline", claims[0].Baseline, st.Baseline)
	// Pins succeed only for the value that was fixed (none).
	if (pinned > 0) != (st.Baseline == nil) {
		t.Fatalf("%d pins to none succeeded, but the baseline is %s", pinned, st.Baseline)
	}
	c := claim(t, s, id, claims[0].Owner, T0.Add(week+time.Second), time.Minute, nil)
	sameRef(t, "a renewal's Claim.Baseline", c.Baseline, st.Baseline)
}
