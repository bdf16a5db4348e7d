package storetest

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

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
	if err := s.MarkEmitted(ctx, "run-bad", "", "k", "", T0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("MarkEmitted with empty owner on an unclaimed run: err = %v, want ErrInvalid", err)
	}
}
