package aggregate

import (
	"sync"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
)

// absentRuns remembers, for a moment, the runs whose RunStarted this
// replica last read as not recorded, so that each result that arrives
// before its RunStarted (a scheduled run's first seconds at full size: the
// trigger publishes the RunStarted once discovery is done, and a quarter
// of the results came first in the full-size load run, issue 20) is not
// preceded by a read of its run that says the same again. It saves only
// that read: hold reads the run after every early hold and promotes what
// is held when it finds the RunStarted, so an entry gone stale (a
// RunStarted recorded by another replica meanwhile) strands nothing, and
// this replica's own RunStarted goes to the started cache, which lookup
// asks first.
type absentRuns struct {
	mu   sync.Mutex
	seen map[ident.RunID]time.Time
}

// absentFor is how long a read that found no RunStarted stands for the
// next ones; maxAbsent bounds the entries (runs are few: an entry is one
// run's id).
const (
	absentFor = time.Second
	maxAbsent = 64
)

// fresh tells whether id was read as not started within absentFor of now.
func (r *absentRuns) fresh(id ident.RunID, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.seen[id]
	return ok && now.Sub(at) < absentFor && !now.Before(at)
}

// mark records that id's RunStarted was not recorded at now.
func (r *absentRuns) mark(id ident.RunID, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[ident.RunID]time.Time)
	}
	if len(r.seen) >= maxAbsent {
		for k, at := range r.seen {
			if now.Sub(at) >= absentFor || now.Before(at) {
				delete(r.seen, k)
			}
		}
		if len(r.seen) >= maxAbsent {
			clear(r.seen)
		}
	}
	r.seen[id] = now
}

// forget drops id: its RunStarted is recorded.
func (r *absentRuns) forget(id ident.RunID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, id)
}
