package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// pinned is the baseline -baseline asks for: nil for the store's choice
// (the latest emitted scheduled run under -out, fixed at the first claim),
// a pin of none, or a pin of the named run, which must be an emitted
// scheduled run of this -out with a findings file; anything else fails
// before a single AWS call, in one line.
// The pin is for cfg.RunID alone (Run gives a new run its id first): a
// run of an earlier invocation that this one emits keeps its own.
func pinned(ctx context.Context, st store.Store, cfg Config) (*aggregate.BaselinePin, error) {
	switch cfg.Baseline {
	case "":
		return nil, nil
	case BaselineNone:
		return &aggregate.BaselinePin{RunID: cfg.RunID}, nil
	}
	id := ident.RunID(cfg.Baseline)
	b, err := st.Run(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("baseline %s: no such run under %s", id, cfg.Out)
	case err != nil:
		return nil, fmt.Errorf("baseline %s: %w", id, err)
	case b.Started == nil:
		return nil, fmt.Errorf("baseline %s: the run never started (no RunStarted under %s)", id, cfg.Out)
	case b.Started.Trigger != events.TriggerScheduled:
		return nil, fmt.Errorf("baseline %s: an ad-hoc run; only a scheduled run (no -account) is a baseline", id)
	case !b.Emitted:
		return nil, fmt.Errorf("baseline %s: its report was never written (resume it with -run-id %s first)", id, id)
	case b.FindingsKey == "":
		return nil, fmt.Errorf("baseline %s: it has no findings file (emitted before findings files; re-render it with -run-id %s first)", id, id)
	}
	return &aggregate.BaselinePin{RunID: cfg.RunID, Ref: &store.BaselineRef{RunID: id, GeneratedAt: b.GeneratedAt, FindingsKey: b.FindingsKey}}, nil
}

// expectedBaseline is the baseline the run's report will compare with:
// the one fixed already, else the pinned one, else the latest emitted
// scheduled run (what the first claim will fix, this process being the
// only one emitting under -out).
func expectedBaseline(ctx context.Context, st store.Store, id ident.RunID, pin *aggregate.BaselinePin) (*store.BaselineRef, error) {
	s, err := st.Run(ctx, id)
	switch {
	case err == nil && s.BaselineFixed:
		return s.Baseline, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("read run %s: %w", id, err)
	case pin != nil:
		return pin.Ref, nil
	}
	latest, err := st.LatestScheduled(ctx)
	if err != nil {
		return nil, fmt.Errorf("latest scheduled run: %w", err)
	}
	return latest, nil
}

// baselineText is the progress lines' word on the baseline.
func baselineText(b *store.BaselineRef) string {
	if b == nil {
		return "no baseline"
	}
	return fmt.Sprintf("compared with run %s of %s", b.RunID, b.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"))
}
