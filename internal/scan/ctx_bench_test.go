package scan

import (
	"context"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/awsconf"
)

type benchKey int

type missingKey struct{}

// BenchmarkCallContextLookup is what an AWS call of a scan pays for each
// context value it looks for and does not find (net/http's trace hook, the
// fail-fast arming, the call slot): the chain under it is the router's as a
// load run's scanner logged it (a signal context, six cancels, four
// watermill values), the handler's finishWithin, the account's call
// priority and the SDK's twelve values of an operation.
func BenchmarkCallContextLookup(b *testing.B) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for range 6 {
		var c context.CancelFunc
		ctx, c = context.WithCancel(ctx)
		defer c()
	}
	for i := range 4 {
		ctx = context.WithValue(ctx, benchKey(i), i)
	}
	ctx, cancel := finishWithin(ctx, time.Second)
	defer cancel()
	ctx = awsconf.WithCallPriority(ctx, 1)
	for i := range 12 {
		ctx = context.WithValue(ctx, benchKey(100+i), i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ctx.Value(missingKey{}) != nil {
			b.Fatal("found")
		}
	}
}
