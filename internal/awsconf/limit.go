package awsconf

import (
	"context"
	"fmt"

	"github.com/aws/smithy-go/middleware"
)

// limitedServices are the APIs the job reads from the organisation: the
// calls -concurrency bounds. Queue, topic, object store and table calls are
// not counted: they are bounded by the consumers, and a long poll may hold
// a connection for 20 s without loading anyone.
var limitedServices = map[string]bool{
	"Config Service": true,
	"STS":            true,
	"Organizations":  true,
}

// inFlightLimit bounds, across every client built from one Load, the
// attempts of limited services on the wire at once. It is what makes
// -concurrency a bound of the process, not of one stage: in local mode the
// trigger's OU walk and the scanner's workers share it.
//
// It sits at the end of the Finalize step: after the retry loop, so a call
// waiting out a backoff holds no slot, and after signing, so fetching
// credentials (an AssumeRole through another client) never happens while
// holding one, which could deadlock with every slot held. The slot is
// released when the response has been read (the Deserialize step has
// returned).
type inFlightLimit struct{ slots chan struct{} }

func newInFlightLimit(n int) *inFlightLimit {
	return &inFlightLimit{slots: make(chan struct{}, n)}
}

func (l *inFlightLimit) ID() string { return "configreport.InFlightLimit" }

func (l *inFlightLimit) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if !limitedServices[middleware.GetServiceID(ctx)] {
		return next.HandleFinalize(ctx, in)
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("wait for an AWS call slot: %w", ctx.Err())
	}
	defer func() { <-l.slots }()
	return next.HandleFinalize(ctx, in)
}

// addTo installs the limit on a client's stack.
func (l *inFlightLimit) addTo(stack *middleware.Stack) error {
	return stack.Finalize.Add(l, middleware.After)
}
