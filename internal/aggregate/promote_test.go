package aggregate

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// copySpy counts how held results are promoted, and can fail DropHeld, as
// a replica that dies between recording a held result and dropping it.
type copySpy struct {
	store.Store
	hc                               store.HeldCopier
	recordHeld, recordResult, decode atomic.Int32
	failDrop                         atomic.Int32
}

func (s *copySpy) HeldBodies(ctx context.Context, id ident.RunID) iter.Seq2[store.HeldBody, error] {
	return s.hc.HeldBodies(ctx, id)
}

func (s *copySpy) RecordHeld(ctx context.Context, h store.HeldBody) (bool, error) {
	s.recordHeld.Add(1)
	return s.hc.RecordHeld(ctx, h)
}

func (s *copySpy) RecordResult(ctx context.Context, res *events.AccountScanned) (bool, error) {
	s.recordResult.Add(1)
	return s.Store.RecordResult(ctx, res)
}

func (s *copySpy) Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	s.decode.Add(1)
	return s.Store.Held(ctx, id)
}

func (s *copySpy) DropHeld(ctx context.Context, id ident.RunID, acct ident.AccountID) error {
	if s.failDrop.Add(-1) >= 0 {
		return errors.New("replica died before dropping the held result")
	}
	return s.Store.DropHeld(ctx, id, acct)
}

// TestPromoteCopiesHeldBodies: results that came before their RunStarted
// are recorded from their stored bodies (store.HeldCopier: never decoded
// through Held, never recorded through RecordResult), with the hold
// path's semantics: a promotion that dies between recording and dropping
// is redone by the redelivered RunStarted without counting twice; a result
// that does not cover stays held; one of an account the run does not
// expect is dropped, not recorded.
func TestPromoteCopiesHeldBodies(t *testing.T) {
	oneRegion := results()[1]
	oneRegion.Coverage = oneRegion.Coverage[:1]
	stray := results()[2]
	stray.AccountID = "999999999999"
	tests := []struct {
		name       string
		results    []*events.AccountScanned
		failDrop   int32
		wantErrs   int // RunStarted deliveries that fail (and are redelivered)
		recordHeld int32
		recorded   int // Results after
		stillHeld  int
		complete   bool
		// promoted: the metric counts a pass that finished (the one that
		// died recorded one result it never reported).
		promoted int
	}{
		{"every result early", results(), 0, 0, 3, 3, 0, true, 3},
		{"died between recording and dropping", results(), 1, 1, 4, 3, 0, true, 2},
		{"uncovered stays held, stray dropped", []*events.AccountScanned{results()[0], oneRegion, stray}, 0, 0, 1, 1, 1, false, 1},
	}
	stores := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store { return newTestStore(t) },
		"dynamo": func(t *testing.T) store.Store { return dynamoStores(t, 1)[0] },
	}
	for sname, open := range stores {
		for _, tc := range tests {
			t.Run(sname+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				inner := open(t)
				spy := &copySpy{Store: inner, hc: inner.(store.HeldCopier)}
				spy.failDrop.Store(tc.failDrop)
				e := newEnv(t)
				e.store = spy
				a := e.aggregator("replica-a")
				handleAll(t, a, resultMsgs(t, tc.results...))
				errs := 0
				for range tc.wantErrs + 1 { // the RunStarted, redelivered after each failure
					if err := a.Handle(mustMsg(t, runStarted())); err != nil {
						errs++
					}
				}
				if errs != tc.wantErrs {
					t.Fatalf("%d RunStarted deliveries failed, want %d", errs, tc.wantErrs)
				}
				if n := spy.recordHeld.Load(); n != tc.recordHeld {
					t.Errorf("RecordHeld called %d times, want %d", n, tc.recordHeld)
				}
				if n, d := spy.recordResult.Load(), spy.decode.Load(); n != 0 || d != 0 {
					t.Errorf("held results promoted through RecordResult %d times, Held read %d times; want neither", n, d)
				}
				st, err := spy.Run(ctx, runID)
				if err != nil || st.Results != tc.recorded {
					t.Fatalf("Results = %d, %v; want %d", st.Results, err, tc.recorded)
				}
				missing, err := spy.MissingResults(ctx, runID, []ident.AccountID{"111111111111", "012345678901", "222222222222"})
				if err != nil || len(missing) != 3-tc.recorded {
					t.Fatalf("MissingResults = %v, %v; want %d missing", missing, err, 3-tc.recorded)
				}
				left := 0
				for _, err := range inner.Held(ctx, runID) {
					if err != nil {
						t.Fatal(err)
					}
					left++
				}
				if left != tc.stillHeld {
					t.Errorf("%d results still held, want %d", left, tc.stillHeld)
				}
				if got := kicked(a); got != tc.complete {
					t.Errorf("run complete = %v, want %v", got, tc.complete)
				}
				if n := testutil.ToFloat64(a.metrics.promoted); int(n) != tc.promoted {
					t.Errorf("promoted metric = %v, want %d", n, tc.promoted)
				}
			})
		}
	}
}
