package sqlite

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// DefaultResultCacheBytes is Config.ResultCacheBytes' default: the
// results of a 5,000-account run in two regions take ~35 MB of JSON.
const DefaultResultCacheBytes = 64 << 20

// resultCache keeps, decoded, the results this Store recorded, so that a
// run's Results need not decode every body again: emitting a report reads
// them twice (the model, then the findings), and decoding them was two
// thirds of local mode's emission, the tail of every run after its last
// AWS call. It is bounded by a budget of body bytes (the JSON each result
// was stored as; decoded, about as much again): a run that would pass it
// is dropped from the cache and read from the file, one result at a time,
// as before.
//
// It only ever holds results whose insert committed, so a run's entries
// are a subset of its rows; Results serves from it only when their number
// equals the run's stored count, which makes them all of its rows (none is
// ever deleted). A result recorded by another process, or before this
// Store opened, keeps the count above the entries for good: that run is
// read from the file. Each entry is what decoding its body would give
// (times as JSON round-trips them; a result with a string that is not
// valid UTF-8, which JSON would alter, is not cached), and every Results
// hands out its own copy.
type resultCache struct {
	mu     sync.Mutex
	budget int64 // body bytes still free
	runs   map[ident.RunID]*cachedRun
}

type cachedRun struct {
	results map[ident.AccountID]*events.AccountScanned
	bytes   int64
	dead    bool // dropped: the run is read from the file
}

func newResultCache(budget int64) *resultCache {
	return &resultCache{budget: budget, runs: map[ident.RunID]*cachedRun{}}
}

// add keeps res, recorded (created) with a body of size bytes.
func (c *resultCache) add(res *events.AccountScanned, size int) {
	if c == nil {
		return
	}
	entry, ok := canonical(res)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.runs[res.RunID]
	if r == nil {
		r = &cachedRun{results: map[ident.AccountID]*events.AccountScanned{}}
		c.runs[res.RunID] = r
	}
	if r.dead {
		return
	}
	if !ok || int64(size) > c.budget {
		c.dropLocked(r)
		return
	}
	r.results[res.AccountID] = entry
	r.bytes += int64(size)
	c.budget -= int64(size)
}

// dropLocked frees r's entries and marks it read from the file.
func (c *resultCache) dropLocked(r *cachedRun) {
	c.budget += r.bytes
	r.results, r.bytes, r.dead = nil, 0, true
}

// forget frees a run's entries (its report is out), without marking it.
func (c *resultCache) forget(id ident.RunID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.runs[id]; r != nil {
		c.budget += r.bytes
		delete(c.runs, id)
	}
}

// snapshot returns copies of the run's results in ascending account id
// order when the cache holds exactly count of them; ok false otherwise.
func (c *resultCache) snapshot(id ident.RunID, count int) (ids []ident.AccountID, get func(ident.AccountID) *events.AccountScanned, ok bool) {
	if c == nil {
		return nil, nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.runs[id]
	if r == nil || r.dead || len(r.results) != count {
		return nil, nil, false
	}
	ids = make([]ident.AccountID, 0, len(r.results))
	entries := make(map[ident.AccountID]*events.AccountScanned, len(r.results))
	for acct, res := range r.results {
		ids = append(ids, acct)
		entries[acct] = res
	}
	return ids, func(a ident.AccountID) *events.AccountScanned { return clone(entries[a]) }, true
}

// canonical is a copy of res as decoding its JSON would give it; ok false
// when JSON would alter a string (not valid UTF-8) or cannot carry a time.
func canonical(res *events.AccountScanned) (*events.AccountScanned, bool) {
	out := clone(res)
	ok := validUTF8(string(out.Type), string(out.RunID), string(out.AccountID), string(out.Status), out.PayloadRef)
	canon := func(t *time.Time) {
		b, err := t.MarshalJSON()
		if err != nil {
			ok = false
			return
		}
		var u time.Time
		if err := u.UnmarshalJSON(b); err != nil {
			ok = false
			return
		}
		*t = u
	}
	canon(&out.ScannedAt)
	for i := range out.Rules {
		r := &out.Rules[i]
		ok = ok && validUTF8(string(r.Region), r.Name, r.Owner, r.SourceIdentifier, r.Compliance)
	}
	for i := range out.Findings {
		f := &out.Findings[i]
		ok = ok && validUTF8(string(f.Region), f.Rule, f.ResourceType, f.ResourceID, f.Compliance, f.Annotation)
		canon(&f.RecordedAt)
	}
	for i := range out.Errors {
		e := &out.Errors[i]
		ok = ok && validUTF8(string(e.Region), e.Stage, e.Code, e.Message)
	}
	for i := range out.Coverage {
		v := &out.Coverage[i]
		ok = ok && validUTF8(string(v.Region), string(v.Read))
		if v.Recorder != nil {
			ok = ok && validUTF8(string(*v.Recorder))
		}
	}
	return out, ok
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// clone copies res deeply enough that nothing the caller can change is
// shared: its slices, and the pointers of its coverage.
func clone(res *events.AccountScanned) *events.AccountScanned {
	out := *res
	out.Rules = cloneSlice(res.Rules)
	out.Findings = cloneSlice(res.Findings)
	out.Errors = cloneSlice(res.Errors)
	out.Coverage = cloneSlice(res.Coverage)
	for i := range out.Coverage {
		v := &out.Coverage[i]
		v.Enabled, v.Recorder, v.Rules = clonePtr(v.Enabled), clonePtr(v.Recorder), clonePtr(v.Rules)
	}
	return &out
}

// cloneSlice copies s, keeping nil nil and empty empty (as JSON decodes
// null and []).
func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
