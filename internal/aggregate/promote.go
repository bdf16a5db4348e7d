package aggregate

import (
	"context"
	"fmt"
	"iter"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// heldResult is one held result as promotion decides on it, from either
// source (heldCopied, heldDecoded).
type heldResult struct {
	account ident.AccountID
	status  events.Status
	covers  bool // covers every region of the target run
	// record records it in the target run (first write wins: false when
	// a result is there already).
	record func(context.Context) (bool, error)
	// move holds it in the target run instead; nil when it stays in its
	// own (st is the target).
	move func(context.Context) error
}

// promoteEach promotes the held results of st's run into target (st's
// run, or the run it joined) and returns how many it recorded (see
// promoteHeld). With a store.HeldCopier and no move between runs, a held
// result is recorded from its stored body as is: only its status and
// covered regions are read, never its findings, and nothing is encoded
// again. Either way each is recorded (or moved), then dropped, so a crash
// between the two leaves it to be promoted again, which first write wins
// makes harmless and which counts it if the crash came before the count.
func (a *Aggregator) promoteEach(ctx context.Context, st, target store.RunState) (int, error) {
	expected := make(map[ident.AccountID]bool, len(target.Started.Accounts))
	for _, acc := range target.Started.Accounts {
		expected[acc.AccountID] = true
	}
	held := a.heldDecoded(ctx, st, target)
	if hc, ok := a.store.(store.HeldCopier); ok && st.RunID == target.RunID {
		held = heldCopied(ctx, hc, target)
	}
	promoted := 0
	for h, err := range held {
		if err != nil {
			return 0, fmt.Errorf("promote held results of run %s: %w", st.RunID, err)
		}
		switch acct := h.account; {
		case !expected[acct]:
			// Not expected: left out of the report anyway.
		case h.covers:
			// Recorded even when a result is there already (first write
			// wins, so this changes nothing then): a replica that died
			// after writing this result but before counting it left the
			// held result as the only trace, its message acknowledged
			// when it was held, and recording again is what counts it.
			created, err := h.record(ctx)
			if err != nil {
				return 0, fmt.Errorf("promote held result of run %s account %s: %w", st.RunID, acct, err)
			}
			if created {
				promoted++
				a.metrics.resultRecorded(target.RunID, h.status)
			}
		case h.move != nil:
			if err := h.move(ctx); err != nil {
				return 0, fmt.Errorf("move held result of run %s account %s: %w", st.RunID, acct, err)
			}
		default:
			continue // still held, for the deadline
		}
		if err := a.store.DropHeld(ctx, st.RunID, h.account); err != nil {
			return 0, err
		}
	}
	return promoted, nil
}

// heldCopied yields target's held results through a store.HeldCopier,
// undecoded.
func heldCopied(ctx context.Context, hc store.HeldCopier, target store.RunState) iter.Seq2[heldResult, error] {
	return func(yield func(heldResult, error) bool) {
		for h, err := range hc.HeldBodies(ctx, target.RunID) {
			r := heldResult{account: h.AccountID, status: h.Status, covers: h.Covers(target.Started.Regions),
				record: func(ctx context.Context) (bool, error) { return hc.RecordHeld(ctx, h) }}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// heldDecoded yields st's held results through Held, decoded, as results
// of target: for stores without store.HeldCopier, and for the results an
// ad-hoc run that joined another moves to it (their bodies name the run
// they came with).
func (a *Aggregator) heldDecoded(ctx context.Context, st, target store.RunState) iter.Seq2[heldResult, error] {
	return func(yield func(heldResult, error) bool) {
		for res, err := range a.store.Held(ctx, st.RunID) {
			if err != nil {
				yield(heldResult{}, err)
				return
			}
			if res.RunID != target.RunID {
				moved := *res
				moved.RunID = target.RunID
				res = &moved
			}
			r := heldResult{account: res.AccountID, status: res.Status, covers: covers(res, target.Started),
				record: func(ctx context.Context) (bool, error) { return a.store.RecordResult(ctx, res) }}
			if st.RunID != target.RunID {
				r.move = func(ctx context.Context) error { _, err := a.store.HoldResult(ctx, res); return err }
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}
