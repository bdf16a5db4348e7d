package scan

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// BenchmarkScanOrg scans a generated organisation of 1,000 member accounts
// (plus the management account) in two regions, awssim adding 20 ms to
// every call, every account handed to the scanner at once, as a scanner
// pod draining a full queue is. It reports throughput against the ideal:
// total calls × mean latency / concurrency, the time N perfectly busy
// workers would take. The process's CPU time (scanner and awssim together,
// from getrusage) is reported too: on a busy machine a run is CPU-starved,
// and cpu-s / GOMAXPROCS is the floor the run cannot beat there.
//
//	go test -run '^$' -bench BenchmarkScanOrg -benchtime 1x ./internal/scan/
//
// The last case, 200 accounts at 100 ms a call, needs a tenth of the CPU
// per second of wall time: it shows how close the limit comes to the ideal
// when the machine's CPU is not what limits it.
func BenchmarkScanOrg(b *testing.B) {
	regions := []ident.Region{"us-east-1", "ap-east-1"}
	cases := []struct {
		accounts, conc int
		latency        time.Duration
	}{
		{1000, 20, 20 * time.Millisecond},
		{1000, 64, 20 * time.Millisecond},
		{200, 20, 100 * time.Millisecond},
	}
	for _, c := range cases {
		conc, latency := c.conc, c.latency
		org, err := awssim.Generate(awssim.GenConfig{Accounts: c.accounts, Seed: 42})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("accounts=%d/latency=%s/concurrency=%d", c.accounts, latency, conc), func(b *testing.B) {
			var wall, cpu time.Duration
			var st awssim.Stats
			var failed int
			for range b.N {
				b.StopTimer()
				e := newEnv(b, awssim.Config{Org: org, Latency: latency}, envOpts{concurrency: conc, regions: regions})
				ids := scannable(e.sim.Org())
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime(b)
				failed = 0
				var mu sync.Mutex
				var wg sync.WaitGroup
				for _, id := range ids {
					wg.Go(func() {
						res := e.scanner.ScanAccount(context.Background(), events.ScanRequested{RunID: "bench", AccountID: id, Regions: regions})
						if res.Status != events.StatusOK {
							mu.Lock()
							failed++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				wall += time.Since(start)
				cpu += cpuTime(b) - cpu0
				st = e.sim.Stats()
				if failed > 0 {
					b.Fatalf("%d accounts not OK", failed)
				}
			}
			perRun := wall / time.Duration(b.N)
			ideal := time.Duration(st.Total) * latency / time.Duration(conc)
			n := len(scannable(org))
			b.ReportMetric(float64(n)/perRun.Seconds(), "accounts/s")
			b.ReportMetric(perRun.Seconds(), "wall-s")
			b.ReportMetric(ideal.Seconds(), "ideal-s")
			b.ReportMetric(ideal.Seconds()/perRun.Seconds(), "efficiency")
			b.ReportMetric(float64(st.Total), "calls")
			b.ReportMetric(float64(st.Errors), "refused-calls")
			b.ReportMetric(float64(st.MaxInFlight), "max-in-flight")
			// The calls in flight on average, over the concurrency: near 1
			// says the in-flight limit never idled (awssim's latency only,
			// so it reads low where the client's own CPU per call counts).
			b.ReportMetric(float64(st.Total)*latency.Seconds()/(perRun.Seconds()*float64(conc)), "limit-utilisation")
			perRunCPU := cpu / time.Duration(b.N)
			b.ReportMetric(perRunCPU.Seconds(), "cpu-s")
			b.ReportMetric(float64(perRunCPU.Microseconds())/1000/float64(st.Total), "cpu-ms/call")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
