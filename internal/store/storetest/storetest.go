// Package storetest is the dedupe store's conformance suite: the semantics
// of store.Store written once and run against every implementation (SQLite,
// DynamoDB), so that the two cannot drift. An implementation's test calls
// Run with a constructor that returns a fresh, empty store.
//
// It is not a benchmark harness and holds no implementation-specific test
// (restart survival, chunking, counter repair live beside each
// implementation).
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// NewStore returns a fresh, empty store for one test and registers its
// Close with t.Cleanup. It is called once per subtest, possibly from
// parallel subtests.
type NewStore func(t *testing.T) store.Store

// T0 is the suite's clock origin: times are explicit, never time.Now, so
// that lease expiry is tested without sleeping.
var T0 = time.Date(2026, 11, 23, 1, 0, 0, 123456789, time.UTC)

// Run runs the whole suite as parallel subtests of t.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RecordRunFirstWriteWins", testRecordRunFirstWriteWins},
		{"RecordResultFirstWriteWins", testRecordResultFirstWriteWins},
		{"ResultsBeforeRunStarted", testResultsBeforeRunStarted},
		{"NotFound", testNotFound},
		{"ResultsOrderedByAccountID", testResultsOrdered},
		{"ResultsStopEarly", testResultsStopEarly},
		{"HasResult", testHasResult},
		{"MissingResults", testMissingResults},
		{"RunsAreIsolated", testRunsIsolated},
		{"ClaimLifecycle", testClaimLifecycle},
		{"ClaimSingleWinner", testClaimSingleWinner},
		{"ClaimNeedsRunStarted", testClaimNeedsRunStarted},
		{"MarkEmitted", testMarkEmitted},
		{"MarkEmittedAfterExpiryWithoutTakeover", testMarkEmittedExpiredNotTaken},
		{"SetTicketAndUnticketed", testSetTicket},
		{"TicketLease", testTicketLease},
		{"TicketLeaseSingleWinner", testTicketLeaseSingleWinner},
		{"Pending", testPending},
		{"PendingBoundedEarliestDeadlineFirst", testPendingBounded},
		{"HeldResults", testHeldResults},
		{"HeldLargeResult", testHeldLarge},
		{"AdhocJoin", testAdhocJoin},
		{"AdhocJoinOnlyOnce", testAdhocJoinOnce},
		{"LargeRun", testLargeRun},
		{"LargeResult", testLargeResult},
		{"ConcurrentRecord", testConcurrentRecord},
		{"InvalidInput", testInvalid},
		{"ResultCounter", testResultCounter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Account returns the 12-digit account id of n (leading zeros kept).
func Account(n int) ident.AccountID { return ident.AccountID(fmt.Sprintf("%012d", n)) }

// NewRun returns a valid RunStarted listing accounts 1..n.
func NewRun(id ident.RunID, n int) *events.RunStarted {
	accts := make([]events.Account, n)
	for i := range accts {
		accts[i] = events.Account{AccountID: Account(i + 1), Name: fmt.Sprintf("acct-%d", i+1), OUPath: "Root/Prod"}
	}
	return &events.RunStarted{
		Header:    events.Header{Type: events.TypeRunStarted, SchemaVersion: events.SchemaVersion},
		RunID:     id,
		Trigger:   events.TriggerScheduled,
		StartedAt: T0,
		Deadline:  T0.Add(45 * time.Minute),
		Regions:   []ident.Region{"us-east-1", "eu-west-1"},
		Accounts:  accts,
	}
}

// bigResults caches the large results: building and encoding 20,000
// findings under -race costs seconds, and the suite runs several times per
// package. Stores only read what they are given.
var bigResults sync.Map

// NewResult returns a valid AccountScanned with nFindings findings whose
// resource ids are pseudo-random (seeded by account), so that compressed
// they are still large. Large ones are shared: callers must not modify them.
func NewResult(id ident.RunID, acct ident.AccountID, nFindings int) *events.AccountScanned {
	if nFindings < 1000 {
		return newResult(id, acct, nFindings)
	}
	k := fmt.Sprintf("%s/%s/%d", id, acct, nFindings)
	if v, ok := bigResults.Load(k); ok {
		return v.(*events.AccountScanned)
	}
	v, _ := bigResults.LoadOrStore(k, newResult(id, acct, nFindings))
	return v.(*events.AccountScanned)
}

func newResult(id ident.RunID, acct ident.AccountID, nFindings int) *events.AccountScanned {
	rng := rand.New(rand.NewPCG(uint64(len(acct)), uint64(nFindings)))
	res := &events.AccountScanned{
		Header:     events.Header{Type: events.TypeAccountScanned, SchemaVersion: events.SchemaVersion},
		RunID:      id,
		AccountID:  acct,
		Status:     events.StatusOK,
		ScannedAt:  T0.Add(time.Minute),
		DurationMS: 1234,
		Rules: []events.Rule{{Region: "us-east-1", Name: "s3-bucket-ssl", Owner: "AWS",
			SourceIdentifier: "S3_BUCKET_SSL_REQUESTS_ONLY", Compliance: events.NonCompliant, NoncompliantCount: nFindings}},
		Findings: make([]events.Finding, nFindings),
		Errors:   []events.ScanError{},
	}
	for i := range res.Findings {
		res.Findings[i] = events.Finding{
			Region: "us-east-1", Rule: "s3-bucket-ssl", ResourceType: "AWS::S3::Bucket",
			ResourceID: fmt.Sprintf("bucket-%d-%016x%016x", i, rng.Uint64(), rng.Uint64()),
			Compliance: events.NonCompliant,
			Annotation: "bucket policy does not deny aws:SecureTransport=false",
			RecordedAt: T0.Add(time.Duration(i) * time.Second),
		}
	}
	return res
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON checks that got encodes as want does. DeepEqual first: it is
// far cheaper than encoding 20,000 findings twice under -race, and when it
// says equal the encodings are equal too.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, w := mustJSON(t, got), mustJSON(t, want)
	if g != w {
		if len(g) > 300 {
			g = g[:300] + "..."
		}
		if len(w) > 300 {
			w = w[:300] + "..."
		}
		t.Errorf("%s differs from what was first written:\n got  %s\n want %s", what, g, w)
	}
}

func recordRun(t *testing.T, s store.Store, run *events.RunStarted, wantCreated bool) {
	t.Helper()
	created, err := s.RecordRun(ctxOf(t), run)
	if err != nil {
		t.Fatalf("RecordRun(%s): %v", run.RunID, err)
	}
	if created != wantCreated {
		t.Fatalf("RecordRun(%s) created = %v, want %v", run.RunID, created, wantCreated)
	}
}

func recordResult(t *testing.T, s store.Store, res *events.AccountScanned, wantCreated bool) {
	t.Helper()
	created, err := s.RecordResult(ctxOf(t), res)
	if err != nil {
		t.Fatalf("RecordResult(%s/%s): %v", res.RunID, res.AccountID, err)
	}
	if created != wantCreated {
		t.Fatalf("RecordResult(%s/%s) created = %v, want %v (first write must win)", res.RunID, res.AccountID, created, wantCreated)
	}
}

func runState(t *testing.T, s store.Store, id ident.RunID) store.RunState {
	t.Helper()
	st, err := s.Run(ctxOf(t), id)
	if err != nil {
		t.Fatalf("Run(%s): %v", id, err)
	}
	if st.RunID != id {
		t.Fatalf("Run(%s).RunID = %q", id, st.RunID)
	}
	return st
}

func collect(t *testing.T, s store.Store, id ident.RunID) []*events.AccountScanned {
	t.Helper()
	var out []*events.AccountScanned
	for res, err := range s.Results(ctxOf(t), id) {
		if err != nil {
			t.Fatalf("Results(%s): %v", id, err)
		}
		out = append(out, res)
	}
	return out
}

func claim(t *testing.T, s store.Store, id ident.RunID, owner string, now time.Time, ttl time.Duration, wantErr error) store.Claim {
	t.Helper()
	c, err := s.Claim(ctxOf(t), id, owner, now, ttl)
	if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
		t.Fatalf("Claim(%s, %s, %s) err = %v, want %v", id, owner, now.Format(time.RFC3339Nano), err, wantErr)
	}
	return c
}

func markEmitted(t *testing.T, s store.Store, id ident.RunID, owner, key string, now time.Time, wantErr error) {
	t.Helper()
	err := s.MarkEmitted(ctxOf(t), id, owner, key, now)
	if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
		t.Fatalf("MarkEmitted(%s, %s, %s) err = %v, want %v", id, owner, key, err, wantErr)
	}
}

func testRecordRunFirstWriteWins(t *testing.T, s store.Store) {
	first := NewRun("run-fww", 3)
	recordRun(t, s, first, true)
	second := NewRun("run-fww", 5)
	second.Trigger = events.TriggerAdhoc
	second.Deadline = T0.Add(time.Hour)
	recordRun(t, s, second, false)
	recordRun(t, s, first, false)
	st := runState(t, s, "run-fww")
	if st.Started == nil {
		t.Fatal("Run().Started is nil after RecordRun")
	}
	sameJSON(t, "RunStarted", st.Started, first)
	if st.Results != 0 || st.Emitted || !st.GeneratedAt.IsZero() || st.ClaimOwner != "" {
		t.Errorf("fresh run state = %+v, want no results, claim or emission", st)
	}
}

func testRecordResultFirstWriteWins(t *testing.T, s store.Store) {
	recordRun(t, s, NewRun("run-fww", 3), true)
	first := NewResult("run-fww", Account(1), 3)
	recordResult(t, s, first, true)
	second := NewResult("run-fww", Account(1), 7)
	second.Status = events.StatusFailed
	second.Errors = []events.ScanError{{Stage: events.StageAssumeRole, Code: "AccessDenied", Message: "no", Attempts: 1}}
	recordResult(t, s, second, false)
	recordResult(t, s, first, false)
	if st := runState(t, s, "run-fww"); st.Results != 1 {
		t.Errorf("Run().Results = %d after one account's result written three times, want 1", st.Results)
	}
	got := collect(t, s, "run-fww")
	if len(got) != 1 {
		t.Fatalf("Results yielded %d results, want 1", len(got))
	}
	sameJSON(t, "AccountScanned", got[0], first)
}

func testResultsBeforeRunStarted(t *testing.T, s store.Store) {
	recordResult(t, s, NewResult("run-early", Account(2), 1), true)
	recordResult(t, s, NewResult("run-early", Account(1), 1), true)
	st := runState(t, s, "run-early")
	if st.Started != nil || st.Results != 2 {
		t.Fatalf("before RunStarted: Started = %v, Results = %d; want nil, 2", st.Started, st.Results)
	}
	if has, err := s.HasResult(ctxOf(t), "run-early", Account(2)); err != nil || !has {
		t.Fatalf("HasResult = %v, %v; want true", has, err)
	}
	run := NewRun("run-early", 3)
	recordRun(t, s, run, true)
	st = runState(t, s, "run-early")
	if st.Started == nil || st.Results != 2 {
		t.Fatalf("after RunStarted: Started = %v, Results = %d; want the run, 2", st.Started, st.Results)
	}
	sameJSON(t, "RunStarted", st.Started, run)
	recordResult(t, s, NewResult("run-early", Account(3), 1), true)
	if st := runState(t, s, "run-early"); st.Results != 3 {
		t.Fatalf("Results = %d, want 3", st.Results)
	}
	if got := collect(t, s, "run-early"); len(got) != 3 {
		t.Fatalf("Results yielded %d, want 3", len(got))
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	if _, err := s.Run(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Run(unknown) err = %v, want ErrNotFound", err)
	}
	if has, err := s.HasResult(ctx, "nope", Account(1)); err != nil || has {
		t.Errorf("HasResult(unknown) = %v, %v; want false, nil", has, err)
	}
	if got := collect(t, s, "nope"); len(got) != 0 {
		t.Errorf("Results(unknown) yielded %d", len(got))
	}
	claim(t, s, "nope", "a", T0, time.Minute, store.ErrNotFound)
	markEmitted(t, s, "nope", "a", "k", T0, store.ErrNotFound)
	if err := s.SetTicket(ctx, "nope", "SEC-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetTicket(unknown) err = %v, want ErrNotFound", err)
	}
}

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

func testRunsIsolated(t *testing.T, s store.Store) {
	// Run ids that prefix one another must not share results.
	recordRun(t, s, NewRun("r1", 2), true)
	recordRun(t, s, NewRun("r10", 2), true)
	recordResult(t, s, NewResult("r1", Account(1), 1), true)
	recordResult(t, s, NewResult("r10", Account(1), 1), true)
	recordResult(t, s, NewResult("r10", Account(2), 1), true)
	if st := runState(t, s, "r1"); st.Results != 1 {
		t.Errorf("r1 Results = %d, want 1", st.Results)
	}
	if st := runState(t, s, "r10"); st.Results != 2 {
		t.Errorf("r10 Results = %d, want 2", st.Results)
	}
	if got := collect(t, s, "r1"); len(got) != 1 || got[0].RunID != "r1" {
		t.Errorf("Results(r1) = %d results", len(got))
	}
	claim(t, s, "r1", "a", T0, time.Minute, nil)
	claim(t, s, "r10", "b", T0, time.Minute, nil)
}

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

func emit(t *testing.T, s store.Store, id ident.RunID) {
	t.Helper()
	claim(t, s, id, "o", T0, time.Minute, nil)
	markEmitted(t, s, id, "o", "reports/"+string(id)+".xlsx", T0.Add(time.Second), nil)
}

func ids(states []store.RunState) []ident.RunID {
	out := make([]ident.RunID, 0, len(states))
	for _, st := range states {
		out = append(out, st.RunID)
	}
	slices.Sort(out)
	return out
}

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

func claimTicket(t *testing.T, s store.Store, id ident.RunID, owner string, now time.Time, ttl time.Duration, wantErr error) {
	t.Helper()
	until, err := s.ClaimTicket(ctxOf(t), id, owner, now, ttl)
	if wantErr == nil {
		if err != nil || !until.Equal(now.Add(ttl)) {
			t.Fatalf("ClaimTicket(%s, %s, %s) = %s, %v; want %s", id, owner, now.Format(time.RFC3339Nano), until, err, now.Add(ttl))
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("ClaimTicket(%s, %s, %s) err = %v, want %v", id, owner, now.Format(time.RFC3339Nano), err, wantErr)
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

func testConcurrentRecord(t *testing.T, s store.Store) {
	// Several "replicas" deliver the same 40 results (duplicates included)
	// concurrently with the RunStarted: each account is created exactly once.
	const id, accounts, replicas = "run-conc", 40, 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[ident.AccountID]int{}
		runs    int
		errs    []error
	)
	for r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxOf(t)
			order := rand.New(rand.NewPCG(uint64(r), 9)).Perm(accounts)
			for i, n := range order {
				if i == accounts/2 {
					ok, err := s.RecordRun(ctx, NewRun(id, accounts))
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else if ok {
						runs++
					}
					mu.Unlock()
				}
				ok, err := s.RecordResult(ctx, NewResult(id, Account(n+1), 2))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if ok {
					created[Account(n+1)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent writes failed: %v", errors.Join(errs...))
	}
	if runs != 1 {
		t.Errorf("RunStarted created %d times, want 1", runs)
	}
	for n := 1; n <= accounts; n++ {
		if created[Account(n)] != 1 {
			t.Errorf("account %s created %d times, want 1", Account(n), created[Account(n)])
		}
	}
	if st := runState(t, s, id); st.Results != accounts {
		t.Errorf("Results = %d, want %d", st.Results, accounts)
	}
	if got := collect(t, s, id); len(got) != accounts {
		t.Errorf("Results yielded %d, want %d", len(got), accounts)
	}
}

func testInvalid(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	bad := NewResult("run-bad", "12345", 1)
	if _, err := s.RecordResult(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordResult with account 12345: err = %v, want ErrInvalid", err)
	}
	ref := NewResult("run-bad", Account(1), 1)
	ref.PayloadRef = "payloads/x.json"
	if _, err := s.RecordResult(ctx, ref); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordResult with an unresolved payload_ref: err = %v, want ErrInvalid", err)
	}
	if _, err := s.RecordRun(ctx, NewRun("bad run id!", 1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordRun with a bad run id: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Run(ctx, "run-bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused events were stored: Run err = %v", err)
	}
	recordRun(t, s, NewRun("run-bad", 1), true)
	if _, err := s.Claim(ctx, "run-bad", "", T0, time.Minute); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Claim with empty owner: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Claim(ctx, "run-bad", "a", T0, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Claim with zero ttl: err = %v, want ErrInvalid", err)
	}
	if err := s.MarkEmitted(ctx, "run-bad", "", "k", T0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("MarkEmitted with empty owner on an unclaimed run: err = %v, want ErrInvalid", err)
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

// Covering returns res with a coverage entry (read yes) for each region.
func Covering(res *events.AccountScanned, regions ...ident.Region) *events.AccountScanned {
	out := *res
	out.Coverage = nil
	for _, r := range regions {
		out.Coverage = append(out.Coverage, events.Coverage{Region: r, Read: events.ReadYes})
	}
	return &out
}

// NewAdhocRun returns a valid ad-hoc RunStarted of one account.
func NewAdhocRun(id ident.RunID, acct ident.AccountID, startedAt time.Time) *events.RunStarted {
	run := NewRun(id, 1)
	run.Trigger = events.TriggerAdhoc
	run.Accounts[0].AccountID = acct
	run.StartedAt, run.Deadline = startedAt, startedAt.Add(45*time.Minute)
	return run
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

func held(t *testing.T, s store.Store, id ident.RunID) []*events.AccountScanned {
	t.Helper()
	var out []*events.AccountScanned
	for res, err := range s.Held(ctxOf(t), id) {
		if err != nil {
			t.Fatalf("Held(%s): %v", id, err)
		}
		out = append(out, res)
	}
	return out
}

func hold(t *testing.T, s store.Store, res *events.AccountScanned, want bool) {
	t.Helper()
	got, err := s.HoldResult(ctxOf(t), res)
	if err != nil {
		t.Fatalf("HoldResult(%s/%s): %v", res.RunID, res.AccountID, err)
	}
	if got != want {
		t.Fatalf("HoldResult(%s/%s, breadth %d) = %v, want %v", res.RunID, res.AccountID, store.Breadth(res), got, want)
	}
}

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
