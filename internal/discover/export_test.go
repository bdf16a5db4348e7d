package discover

import (
	"context"

	"github.com/cybsecops/configreport/internal/events"
)

// Used by this package's tests only.

// Walk is WalkTagged without the tags.
func (w *Walker) Walk(ctx context.Context, fn func(events.Account) error) (Stats, error) {
	_, st, err := w.WalkTagged(ctx, fn)
	return st, err
}
