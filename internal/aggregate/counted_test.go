package aggregate

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
)

// runCounting counts the store's Run reads; embedding the SQLite store
// keeps its RecordResultCounted (store.ResultCounter).
type runCounting struct {
	*sqlite.Store
	runs atomic.Int64
}

func (s *runCounting) Run(ctx context.Context, id ident.RunID) (store.RunState, error) {
	s.runs.Add(1)
	return s.Store.Run(ctx, id)
}

// plainStore hides RecordResultCounted: a store without store.ResultCounter.
type plainStore struct{ store.Store }

func kicked(a *Aggregator) bool {
	select {
	case id := <-a.kicks:
		return id == runID
	default:
		return false
	}
}

// TestResultsWithoutRunReads: with a store that counts as it records, the
// handler reads the run once per replica (to learn its RunStarted), not
// once per result; without, once per result. Both find the run complete on
// the last result, also when two replicas share the store and the last
// result reaches the one that has seen the fewest.
func TestResultsWithoutRunReads(t *testing.T) {
	res := results()
	for _, tc := range []struct {
		name string
		wrap func(*runCounting) store.Store
		// Run reads by replica a (RunStarted, results 1-2) and b (result 3).
		wantA, wantB int64
	}{
		{"store.ResultCounter", func(s *runCounting) store.Store { return s }, 1, 1},
		// b: once to learn the run's regions (is the result covering?),
		// once for the count after the write.
		{"plain store", func(s *runCounting) store.Store { return plainStore{s} }, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), sqlite.FileName)
			sa, sb := &runCounting{Store: openStore(t, path)}, &runCounting{Store: openStore(t, path)}
			e := newEnv(t)
			a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Store = tc.wrap(sa) })
			b := e.aggregator("replica-b", func(_ *Config, d *Deps) { d.Store = tc.wrap(sb) })
			handleAll(t, a, []*message.Message{mustMsg(t, runStarted()), mustMsg(t, res[0]), mustMsg(t, res[1])})
			if kicked(a) {
				t.Fatal("kicked with a result missing")
			}
			handleAll(t, b, []*message.Message{mustMsg(t, res[2])})
			if !kicked(b) {
				t.Fatal("the replica handling the last result did not find the run complete")
			}
			if got := sa.runs.Load(); got != tc.wantA {
				t.Errorf("replica a read the run %d times, want %d", got, tc.wantA)
			}
			if got := sb.runs.Load(); got != tc.wantB {
				t.Errorf("replica b read the run %d times, want %d", got, tc.wantB)
			}

			// Emitted by b; a late result reaching a (which knows the run)
			// changes nothing and wakes nobody.
			if err := b.Emit(context.Background(), runID); err != nil {
				t.Fatal(err)
			}
			late := *res[0]
			late.AccountID = "333333333333"
			handleAll(t, a, []*message.Message{mustMsg(t, &late)})
			if kicked(a) {
				t.Error("a result after emission woke the loop")
			}
			if n := testutil.ToFloat64(a.metrics.events.WithLabelValues(string(events.TypeAccountScanned), "late")); n != 1 {
				t.Errorf("late results counted %v, want 1", n)
			}
		})
	}
}
