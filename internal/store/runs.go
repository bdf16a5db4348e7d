package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// RunSummary is a run as an operator sees it (RunLister): its state and
// the counts of its expected accounts.
type RunSummary struct {
	RunState
	// Expected is the number of distinct accounts its RunStarted lists.
	Expected int
	// Reported is how many of them have a recorded result (held results
	// do not count, as for completion); Failed how many of those have
	// status failed; Missing = Expected - Reported, the accounts not yet
	// reported (MISSING rows once the run is emitted).
	Reported, Failed, Missing int
	// Unreported lists the expected accounts without a recorded result,
	// in the RunStarted's order: filled by RunSummary, nil from Recent.
	Unreported []events.Account
}

// RunLister is what the operator's status command (cmd/configreport runs)
// reads. It is not part of Store: the aggregator never lists past runs,
// and on DynamoDB listing them is a Scan that the services' role is not
// granted (see dynamo's Recent). Reads only: it never repairs or writes.
type RunLister interface {
	// Recent returns up to limit (> 0) runs with a recorded RunStarted,
	// the latest started_at first (ties: run id descending), without
	// Unreported. Runs with results but no RunStarted are not listed.
	Recent(ctx context.Context, limit int) ([]RunSummary, error)
	// RunSummary returns one run with Unreported filled; ErrNotFound when
	// the store has neither its RunStarted nor any result.
	RunSummary(ctx context.Context, id ident.RunID) (RunSummary, error)
}

// Summarize counts a run's accounts from the statuses of its recorded
// results (account -> status; accounts not expected are ignored): the
// last step of every RunLister. Unreported is filled when withUnreported.
func Summarize(st RunState, statuses map[ident.AccountID]events.Status, withUnreported bool) RunSummary {
	sum := RunSummary{RunState: st}
	if st.Started == nil {
		sum.Reported = len(statuses)
		for _, s := range statuses {
			if s == events.StatusFailed {
				sum.Failed++
			}
		}
		return sum
	}
	seen := make(map[ident.AccountID]bool, len(st.Started.Accounts))
	for _, a := range st.Started.Accounts {
		if seen[a.AccountID] {
			continue
		}
		seen[a.AccountID] = true
		sum.Expected++
		status, ok := statuses[a.AccountID]
		switch {
		case !ok:
			sum.Missing++
			if withUnreported {
				sum.Unreported = append(sum.Unreported, a)
			}
		case status == events.StatusFailed:
			sum.Reported++
			sum.Failed++
		default:
			sum.Reported++
		}
	}
	return sum
}

// ByLatest orders runs, given their started_at and id, as Recent lists
// them: started_at descending, then run id descending.
func ByLatest(ta time.Time, a ident.RunID, tb time.Time, b ident.RunID) int {
	if c := tb.Compare(ta); c != 0 {
		return c
	}
	return cmp.Compare(b, a)
}

// RunStart is what Recent orders a run by: its id and started_at.
type RunStart struct {
	ID ident.RunID
	At time.Time
}

// Latest sorts runs ByLatest, keeps the limit first and reads each one's
// summary: the part of Recent both stores share once they have listed
// their runs.
func Latest(ctx context.Context, runs []RunStart, limit int, summary func(context.Context, ident.RunID) (RunSummary, error)) ([]RunSummary, error) {
	slices.SortFunc(runs, func(a, b RunStart) int { return ByLatest(a.At, a.ID, b.At, b.ID) })
	runs = runs[:min(limit, len(runs))]
	out := make([]RunSummary, 0, len(runs))
	for _, r := range runs {
		sum, err := summary(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("recent runs: %w", err)
		}
		out = append(out, sum)
	}
	return out, nil
}
