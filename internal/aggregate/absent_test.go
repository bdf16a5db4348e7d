package aggregate

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/sqlite"
)

// runReads is the test store counting its Run reads.
type runReads struct {
	*sqlite.Store
	n atomic.Int64
}

func (s *runReads) Run(ctx context.Context, id ident.RunID) (store.RunState, error) {
	s.n.Add(1)
	return s.Store.Run(ctx, id)
}

// TestEarlyResultsReadTheRunOnce: results that arrive before their
// RunStarted are held; the first one's lookup finds the run not started,
// which stands for a moment (absentFor), so the next ones are held without
// that read (each still reads the run once after its hold, which promotes
// them when the RunStarted was recorded meanwhile, by this replica or
// another). Whatever the reads, every result is recorded once its
// RunStarted is.
func TestEarlyResultsReadTheRunOnce(t *testing.T) {
	tests := []struct {
		name string
		// pause is the time between two results.
		pause time.Duration
		// startedBy: "" no RunStarted until the results are in; "this"
		// replica or an "other" records it after the first result.
		startedBy string
		// wantReads: the Run reads while the three results are handled
		// (not the RunStarted's own).
		wantReads int64
	}{
		// lookup and the read after the hold, then that read alone.
		{"three results, no RunStarted", 0, "", 2 + 1 + 1},
		{"three results, a moment apart", absentFor, "", 2 + 2 + 2},
		// Then the RunStarted is known: no reads.
		{"RunStarted recorded here after the first", 0, "this", 2},
		// The second is held, the read after its hold finds the
		// RunStarted and promotes (and reads the run again to kick it);
		// the third finds it known.
		{"RunStarted recorded by another replica after the first", 0, "other", 2 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			s := &runReads{Store: e.store.(*sqlite.Store)}
			e.store = s
			a := e.aggregator("replica-a")
			for i, r := range results() {
				if i == 1 {
					switch tt.startedBy {
					case "this":
						n := s.n.Load()
						handleAll(t, a, []*message.Message{mustMsg(t, runStarted())})
						s.n.Store(n)
					case "other":
						if _, err := s.Store.RecordRun(ctx, runStarted()); err != nil {
							t.Fatal(err)
						}
					}
				}
				if i > 0 {
					e.clock.Add(tt.pause)
				}
				handleAll(t, a, []*message.Message{mustMsg(t, r)})
			}
			if got := s.n.Load(); got != tt.wantReads {
				t.Errorf("Run reads = %d, want %d", got, tt.wantReads)
			}
			handleAll(t, a, []*message.Message{mustMsg(t, runStarted())})
			if st := e.state(); st.Results != 3 {
				t.Errorf("Results = %d once the RunStarted is read, want 3", st.Results)
			}
		})
	}
}

// TestAbsentRuns: an entry stands for absentFor from its read (not before
// it: a clock that went back), forget drops it, and the entries stay
// within maxAbsent, the stale ones dropped first.
func TestAbsentRuns(t *testing.T) {
	now := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		setup func(r *absentRuns)
		at    time.Time
		fresh bool
		size  int
	}{
		{"unknown", func(r *absentRuns) {}, now, false, 0},
		{"just read", func(r *absentRuns) { r.mark("run", now) }, now, true, 1},
		{"within the moment", func(r *absentRuns) { r.mark("run", now) }, now.Add(absentFor - 1), true, 1},
		{"after the moment", func(r *absentRuns) { r.mark("run", now) }, now.Add(absentFor), false, 1},
		{"before its read", func(r *absentRuns) { r.mark("run", now) }, now.Add(-1), false, 1},
		{"forgotten", func(r *absentRuns) { r.mark("run", now); r.forget("run") }, now, false, 0},
		{"full of stale entries", func(r *absentRuns) {
			for i := range maxAbsent {
				r.mark(ident.RunID(rune('a'+i%26))+ident.RunID(rune('a'+i/26)), now.Add(-absentFor))
			}
			r.mark("run", now)
		}, now, true, 1},
		{"full of fresh entries", func(r *absentRuns) {
			for i := range maxAbsent {
				r.mark(ident.RunID(rune('a'+i%26))+ident.RunID(rune('a'+i/26)), now)
			}
			r.mark("run", now)
		}, now, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r absentRuns
			tt.setup(&r)
			if got := r.fresh("run", tt.at); got != tt.fresh {
				t.Errorf("fresh = %v, want %v", got, tt.fresh)
			}
			if len(r.seen) != tt.size {
				t.Errorf("%d entries, want %d", len(r.seen), tt.size)
			}
		})
	}
}
