package report

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

// TestPullAhead: every item in order, the sequence running ahead of next
// (a whole batch produced before the first item is handed out, where
// iter.Pull2 would have produced one), ending at its first error, and
// stopped and waited for when the consumer stops early.
func TestPullAhead(t *testing.T) {
	errBad := errors.New("bad item")
	cases := []struct {
		name    string
		items   int
		failAt  int // index of an item yielded with errBad; -1: none
		stopAt  int // the consumer stops after this many items; -1: reads to the end
		want    int // items the consumer gets
		wantErr bool
	}{
		{name: "empty", items: 0, failAt: -1, stopAt: -1, want: 0},
		{name: "one", items: 1, failAt: -1, stopAt: -1, want: 1},
		{name: "one batch", items: prefetchBatch, failAt: -1, stopAt: -1, want: prefetchBatch},
		{name: "more than the read-ahead", items: prefetchBatch*(prefetchDepth+3) + 7, failAt: -1, stopAt: -1, want: prefetchBatch*(prefetchDepth+3) + 7},
		{name: "error ends it", items: 2000, failAt: 700, stopAt: -1, want: 701, wantErr: true},
		{name: "error first", items: 10, failAt: 0, stopAt: -1, want: 1, wantErr: true},
		{name: "stopped early", items: prefetchBatch * (prefetchDepth + 4), failAt: -1, stopAt: 3, want: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var produced atomic.Int64
			told, returned := false, false
			seq := func(yield func(int, error) bool) {
				defer func() { returned = true }()
				for i := range c.items {
					produced.Add(1)
					var err error
					if i == c.failAt {
						err = errBad
					}
					if !yield(i, err) {
						told = true
						return
					}
					if err != nil {
						t.Errorf("asked for item %d after an error", i+1)
						return
					}
				}
			}
			next, stop := pullAhead(seq)
			var got []int
			var gotErr error
			for c.stopAt < 0 || len(got) < c.stopAt {
				v, err, ok := next()
				if !ok {
					break
				}
				if len(got) == 0 {
					// Ahead: the first item comes with its whole batch made.
					want := min(prefetchBatch, c.items)
					if c.failAt >= 0 {
						want = min(want, c.failAt+1)
					}
					if p := produced.Load(); p < int64(want) {
						t.Errorf("first item handed out with %d produced, want at least %d", p, want)
					}
				}
				got = append(got, v)
				if err != nil {
					gotErr = err
				}
			}
			stop()
			stop() // twice is harmless
			if len(got) != c.want || !slices.Equal(got, seqInts(len(got))) {
				t.Errorf("got %d items %s, want 0..%d in order", len(got), short(got), c.want-1)
			}
			if c.wantErr != errors.Is(gotErr, errBad) {
				t.Errorf("error %v, want %v", gotErr, c.wantErr)
			}
			if !returned {
				t.Error("the sequence had not returned when stop did")
			}
			if c.stopAt >= 0 && !told {
				t.Error("stopped early, but the sequence was not told to stop")
			}
			if p := produced.Load(); p > int64(len(got)+readAhead) {
				t.Errorf("%d items produced for %d handed out: more than the read-ahead (%d)", p, len(got), readAhead)
			}
			if c.stopAt < 0 {
				if v, err, ok := next(); ok {
					t.Errorf("next after the end: %v, %v, true", v, err)
				}
			}
		})
	}
}

func seqInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func short(v []int) string {
	if len(v) > 6 {
		return fmt.Sprint(v[:3], "...", v[len(v)-3:])
	}
	return fmt.Sprint(v)
}
