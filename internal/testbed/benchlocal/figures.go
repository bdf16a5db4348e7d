package benchlocal

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// sample is one measured run of a contender.
type sample struct {
	Wall        time.Duration
	CPU         time.Duration // user + sys of the child, its children included
	Calls       int64         // awssim's total for the run
	MaxInFlight int64
	ConfigCalls int64 // the three Config operations
}

// row is a contender's medians over its runs.
type row struct {
	Name        string
	C           int // calls allowed in flight: -concurrency, or the peer's threads
	Runs        []sample
	Wall, CPU   time.Duration
	Calls       int64
	MaxInFlight int64 // the largest of the runs, not the median: a bound must hold every time
	Limit       time.Duration
	LimitTerm   string
	// LatencyLimit is the latency bound alone, calls × mean latency ÷ C:
	// local mode's own target is against it, whatever R is, so that extra
	// calls cannot hide behind a generous limit.
	LatencyLimit time.Duration
	Latency      time.Duration // awssim's mean latency per call
}

// median of v (0 for none), v left as it is.
func median[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// limit is the fastest any client allowed c calls in flight could make
// calls calls: the largest of the latency bound (calls × mean latency ÷ c)
// and awssim's throughput bound (calls ÷ r). The third term of the issue,
// the busiest account-region's Config calls ÷ the throttle rate, is absent
// because this benchmark runs without throttling.
func limit(calls int64, latency time.Duration, c int, r float64) (time.Duration, string) {
	lat := time.Duration(float64(calls) * float64(latency) / float64(c))
	var thr time.Duration
	if r > 0 {
		thr = time.Duration(float64(calls) / r * float64(time.Second))
	}
	if thr > lat {
		return thr, "calls÷R"
	}
	return lat, "calls×latency÷C"
}

func summarise(name string, c int, runs []sample, latency time.Duration, r float64) row {
	rw := row{Name: name, C: c, Runs: runs}
	var walls, cpus []time.Duration
	var calls []int64
	for _, s := range runs {
		walls = append(walls, s.Wall)
		cpus = append(cpus, s.CPU)
		calls = append(calls, s.Calls)
		rw.MaxInFlight = max(rw.MaxInFlight, s.MaxInFlight)
	}
	rw.Wall, rw.CPU, rw.Calls = median(walls), median(cpus), median(calls)
	rw.Limit, rw.LimitTerm = limit(rw.Calls, latency, c, r)
	rw.LatencyLimit, _ = limit(rw.Calls, latency, c, 0)
	rw.Latency = latency
	return rw
}

// verdict is one target local mode is held to (docs/BENCHMARKS.md).
type verdict struct {
	Name     string
	Measured string
	Bound    string
	Met      bool
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// targets checks local mode at 20 against the peer at 20, then
// local mode at 64 as localTargets does.
func targets(local20, peer, local64 row) []verdict {
	wallR := ratio(local20.Wall, peer.Wall)
	cpuR := ratio(local20.CPU, peer.CPU)
	return append([]verdict{
		{"wall, -concurrency 20 vs peer at 20 threads", fmt.Sprintf("%.3f× (%s vs %s)", wallR, secs(local20.Wall), secs(peer.Wall)), "≤ 0.5×", peer.Wall > 0 && wallR <= 0.5},
		{"CPU, -concurrency 20 vs peer at 20 threads", fmt.Sprintf("%.3f× (%s vs %s)", cpuR, secs(local20.CPU), secs(peer.CPU)), "≤ 0.1×", peer.CPU > 0 && cpuR <= 0.1},
	}, localTargets(local64)...)
}

// localTargets checks local mode at high concurrency alone: against the
// limit (≤ 1.2×), against its own latency limit, its calls × the mean
// latency ÷ its concurrency (≤ 1.25×, so a scan that
// makes more calls than it needs cannot hide behind them), and its
// calls in flight against its concurrency.
func localTargets(local64 row) []verdict {
	limR := ratio(local64.Wall, local64.Limit)
	latR := ratio(local64.Wall, local64.LatencyLimit)
	c := fmt.Sprintf("-concurrency %d", local64.C)
	return []verdict{
		{"wall, " + c + " vs limit", fmt.Sprintf("%.2f× (%s vs %s, %s)", limR, secs(local64.Wall), secs(local64.Limit), local64.LimitTerm), "≤ 1.2×", local64.Limit > 0 && limR <= 1.2},
		{"wall, " + c + " vs its latency limit", fmt.Sprintf("%.2f× (%s vs %d calls × %s ÷ %d = %s)", latR, secs(local64.Wall), local64.Calls, local64.Latency, local64.C, secs(local64.LatencyLimit)),
			"≤ 1.25×", local64.LatencyLimit > 0 && latR <= 1.25},
		{"max_in_flight, " + c, fmt.Sprintf("%d (largest of %d runs)", local64.MaxInFlight, len(local64.Runs)), fmt.Sprintf("≤ %d", local64.C), local64.MaxInFlight <= int64(local64.C)},
	}
}

// floorTarget checks local mode's CPU per AWS call against the plain
// SDK's (bench/floor) at the same concurrency, in the same run (issue 20:
// ≤ 1.25×).
func floorTarget(local, floor row) verdict {
	per := func(r row) time.Duration {
		if r.Calls <= 0 {
			return 0
		}
		return r.CPU / time.Duration(r.Calls)
	}
	l, f := per(local), per(floor)
	r := ratio(l, f)
	return verdict{"CPU per call, " + local.Name + " vs " + floor.Name,
		fmt.Sprintf("%.2f× (%d µs vs %d µs)", r, l.Microseconds(), f.Microseconds()), "≤ 1.25×", f > 0 && r <= 1.25}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// printTable writes the medians as a Markdown table, then the targets.
func printTable(w io.Writer, rows []row, vs []verdict) {
	fmt.Fprintln(w, "| contender | C | wall (median) | CPU user+sys (median) | AWS calls | max_in_flight (max) | limit | wall ÷ limit | runs: wall / CPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		var runs []string
		for _, s := range r.Runs {
			runs = append(runs, fmt.Sprintf("%.2f/%.2f", s.Wall.Seconds(), s.CPU.Seconds()))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %d | %s (%s) | %.2f | %s |\n", r.Name, r.C, secs(r.Wall), secs(r.CPU),
			r.Calls, r.MaxInFlight, secs(r.Limit), r.LimitTerm, float64(r.Wall)/float64(max(r.Limit, 1)), strings.Join(runs, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | bound | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, v := range vs {
		met := "no"
		if v.Met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", v.Name, v.Measured, v.Bound, met)
	}
}
