package scan

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// BenchmarkAccountInFlightMemory measures what one account in hand costs
// the scanner while its regions wait on throttling (the figure behind
// AccountMemory): accounts scans started at once against an awssim whose
// buckets are all but empty, measured once every account-region has been
// throttled and is waiting for its pacer, as heap and stacks in use over
// the same before the scans (after a GC both times), per account.
//
//	go test -run '^$' -bench AccountInFlightMemory -benchtime 1x ./internal/scan/
func BenchmarkAccountInFlightMemory(b *testing.B) {
	const accounts = 400
	for _, regions := range [][]ident.Region{
		{"us-east-1", "eu-west-1"},
		{"us-east-1", "eu-west-1", "ap-southeast-2", "ap-east-1"},
	} {
		b.Run(string(rune('0'+len(regions)))+"-regions", func(b *testing.B) {
			for b.Loop() {
				org := generated(b, accounts, 5)
				e := newEnv(b, awssim.Config{Org: org, ThrottleRPS: 0.001}, envOpts{concurrency: 16, regions: regions, maxBackoff: 20 * time.Second})
				ids := scannable(org)
				before := inUse()
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for _, id := range ids {
					wg.Go(func() {
						e.scanner.ScanAccount(ctx, events.ScanRequested{RunID: "bench", AccountID: id, Regions: regions})
					})
				}
				// Every account-region: its first call admitted, its second
				// throttled, and now waiting.
				want := int64(len(ids) * len(regions))
				for e.sim.Stats().Throttled < want {
					time.Sleep(50 * time.Millisecond)
				}
				during := inUse()
				cancel()
				wg.Wait()
				b.ReportMetric(float64(during-before)/float64(len(ids)), "B/account")
				b.ReportMetric(float64(len(ids)), "accounts")
			}
		})
	}
}

// inUse is the heap and the goroutine stacks in use, after a GC.
func inUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
