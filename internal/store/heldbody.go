package store

import (
	"context"
	"iter"
	"slices"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// HeldBody is a held result as its store keeps it: what promotion decides
// on (account, status, covered regions), and its body in the store's own
// encoding, which only that store reads.
type HeldBody struct {
	RunID     ident.RunID
	AccountID ident.AccountID
	Status    events.Status
	// Regions are the regions the result's coverage covers, each once,
	// sorted.
	Regions []ident.Region
	// Body is the stored encoding (opaque; RecordHeld's to read).
	Body []byte
}

// Covers tells whether the held result covers every region of want, as
// events.AccountScanned.Uncovered would find none.
func (h HeldBody) Covers(want []ident.Region) bool {
	for _, r := range want {
		if !slices.Contains(h.Regions, r) {
			return false
		}
	}
	return true
}

// CoveredRegions returns the distinct regions of res's coverage, sorted:
// HeldBody's Regions.
func CoveredRegions(res *events.AccountScanned) []ident.Region {
	out := make([]ident.Region, 0, len(res.Coverage))
	for _, c := range res.Coverage {
		out = append(out, c.Region)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// HeldCopier is a Store that records a held result from its stored body as
// is: promoting a held result then neither decodes nor re-encodes it.
// Optional: the aggregator promotes through Held and RecordResult with
// stores without it. storetest checks it when a store has it.
type HeldCopier interface {
	// HeldBodies is Held without decoding the bodies: the run's held
	// results in ascending account id order, one at a time.
	HeldBodies(ctx context.Context, id ident.RunID) iter.Seq2[HeldBody, error]
	// RecordHeld records the result h holds, h as HeldBodies yielded it
	// (its RunID unchanged: the body names its run), exactly as
	// RecordResult records that result: first write wins (false, and
	// nothing changes, when the (run, account) has a result already), and
	// a recorded result counts. The held result stays (DropHeld), so a
	// crash between the two leaves it to be promoted again.
	RecordHeld(ctx context.Context, h HeldBody) (created bool, err error)
}
