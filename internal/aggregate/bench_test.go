package aggregate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// seedRun records a run of accounts x findings (4 regions x 25 rules per
// account, findings spread over them, stored in reverse order so that the
// per-account sort has work to do).
func seedRun(b *testing.B, st store.Store, accounts, perAccount int) {
	b.Helper()
	ctx := context.Background()
	regs := []ident.Region{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"}
	rs := &events.RunStarted{RunID: runID, Trigger: events.TriggerScheduled, StartedAt: t0, Deadline: t0.Add(45 * time.Minute), Regions: regs}
	for i := range accounts {
		rs.Accounts = append(rs.Accounts, events.Account{AccountID: ident.AccountID(fmt.Sprintf("%012d", 100000000000+i)), Name: fmt.Sprintf("account-%d", i), OUPath: "Root/Prod"})
	}
	if _, err := st.RecordRun(ctx, rs); err != nil {
		b.Fatal(err)
	}
	for _, acc := range rs.Accounts {
		res := &events.AccountScanned{RunID: runID, AccountID: acc.AccountID, Status: events.StatusOK, ScannedAt: t0.Add(time.Minute)}
		for _, r := range regs {
			for k := range 25 {
				res.Rules = append(res.Rules, events.Rule{Region: r, Name: fmt.Sprintf("rule-%02d", k), Owner: "AWS", SourceIdentifier: fmt.Sprintf("RULE_%02d", k), Compliance: events.NonCompliant})
			}
		}
		for j := perAccount - 1; j >= 0; j-- {
			res.Findings = append(res.Findings, events.Finding{
				Region: regs[j%4], Rule: fmt.Sprintf("rule-%02d", (j/4)%25), ResourceType: "AWS::S3::Bucket",
				ResourceID: fmt.Sprintf("bucket-%06d", j), Compliance: events.NonCompliant,
				Annotation: "The bucket policy allows public read access to the bucket and its objects from any principal.", RecordedAt: t0,
			})
		}
		if _, err := st.RecordResult(ctx, res); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEmit measures one whole emission (claim, both passes over the store,
// render, upload to a folder, mark) and reports the peak Go heap sampled
// every 5 ms (live and not yet swept objects).
func benchEmit(b *testing.B, accounts, perAccount int) {
	benchEmitWith(b, openStore(b, filepath.Join(b.TempDir(), "bench.sqlite")), accounts, perAccount, 0)
}

// BenchmarkEmitDynamo is one emission on the production store against the
// DynamoDB emulator (300 accounts x 50 findings), with the report rows
// kept between the two passes (the default) and not (each result decoded
// twice). Run under scripts/with-emulators.sh, -benchtime 1x.
func BenchmarkEmitDynamo(b *testing.B) {
	for _, tc := range []struct {
		name string
		kept int64
	}{{"kept", 0}, {"read-twice", -1}} {
		b.Run(tc.name, func(b *testing.B) { benchEmitWith(b, dynamoStores(b, 1)[0], 300, 50, tc.kept) })
	}
}

// benchEmitWith is benchEmit on st, with Config.KeptFindingsBytes kept.
func benchEmitWith(b *testing.B, st store.Store, accounts, perAccount int, kept int64) {
	seedRun(b, st, accounts, perAccount)
	dir := b.TempDir()
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if i > 0 { // the store emits a run once; seeding another would dominate
			b.Fatal("run with -benchtime 1x")
		}
		id := runID
		a, err := New(Config{Owner: "bench", Now: func() time.Time { return t0.Add(time.Hour) }, KeptFindingsBytes: kept}, Deps{Store: st, Blob: blob.Folder{Dir: dir}})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			// runtime/metrics, not ReadMemStats: no stop-the-world per sample.
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		cpu0 := cpuTime(b)
		b.StartTimer()
		if err := a.Emit(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric((cpuTime(b) - cpu0).Seconds(), "cpu-s")
		close(stop)
		wg.Wait()
		s, err := st.Run(ctx, id)
		if err != nil || !s.Emitted {
			b.Fatalf("not emitted: %v", err)
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(s.ReportKey)))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		b.ReportMetric(float64(accounts*perAccount), "findings")
	}
}

// 500 accounts x 200 findings = 100,000 rows.
func BenchmarkEmit100k(b *testing.B) { benchEmit(b, 500, 200) }

// 500 accounts x 2,000 findings = 1,000,000 rows: the largest account holds
// 2,000 findings, so the heap should not grow with the total.
func BenchmarkEmit1M(b *testing.B) { benchEmit(b, 500, 2000) }

// cpuTime is the process's user+system CPU time: on a shared machine the
// steadier figure than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandleResult: one AccountScanned handled (decode, record, run
// read, completion check) in a run of 500 and 5,000 expected accounts; the
// store decodes the run's RunStarted at each read.
func BenchmarkHandleResult(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) { benchHandle(b, n) })
	}
}

// BenchmarkHandleResultDynamo is BenchmarkHandleResult on the production
// store against the DynamoDB emulator, from 1 and 16 goroutines (the
// aggregator's consumers): the process's CPU per result, the emulator's
// own excluded. Run under scripts/with-emulators.sh.
func BenchmarkHandleResultDynamo(b *testing.B) {
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("accounts=5000/workers=%d", workers), func(b *testing.B) {
			benchHandleWith(b, dynamoStores(b, 1)[0], 5000, workers)
		})
	}
}

func benchHandle(b *testing.B, accounts int) {
	benchHandleWith(b, openStore(b, filepath.Join(b.TempDir(), "bench.sqlite")), accounts, 1)
}

// benchHandleWith handles b.N results of distinct accounts (wrapping
// around the run's accounts: duplicates then) from workers goroutines.
func benchHandleWith(b *testing.B, st store.Store, accounts, workers int) {
	folder := blob.Folder{Dir: b.TempDir()}
	codec := events.Codec{Payloads: blob.Payloads{Store: folder}, PayloadPrefix: "payloads"}
	a, err := New(Config{Owner: "bench", Now: func() time.Time { return t0 }}, Deps{Store: st, Blob: folder, Codec: codec})
	if err != nil {
		b.Fatal(err)
	}
	rs := &events.RunStarted{RunID: runID, Trigger: events.TriggerScheduled, StartedAt: t0, Deadline: t0.Add(time.Hour), Regions: regions}
	for i := range accounts {
		rs.Accounts = append(rs.Accounts, events.Account{AccountID: ident.AccountID(fmt.Sprintf("%012d", 100000000000+i)), Name: fmt.Sprintf("account-%d", i), OUPath: "Root/Prod/Payments"})
	}
	m, err := codec.Marshal(context.Background(), rs) // 5,000 accounts go by claim check (over 256 KiB)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Handle(m); err != nil {
		b.Fatal(err)
	}
	msgs := make([]*message.Message, 0, b.N)
	for i := range b.N {
		res := results()[1]
		res.AccountID = rs.Accounts[i%accounts].AccountID
		msgs = append(msgs, mustMsg(b, res))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if err := a.Handle(msgs[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
