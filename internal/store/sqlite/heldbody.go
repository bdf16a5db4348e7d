package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// heldSummary is the part of a held body's JSON that promotion decides on.
type heldSummary struct {
	Status   events.Status `json:"status"`
	Coverage []struct {
		Region ident.Region `json:"region"`
	} `json:"coverage"`
}

// HeldBodies implements store.HeldCopier: each held body as stored, with
// its status and regions read from it (its findings are not decoded).
func (s *Store) HeldBodies(ctx context.Context, id ident.RunID) iter.Seq2[store.HeldBody, error] {
	return func(yield func(store.HeldBody, error) bool) {
		rows, err := s.r.QueryContext(ctx, `SELECT account_id, body FROM held WHERE run_id = ? ORDER BY account_id`, string(id))
		if err != nil {
			yield(store.HeldBody{}, fmt.Errorf("held results of %s: %w", id, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			h := store.HeldBody{RunID: id}
			if err := rows.Scan(&h.AccountID, &h.Body); err != nil {
				yield(store.HeldBody{}, fmt.Errorf("held results of %s: %w", id, err))
				return
			}
			var sum heldSummary
			if err := json.Unmarshal(h.Body, &sum); err != nil {
				yield(store.HeldBody{}, fmt.Errorf("held results of %s: %s: decode: %w", id, h.AccountID, err))
				return
			}
			h.Status = sum.Status
			res := events.AccountScanned{Coverage: make([]events.Coverage, len(sum.Coverage))}
			for i, c := range sum.Coverage {
				res.Coverage[i].Region = c.Region
			}
			h.Regions = store.CoveredRegions(&res)
			if !yield(h, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(store.HeldBody{}, fmt.Errorf("held results of %s: %w", id, err))
		}
	}
}

// RecordHeld implements store.HeldCopier: the held JSON is inserted as it
// is; it is decoded (not re-encoded) for the result cache only.
func (s *Store) RecordHeld(ctx context.Context, h store.HeldBody) (bool, error) {
	res := new(events.AccountScanned)
	if err := json.Unmarshal(h.Body, res); err != nil {
		return false, fmt.Errorf("record held result %s/%s: decode: %w", h.RunID, h.AccountID, err)
	}
	if res.RunID != h.RunID || res.AccountID != h.AccountID {
		return false, fmt.Errorf("%w: held body of %s/%s names %s/%s", store.ErrInvalid, h.RunID, h.AccountID, res.RunID, res.AccountID)
	}
	if err := store.CheckResult(res); err != nil {
		return false, err
	}
	created, _, err := s.recordBody(ctx, res, h.Body)
	return created, err
}
