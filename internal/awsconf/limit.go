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
	"EC2":            true,
}

// inFlightLimit bounds, across every client built from one Load, the
// attempts of limited services on the wire at once. It is what makes
// -concurrency a bound of the process, not of one stage: in local mode the
// trigger's OU walk and the scanner's workers share it.
//
// It sits in the Finalize step right after the retry loop, so a call
// waiting out a backoff holds no slot, and before the identity is resolved
// and the request signed, so a request never waits for a slot with
// credentials in hand that may expire meanwhile (a scan's session can be
// minutes from its end; a request queued behind others after signing was
// refused with ExpiredToken). Fetching credentials may itself be an AWS
// call (AssumeRole through the STS client, also limited): it runs under
// the caller's slot, marked in the context, since the caller is not on the
// wire until its credentials are in; taking a second slot there could
// deadlock with every slot held by callers waiting for their credentials.
// The slot is released when the response has been read (the Deserialize
// step has returned).
type inFlightLimit struct{ slots chan struct{} }

// slotHeld marks a context whose call already holds a slot.
type slotHeld struct{}

func newInFlightLimit(n int) *inFlightLimit {
	return &inFlightLimit{slots: make(chan struct{}, n)}
}

func (l *inFlightLimit) ID() string { return "configreport.InFlightLimit" }

func (l *inFlightLimit) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if !limitedServices[middleware.GetServiceID(ctx)] || ctx.Value(slotHeld{}) != nil {
		return next.HandleFinalize(ctx, in)
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("wait for an AWS call slot: %w", ctx.Err())
	}
	defer func() { <-l.slots }()
	return next.HandleFinalize(context.WithValue(ctx, slotHeld{}, true), in)
}

// addTo installs the limit on a client's stack: after the retry loop when
// the client has one, else at the end of Finalize.
func (l *inFlightLimit) addTo(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get("Retry"); ok {
		return stack.Finalize.Insert(l, "Retry", middleware.After)
	}
	return stack.Finalize.Add(l, middleware.After)
}
