package storetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func testResultsOrdered(t *testing.T, s store.Store) {
	// Code point order of 12-digit ids, leading zeros kept: an
	// implementation ordering numbers, or trimming zeros, fails here.
	ids := []ident.AccountID{"100000000000", "000000000001", "099999999999", "010000000000",
		"999999999999", "000000000010", "000000000002", "900000000000"}
	want := slices.Clone(ids)
	slices.Sort(want)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for _, id := range ids {
		recordResult(t, s, NewResult("run-order", id, 2), true)
	}
	got := collect(t, s, "run-order")
	var gotIDs []ident.AccountID
	for _, r := range got {
		gotIDs = append(gotIDs, r.AccountID)
	}
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("Results order = %v, want %v", gotIDs, want)
	}
	for _, r := range got {
		sameJSON(t, "result "+string(r.AccountID), r, NewResult("run-order", r.AccountID, 2))
	}
}

func testResultsStopEarly(t *testing.T, s store.Store) {
	for i := 1; i <= 30; i++ {
		recordResult(t, s, NewResult("run-stop", Account(i), 1), true)
	}
	n := 0
	for res, err := range s.Results(ctxOf(t), "run-stop") {
		if err != nil {
			t.Fatal(err)
		}
		if res.AccountID != Account(n+1) {
			t.Fatalf("result %d is %s", n, res.AccountID)
		}
		n++
		if n == 3 {
			break
		}
	}
	// Breaking out must release whatever the iterator held (a cursor, a
	// connection): the store still writes and reads.
	recordResult(t, s, NewResult("run-stop", Account(31), 1), true)
	if st := runState(t, s, "run-stop"); st.Results != 31 {
		t.Fatalf("Results = %d, want 31", st.Results)
	}
	// A cancelled context ends the iteration with an error, never silently.
	ctx, cancel := context.WithCancel(ctxOf(t))
	cancel()
	var sawErr bool
	for _, err := range s.Results(ctx, "run-stop") {
		if err != nil {
			sawErr = true
			break
		}
	}
	if !sawErr {
		t.Error("Results with a cancelled context yielded no error")
	}
}

func testHasResult(t *testing.T, s store.Store) {
	recordResult(t, s, NewResult("run-has", Account(5), 1), true)
	for _, tc := range []struct {
		run  ident.RunID
		acct ident.AccountID
		want bool
	}{
		{"run-has", Account(5), true},
		{"run-has", Account(6), false},
		{"run-has2", Account(5), false},
	} {
		got, err := s.HasResult(ctxOf(t), tc.run, tc.acct)
		if err != nil || got != tc.want {
			t.Errorf("HasResult(%s, %s) = %v, %v; want %v", tc.run, tc.acct, got, err, tc.want)
		}
	}
}

// testMissingResults checks MissingResults against HasResult's semantics:
// a stray result (an account not expected) never stands in for an expected
// one, another run's result does not count, and the answer is the same
// whether few or many expected accounts lack one (stores may answer those
// two cases differently).
func testMissingResults(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const id, other = "run-missing", "run-missing-x"
	accts := func(ns ...int) []ident.AccountID {
		out := make([]ident.AccountID, len(ns))
		for i, n := range ns {
			out[i] = Account(n)
		}
		return out
	}
	missing := func(expected []ident.AccountID, want []ident.AccountID) {
		t.Helper()
		got, err := s.MissingResults(ctx, id, expected)
		if err != nil {
			t.Fatalf("MissingResults(%d expected): %v", len(expected), err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("MissingResults(%v) = %v, want %v", expected, got, want)
		}
		for _, acct := range expected {
			has, err := s.HasResult(ctx, id, acct)
			if err != nil {
				t.Fatal(err)
			}
			if has == slices.Contains(got, acct) {
				t.Fatalf("MissingResults and HasResult(%s) = %v disagree", acct, has)
			}
		}
	}
	missing(nil, nil)
	missing(accts(1, 2), accts(1, 2)) // unknown run: all missing
	recordRun(t, s, NewRun(id, 3), true)
	recordResult(t, s, NewResult(id, Account(1), 1), true)
	recordResult(t, s, NewResult(id, Account(9), 1), true) // stray
	recordResult(t, s, NewResult(other, Account(2), 1), true)
	missing(accts(1, 2, 3), accts(2, 3))
	missing(accts(3, 1, 3, 2), accts(3, 2)) // expected's order, each once
	recordResult(t, s, NewResult(id, Account(3), 1), true)
	missing(accts(1, 2, 3), accts(2))
	recordResult(t, s, NewResult(id, Account(2), 1), true)
	missing(accts(1, 2, 3), nil)
	missing(accts(1, 2, 3, 9), nil)

	// Many expected accounts without a result.
	var many, wantMany []ident.AccountID
	for n := 1; n <= 300; n++ {
		many = append(many, Account(n))
		if n > 3 && n != 9 {
			wantMany = append(wantMany, Account(n))
		}
	}
	missing(many, wantMany)
}

func testLargeRun(t *testing.T, s store.Store) {
	run := NewRun("run-big", 5000)
	recordRun(t, s, run, true)
	recordRun(t, s, NewRun("run-big", 4999), false)
	st := runState(t, s, "run-big")
	if st.Started == nil || len(st.Started.Accounts) != 5000 {
		t.Fatalf("RunStarted of 5,000 accounts came back with %v", st.Started != nil)
	}
	sameJSON(t, "RunStarted of 5,000 accounts", st.Started, run)
	p, err := s.Pending(ctxOf(t), 100)
	if err != nil || len(p) != 1 || p[0].Started == nil || len(p[0].Started.Accounts) != 5000 {
		t.Fatalf("Pending with a 5,000-account run: %d runs, err %v", len(p), err)
	}
}

func testLargeResult(t *testing.T, s store.Store) {
	big := NewResult("run-bigres", Account(7), 20000)
	recordResult(t, s, big, true)
	recordResult(t, s, NewResult("run-bigres", Account(7), 10), false)
	recordResult(t, s, NewResult("run-bigres", Account(8), 10), true)
	got := collect(t, s, "run-bigres")
	if len(got) != 2 || len(got[0].Findings) != 20000 {
		t.Fatalf("Results = %d results", len(got))
	}
	sameJSON(t, "result with 20,000 findings", got[0], big)
	if st := runState(t, s, "run-bigres"); st.Results != 2 {
		t.Fatalf("Results = %d, want 2", st.Results)
	}
}

// testResultCounter checks store.ResultCounter, for the stores that have it:
// what it returns with each write is what Run says right after.
func testResultCounter(t *testing.T, s store.Store) {
	rc, ok := s.(store.ResultCounter)
	if !ok {
		t.Skipf("%T does not implement store.ResultCounter", s)
	}
	ctx := ctxOf(t)
	const id = "run-counted"
	record := func(acct ident.AccountID, wantCreated bool, want store.Recorded) {
		t.Helper()
		created, rec, err := rc.RecordResultCounted(ctx, NewResult(id, acct, 2))
		if err != nil {
			t.Fatalf("RecordResultCounted(%s): %v", acct, err)
		}
		if created != wantCreated || rec != want {
			t.Fatalf("RecordResultCounted(%s) = %v, %+v; want %v, %+v", acct, created, rec, wantCreated, want)
		}
		if !created {
			return
		}
		st := runState(t, s, id)
		if got := (store.Recorded{Results: st.Results, HasStarted: st.Started != nil, Emitted: st.Emitted}); got != rec {
			t.Fatalf("after RecordResultCounted(%s): Run says %+v, the write said %+v", acct, got, rec)
		}
	}
	record(Account(1), true, store.Recorded{Results: 1})
	recordRun(t, s, NewRun(id, 4), true)
	record(Account(2), true, store.Recorded{Results: 2, HasStarted: true})
	record(Account(2), false, store.Recorded{})
	recordResult(t, s, NewResult(id, Account(3), 1), true)
	record(Account(1), false, store.Recorded{})
	emit(t, s, id)
	record(Account(4), true, store.Recorded{Results: 4, HasStarted: true, Emitted: true})
	if _, _, err := rc.RecordResultCounted(ctx, NewResult("bad id", Account(5), 1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordResultCounted of an invalid run id: %v, want ErrInvalid", err)
	}
}

// testResultCounterConcurrent: results of one run recorded at once (the
// aggregator's consumers) are each counted once, whatever a store does to
// share its writes: every write's count includes its own result and is at
// most the run's, the largest is the run's, and Run agrees.
func testResultCounterConcurrent(t *testing.T, s store.Store) {
	rc, ok := s.(store.ResultCounter)
	if !ok {
		t.Skipf("%T does not implement store.ResultCounter", s)
	}
	ctx := ctxOf(t)
	const (
		id = "run-counted-at-once"
		n  = 24
	)
	recordRun(t, s, NewRun(id, n), true)
	counts := make(chan int, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			created, rec, err := rc.RecordResultCounted(ctx, NewResult(id, Account(i), 1))
			if err != nil || !created || !rec.HasStarted {
				t.Errorf("RecordResultCounted(%d) = %v, %+v, %v", i, created, rec, err)
			}
			counts <- rec.Results
		})
	}
	wg.Wait()
	close(counts)
	largest := 0
	for c := range counts {
		if c < 1 || c > n {
			t.Errorf("a write said %d results, want 1..%d", c, n)
		}
		largest = max(largest, c)
	}
	if largest != n {
		t.Errorf("the largest count a write said is %d, want %d (the last write sees every result)", largest, n)
	}
	if st := runState(t, s, id); st.Results != n {
		t.Errorf("Run says %d results, want %d", st.Results, n)
	}
}
