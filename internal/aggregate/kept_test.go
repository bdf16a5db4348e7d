package aggregate

import (
	"bytes"
	"context"
	"iter"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// readCounting counts the passes over a run's results and held results.
type readCounting struct {
	store.Store
	results, held atomic.Int64
}

func (s *readCounting) Results(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	s.results.Add(1)
	return s.Store.Results(ctx, id)
}

func (s *readCounting) Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	s.held.Add(1)
	return s.Store.Held(ctx, id)
}

// TestEmitKeepsFindingsBetweenPasses: within Config.KeptFindingsBytes an
// emission reads the run's results (and held results) once, the findings
// coming from the first pass; over it (from the start, or passed midway)
// it reads them again; the workbook and the findings file are the same
// bytes either way. The run has a held result counted at the deadline
// whose account sorts before the recorded ones, so the rows' account order
// is checked against the merge of the two streams.
func TestEmitKeepsFindingsBetweenPasses(t *testing.T) {
	var wantBook, wantFindings []byte
	// The recorded account's rows fit exactly; the held account's, read
	// after them, pass the budget.
	first := results()[0]
	c := convert(first, events.Account{}, map[ident.Region]bool{"us-east-1": true, "eu-west-1": true}, nil)
	firstBytes := rowsBytes(slices.Clip(c.sortedFindings(first)))
	for _, tc := range []struct {
		name                string
		budget              int64
		wantReads, wantHeld int64
	}{
		{name: "never kept", budget: -1, wantReads: 2, wantHeld: 2},
		{name: "kept (default budget)", budget: 0, wantReads: 1, wantHeld: 1},
		{name: "budget passed midway", budget: firstBytes, wantReads: 2, wantHeld: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			counting := &readCounting{Store: e.store}
			a := e.aggregator("replica-a", func(c *Config, d *Deps) {
				c.KeptFindingsBytes = tc.budget
				d.Store = counting
			})
			res := results()
			res[1].Coverage = res[1].Coverage[:1] // 012345678901: held, counted at the deadline
			handleAll(t, a, append(allMessages(t)[:1], resultMsgs(t, res...)...))
			e.clock.Add(45 * time.Minute)
			counting.results.Store(0)
			counting.held.Store(0)
			a.Check(ctx)
			ups, fups := e.blob.uploads(), e.blob.findingsUploads()
			if len(ups) != 1 || len(fups) != 1 {
				t.Fatalf("%d workbooks, %d findings files uploaded; want 1 and 1", len(ups), len(fups))
			}
			if r, h := counting.results.Load(), counting.held.Load(); r != tc.wantReads || h != tc.wantHeld {
				t.Errorf("emission read the results %d times and the held results %d times, want %d and %d", r, h, tc.wantReads, tc.wantHeld)
			}
			if wantBook == nil {
				wantBook, wantFindings = ups[0].body, fups[0].body
				if got := len(rows(t, wantBook, report.SheetFindings)); got < 6 { // a header, the 5 rows
					t.Fatalf("Findings sheet has %d rows, want a header and 5 at least", got)
				}
				return
			}
			if !bytes.Equal(ups[0].body, wantBook) {
				t.Error("the workbook differs from the one rendered reading the results twice")
			}
			if !bytes.Equal(fups[0].body, wantFindings) {
				t.Error("the findings file differs from the one rendered reading the results twice")
			}
		})
	}
}
