package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// BenchAccounts is the run size the benchmarks use, and BenchFindings the
// findings per result (a typical account with some non-compliant
// resources).
const (
	BenchAccounts = 1000
	BenchFindings = 50
)

// Bench runs the store benchmarks shared by every implementation:
// RecordResult throughput (sequential and 8 concurrent writers, as the
// aggregator's handlers are) and streaming every result of a
// 1,000-account run. newStore returns a fresh, empty store.
func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {
	b.Run("RecordResult", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		tmpl := benchResults("bench-rec", BenchAccounts)
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.RecordResult(ctx, nth(tmpl, i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
	})
	b.Run("RecordResultParallel8", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		tmpl := benchResults("bench-par", BenchAccounts)
		var next atomic.Int64
		b.SetParallelism(4) // GOMAXPROCS=2 here: 8 writers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.RecordResult(ctx, nth(tmpl, int(next.Add(1)-1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
	})
	b.Run(fmt.Sprintf("Results%d", BenchAccounts), func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		if _, err := s.RecordRun(ctx, NewRun("bench-read", BenchAccounts)); err != nil {
			b.Fatal(err)
		}
		for _, r := range benchResults("bench-read", BenchAccounts) {
			if _, err := s.RecordResult(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for range b.N {
			n := 0
			for _, err := range s.Results(ctx, "bench-read") {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != BenchAccounts {
				b.Fatalf("streamed %d results, want %d", n, BenchAccounts)
			}
			st, err := s.Run(ctx, "bench-read")
			if err != nil || st.Results != BenchAccounts {
				b.Fatalf("Run: %d results, %v", st.Results, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
	})
}

// nth is result i: a template's copy under account i+1 (findings shared,
// read only), so that b.N results cost no more memory than the templates.
func nth(tmpl []*events.AccountScanned, i int) *events.AccountScanned {
	r := *tmpl[i%len(tmpl)]
	r.AccountID = Account(i + 1)
	return &r
}

// benchResults builds the results before the timer starts: only the
// store's work is measured.
func benchResults(id ident.RunID, n int) []*events.AccountScanned {
	out := make([]*events.AccountScanned, n)
	for i := range out {
		out[i] = newResult(id, Account(i+1), BenchFindings)
	}
	return out
}
