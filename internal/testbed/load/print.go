package load

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Invariants are what `make load` asserts of a run, whatever its timings:
// every expected account reported exactly once, as the ground truth says,
// in exactly one report; the fleet grew to at least 2 replicas (the rules
// were exercised) and went back to zero; nothing on the scan DLQ.
func (r *Result) Invariants() error {
	var errs []error
	if r.Lost != 0 || r.Reported != r.Expected {
		errs = append(errs, fmt.Errorf("%d of %d accounts reported, %d lost", r.Reported, r.Expected, r.Lost))
	}
	if r.DuplicateRows != 0 {
		errs = append(errs, fmt.Errorf("%d duplicate rows", r.DuplicateRows))
	}
	if r.Reports != 1 {
		errs = append(errs, fmt.Errorf("%d report objects for run %s, want 1", r.Reports, r.RunID))
	}
	if r.FindingsFiles != r.Reports {
		errs = append(errs, fmt.Errorf("%d findings files for run %s beside %d workbooks, want one each", r.FindingsFiles, r.RunID, r.Reports))
	}
	if r.CheckErr != nil {
		errs = append(errs, fmt.Errorf("report differs from the ground truth: %w", r.CheckErr))
	}
	if r.MaxReplica < 2 {
		errs = append(errs, fmt.Errorf("max replicas %d: the run never scaled past 1", r.MaxReplica))
	}
	if n := len(r.Samples); n == 0 || r.Samples[n-1].Replicas != 0 {
		errs = append(errs, errors.New("the fleet did not come back to zero"))
	}
	if r.DLQ != 0 {
		errs = append(errs, fmt.Errorf("%d messages on the scan DLQ", r.DLQ))
	}
	return errors.Join(errs...)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Print writes the figures; Summary is the line that follows them.
func (r *Result) Print(w io.Writer, cfg Config) {
	cfg.setDefaults()
	fmt.Fprintf(w, "policy: %s\n", r.Policy)
	fmt.Fprintf(w, "awssim %s\n", strings.Join(r.SimArgs, " "))
	consumers := "its default"
	if cfg.Consumers > 0 {
		consumers = strconv.Itoa(cfg.Consumers)
	}
	fmt.Fprintf(w, "scanners: -concurrency %d, -consumers %s, scan queue visibility %s, -shutdown-timeout %s\n", cfg.Concurrency, consumers, cfg.ScanVisibility, r.StopTimeout)
	fmt.Fprintf(w, "scale-down: %s; scanners started %d, SIGTERM %d, SIGKILL at once %d, SIGKILL after grace %d\n",
		cfg.Scenario, r.ScannersRun, r.Terms, r.Kills, r.GraceKills)
	fmt.Fprintf(w, "replicas over time (s:replicas):")
	var last int32 = -1
	for _, s := range r.Samples {
		if s.Replicas != last {
			fmt.Fprintf(w, " %.1f:%d", s.At.Seconds(), s.Replicas)
			last = s.Replicas
		}
	}
	fmt.Fprintln(w)
	var peakDepth int64
	for _, s := range r.Samples {
		peakDepth = max(peakDepth, s.Visible+s.NotVisible)
	}
	fmt.Fprintf(w, "queue depth peak %d; autoscaler ramp 0 -> %d replicas: %.1f s\n", peakDepth, r.MaxReplica, r.Ramp.Seconds())
	acctPerSec := 0.0
	if r.Wall > 0 {
		acctPerSec = float64(r.Expected) / r.Wall.Seconds()
	}
	fmt.Fprintf(w, "wall trigger -> report in S3: %.1f s (%.1f accounts/s)\n", r.Wall.Seconds(), acctPerSec)
	cc := r.Sim.ConfigCalls()
	thr := 0.0
	if cc > 0 {
		thr = float64(r.Sim.Throttled) / float64(cc)
	}
	fmt.Fprintf(w, "awssim: %d calls (%d Config), %d throttled (%.1f%% of Config calls), %d errors, max in flight %d\n",
		r.Sim.Total, cc, r.Sim.Throttled, 100*thr, r.Sim.Errors, r.Sim.MaxInFlight)
	fmt.Fprintf(w, "limit %.1f s (%s): calls×latency÷C %.1f s (C = %d = -concurrency %d × maxReplicaCount %d), calls÷R %.1f s (R = %.0f calls/s measured), busiest account-region÷throttle %.1f s; wall ÷ limit %.2f, wall ÷ (limit + ramp) %.2f\n",
		r.Limit.Seconds(), r.LimitTerm, r.Terms3[0].Seconds(), r.C, cfg.Concurrency, r.Policy.MaxReplicas, r.Terms3[1].Seconds(), r.Rate, r.Terms3[2].Seconds(),
		ratio(r.Wall, r.Limit), ratio(r.Wall, r.Limit+r.Ramp))
	if m := r.Machine; m.Cores > 0 {
		fmt.Fprintf(w, "CPU: the machine's %d cores were %.0f%% busy from trigger to report, %.1f CPU-s in all: at that cost the run cannot end in under %.1f s here; over their lives, scanners %.1f s (%.2f ms per awssim call), awssim %.1f s (%.0f µs per call; to the fleet's last call), aggregator %.1f s, trigger %.1f s (the emulators and the harness are the rest)\n",
			m.Cores, 100*m.Share, m.Busy.Seconds(), m.Floor().Seconds(), r.ProcCPU["scanners"].Seconds(), perCallMS(r.ProcCPU["scanners"], r.Sim.Total),
			r.ProcCPU["awssim"].Seconds(), perCallMS(r.ProcCPU["awssim"], r.Sim.Total)*1000, r.ProcCPU["aggregator"].Seconds(), r.ProcCPU["trigger"].Seconds())
	}
	if f := r.Floor; f != nil {
		scanners := time.Duration(0)
		if r.Sim.Total > 0 {
			scanners = r.ProcCPU["scanners"] / time.Duration(r.Sim.Total)
		}
		fmt.Fprintf(w, "floor (bench/floor, the plain SDK, -concurrency %d, same awssim after the run): %d calls, wall %.1f s, CPU %.1f s, %d µs per call; scanners %d µs per call, %.2f× the floor; awssim %.1f s serving it (%s)\n",
			f.C, f.Calls, f.Wall.Seconds(), f.CPU.Seconds(), f.PerCall().Microseconds(), scanners.Microseconds(), ratio(scanners, f.PerCall()), f.SimCPU.Seconds(), f.Line)
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintf(w, "CPU profiles (go tool pprof -top): %s\n", strings.Join(r.Profiles, ", "))
	}
	names := make([]string, 0, len(r.PeakRSS))
	for n := range r.PeakRSS {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprint(w, "peak RSS (VmHWM):")
	for _, n := range names {
		label := n
		if n == "scanner" {
			label = "scanner (largest)"
		}
		fmt.Fprintf(w, " %s %s;", label, mib(r.PeakRSS[n]))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "scale-down mid-run: %d scanners stopped while the queue held messages\n", r.MidRunStops)
	fmt.Fprintf(w, "redelivery: %d messages redelivered to a scan (scans beyond one per account, abandoned ones included), %d abandoned and nacked (%d of them released to the queue at once), %d finished after SIGTERM and deleted by their scanner, %d duplicate results absorbed by the aggregator (from its /metrics), %d on the scan DLQ\n",
		r.Rescans, r.Nacked, r.Released, r.DeletedAtStop, r.Duplicates, r.DLQ)
	check := "matches the ground truth"
	if r.CheckErr != nil {
		check = "DIFFERS from the ground truth: " + r.CheckErr.Error()
	}
	fmt.Fprintf(w, "workbook %s (%d findings, %d error rows) %s; plot %s; awssim args %s\n", r.Workbook, r.Findings, r.ErrorRows, check, r.Plot, filepath.Join(cfg.Out, "awssim.args"))
}

// Summary is the run in the one line `make load` ends with.
func (r *Result) Summary() string {
	return fmt.Sprintf("load: %d/%d accounts, lost %d, duplicate rows %d, reports %d, wall %.1f s, limit %.1f s, max replicas %d",
		r.Reported, r.Expected, r.Lost, r.DuplicateRows, r.Reports, r.Wall.Seconds(), r.Limit.Seconds(), r.MaxReplica)
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func perCallMS(d time.Duration, calls int64) float64 {
	if calls == 0 {
		return 0
	}
	return float64(d.Milliseconds()) / float64(calls)
}
