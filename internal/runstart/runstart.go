// Package runstart opens report runs: it builds a run's RunStarted and
// publishes it to the results topic. The trigger (a scheduled run, or the
// -account run) and the scanner (a hand-written ad-hoc request) both open
// runs through it, so what an open run says (start, deadline, trigger) is
// decided in one place. It does not find the accounts: its callers do.
package runstart

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// New returns the RunStarted of a run started at now (kept in UTC), due
// deadline after it (events.DefaultDeadline when zero), with a new run id
// when id is empty. Its accounts are the caller's to fill in.
func New(id ident.RunID, trigger events.Trigger, now time.Time, deadline time.Duration, regions []ident.Region) events.RunStarted {
	start := now.UTC()
	if deadline == 0 {
		deadline = events.DefaultDeadline
	}
	if id == "" {
		id = ident.NewRunID(start)
	}
	return events.RunStarted{
		RunID:     id,
		Trigger:   trigger,
		StartedAt: start,
		Deadline:  events.Deadline(start, deadline),
		Regions:   regions,
	}
}

// Publish encodes rs with codec (a claim check when it is over the message
// limit: give codec a payload store) and publishes it to
// events.TopicResults, the message carrying ctx. It returns the message
// sent; its error says which of the two failed.
func Publish(ctx context.Context, pub message.Publisher, codec events.Codec, rs *events.RunStarted) (*message.Message, error) {
	m, err := codec.Marshal(ctx, rs)
	if err != nil {
		return nil, fmt.Errorf("encode RunStarted: %w", err)
	}
	m.SetContext(ctx)
	if err := pub.Publish(events.TopicResults, m); err != nil {
		return nil, fmt.Errorf("publish RunStarted: %w", err)
	}
	return m, nil
}
