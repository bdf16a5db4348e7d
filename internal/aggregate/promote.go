package aggregate

import (
	"context"
	"fmt"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// promoteEach promotes the held results of st's run into target (st's
// run, or the run it joined) and returns how many it recorded (see
// promoteHeld). With a store.HeldCopier and no move between runs, a held
// result is recorded from its stored body as is: only its status and
// covered regions are read, never its findings, and nothing is encoded
// again. The order of the writes is the same on both paths (record, then
// drop), so a crash between the two leaves the held result to be promoted
// again, which first write wins makes harmless and which counts it if the
// crash came before the count.
func (a *Aggregator) promoteEach(ctx context.Context, st, target store.RunState) (int, error) {
	expected := make(map[ident.AccountID]bool, len(target.Started.Accounts))
	for _, acc := range target.Started.Accounts {
		expected[acc.AccountID] = true
	}
	if hc, ok := a.store.(store.HeldCopier); ok && st.RunID == target.RunID {
		return a.promoteCopied(ctx, hc, target, expected)
	}
	return a.promoteDecoded(ctx, st, target, expected)
}

// promoteCopied is promoteEach through a store.HeldCopier, within one run.
func (a *Aggregator) promoteCopied(ctx context.Context, hc store.HeldCopier, target store.RunState, expected map[ident.AccountID]bool) (int, error) {
	id := target.RunID
	promoted := 0
	for h, err := range hc.HeldBodies(ctx, id) {
		if err != nil {
			return 0, fmt.Errorf("promote held results of run %s: %w", id, err)
		}
		switch acct := h.AccountID; {
		case !expected[acct]:
			// Not expected: left out of the report anyway.
		case h.Covers(target.Started.Regions):
			// Recorded even when a result is there already: see
			// promoteDecoded.
			created, err := hc.RecordHeld(ctx, h)
			if err != nil {
				return 0, fmt.Errorf("promote held result of run %s account %s: %w", id, acct, err)
			}
			if created {
				promoted++
				a.metrics.resultRecorded(id, h.Status)
			}
		default:
			continue // still held, for the deadline
		}
		if err := a.store.DropHeld(ctx, id, h.AccountID); err != nil {
			return 0, err
		}
	}
	return promoted, nil
}

// promoteDecoded is promoteEach through Held and RecordResult: for stores
// without store.HeldCopier, and for the results an ad-hoc run that joined
// another moves to it (their bodies name the run they came with).
func (a *Aggregator) promoteDecoded(ctx context.Context, st, target store.RunState, expected map[ident.AccountID]bool) (int, error) {
	promoted := 0
	for res, err := range a.store.Held(ctx, st.RunID) {
		if err != nil {
			return 0, fmt.Errorf("promote held results of run %s: %w", st.RunID, err)
		}
		acct := res.AccountID
		if res.RunID != target.RunID {
			moved := *res
			moved.RunID = target.RunID
			res = &moved
		}
		switch {
		case !expected[acct]:
			// Not expected: left out of the report anyway.
		case covers(res, target.Started):
			// Recorded even when a result is there already (first write
			// wins, so this changes nothing then): a replica that died
			// after writing this result but before counting it left the
			// held result as the only trace, its message acknowledged
			// when it was held, and recording again is what counts it.
			created, err := a.store.RecordResult(ctx, res)
			if err != nil {
				return 0, fmt.Errorf("promote held result of run %s account %s: %w", st.RunID, acct, err)
			}
			if created {
				promoted++
				a.metrics.resultRecorded(target.RunID, res.Status)
			}
		case st.RunID != target.RunID:
			if _, err := a.store.HoldResult(ctx, res); err != nil {
				return 0, fmt.Errorf("move held result of run %s account %s: %w", st.RunID, acct, err)
			}
		default:
			continue // still held, for the deadline
		}
		if err := a.store.DropHeld(ctx, st.RunID, acct); err != nil {
			return 0, err
		}
	}
	return promoted, nil
}
