package aggregate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// runSeries lists the run_id values with per-run series.
func runSeries(t *testing.T, m *Metrics) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.runAccounts, m.runDeadline, m.runStarted)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "run_id" {
					ids[l.GetValue()] = true
				}
			}
		}
	}
	return ids
}

// The open run's series follow the store through the run's life: counts
// as results arrive, failed ones counted, and gone once it is emitted;
// the last report's accounts, the run's duration and the last scheduled
// report's time are then set.
func TestOpenRunSeriesFollowTheRun(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.aggregator("replica-a")
	msgs := allMessages(t)
	id := string(runID)
	if got := testutil.ToFloat64(a.metrics.lastScheduled); got != 0 {
		t.Fatalf("last scheduled report %v before any", got)
	}

	handleAll(t, a, msgs[:1]) // RunStarted only
	a.Check(ctx)
	steps := []struct {
		name                                string
		handled                             int // results handled so far
		expected, reported, missing, failed float64
	}{
		{"started", 0, 3, 0, 3, 0},
		{"one result", 1, 3, 1, 2, 0},
		{"two results", 2, 3, 2, 1, 0},
	}
	for _, s := range steps {
		if s.handled > 0 {
			handleAll(t, a, msgs[s.handled:s.handled+1])
		}
		a.Check(ctx)
		for status, want := range map[string]float64{accExpected: s.expected, accReported: s.reported, accMissing: s.missing, accFailed: s.failed} {
			if got := testutil.ToFloat64(a.metrics.runAccounts.WithLabelValues(id, status)); got != want {
				t.Errorf("%s: open_run_accounts{status=%q} = %v, want %v", s.name, status, got, want)
			}
		}
		if got := testutil.ToFloat64(a.metrics.openRuns); got != 1 {
			t.Errorf("%s: open_runs %v", s.name, got)
		}
	}
	if got, want := testutil.ToFloat64(a.metrics.runDeadline.WithLabelValues(id)), float64(runStarted().Deadline.Unix()); got != want {
		t.Errorf("deadline %v, want %v", got, want)
	}
	// The third result (FAILED) completes the run: counted, then emitted
	// by the kicked loop's Emit.
	handleAll(t, a, msgs[3:])
	a.metrics.mu.Lock()
	failed := a.metrics.failed[runID]
	a.metrics.mu.Unlock()
	if failed != 1 {
		t.Errorf("failed results counted %d, want 1", failed)
	}
	if err := a.Emit(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if ids := runSeries(t, a.metrics); len(ids) != 0 {
		t.Errorf("per-run series left after emission: %v", ids)
	}
	a.Check(ctx)
	if ids := runSeries(t, a.metrics); len(ids) != 0 {
		t.Errorf("per-run series back after a check: %v", ids)
	}
	if got := testutil.ToFloat64(a.metrics.openRuns); got != 0 {
		t.Errorf("open_runs %v after emission", got)
	}
	for status, want := range map[string]float64{accExpected: 3, accScanned: 2, accFailed: 1, accMissing: 0} {
		if got := testutil.ToFloat64(a.metrics.lastReport.WithLabelValues("scheduled", status)); got != want {
			t.Errorf("last_report_accounts{status=%q} = %v, want %v", status, got, want)
		}
	}
	if got, want := testutil.ToFloat64(a.metrics.lastScheduled), float64(e.clock.Now().Unix()); got != want {
		t.Errorf("last scheduled report %v, want %v", got, want)
	}
	if n := testutil.CollectAndCount(a.metrics.runSeconds); n != 1 {
		t.Errorf("run duration series %d, want 1", n)
	}
	if a.metrics.failed[runID] != 0 {
		t.Errorf("failed count kept after emission")
	}
}

func TestAdhocReportLeavesLastScheduledAlone(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	run := runStarted()
	run.Trigger = events.TriggerAdhoc
	m.reportEmitted(run, run.RunID, &Summary{AccountsExpected: 1, AccountsFailed: 1}, t0.Add(time.Hour))
	if got := testutil.ToFloat64(m.lastScheduled); got != 0 {
		t.Errorf("an ad-hoc report set the last scheduled report's time: %v", got)
	}
	if got := testutil.ToFloat64(m.lastReport.WithLabelValues("adhoc", accFailed)); got != 1 {
		t.Errorf("adhoc failed %v", got)
	}
	if n := testutil.CollectAndCount(m.runSeconds); n != 1 {
		t.Errorf("run duration series %d", n)
	}
}

// A flood of open runs gets per-run series for the earliest deadlines
// only, and a run that leaves the bound (or the store's list) loses them.
func TestOpenRunSeriesAreBounded(t *testing.T) {
	pending := func(n, from int) []store.RunState {
		var out []store.RunState
		for i := range n {
			r := runStarted()
			r.RunID = ident.RunID(fmt.Sprintf("RUN%04d", from+i))
			r.Deadline = t0.Add(time.Duration(from+i) * time.Minute)
			out = append(out, store.RunState{RunID: r.RunID, Started: r})
		}
		return out
	}
	tests := []struct {
		name    string
		pending []store.RunState
		want    int
		first   string // a run that must have series
		absent  string // one that must not
	}{
		{"few", pending(3, 0), 3, "RUN0000", "RUN0003"},
		{"flood", pending(MaxOpenRunSeries*20, 0), MaxOpenRunSeries, "RUN0000", fmt.Sprintf("RUN%04d", MaxOpenRunSeries)},
		{"the first ones emitted", pending(MaxOpenRunSeries*2, 10), MaxOpenRunSeries, fmt.Sprintf("RUN%04d", MaxOpenRunSeries+9), "RUN0000"},
		{"a run without its RunStarted", append([]store.RunState{{RunID: "EARLY"}}, pending(1, 0)...), 1, "RUN0000", "EARLY"},
		{"none", nil, 0, "", "RUN0000"},
	}
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.failed["GONE"] = 2
			m.openRunsLoaded(tt.pending)
			ids := runSeries(t, m)
			if len(ids) != tt.want {
				t.Errorf("%d runs with series, want %d", len(ids), tt.want)
			}
			if tt.first != "" && !ids[tt.first] {
				t.Errorf("%s has no series", tt.first)
			}
			if ids[tt.absent] {
				t.Errorf("%s has series", tt.absent)
			}
			if _, ok := m.failed["GONE"]; ok {
				t.Error("failed count of a run no longer pending kept")
			}
			if got := testutil.ToFloat64(m.openRuns); got != float64(len(tt.pending)) {
				t.Errorf("open_runs %v, want %d", got, len(tt.pending))
			}
		})
	}
}

// Every series name follows Prometheus's conventions as promlint checks
// them (units, _total on counters).
func TestMetricNamesLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	run := runStarted()
	m.reportEmitted(run, run.RunID, &Summary{}, t0)
	m.openRunsLoaded([]store.RunState{{RunID: run.RunID, Started: run}})
	m.events.WithLabelValues("x", "y").Inc()
	m.emitFailures.WithLabelValues("x").Inc()
	m.dropped.WithLabelValues("x").Inc()
	m.tickets.WithLabelValues("x").Inc()
	m.held.WithLabelValues("x").Inc()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// Failed results count for their open run whichever way they are recorded:
// handled after the RunStarted, or held before it and promoted.
func TestFailedResultsCountedForTheOpenRun(t *testing.T) {
	tests := []struct {
		name  string
		order func([]*message.Message) []*message.Message
	}{
		{"run first", func(m []*message.Message) []*message.Message { return m }},
		{"results first, promoted", func(m []*message.Message) []*message.Message {
			return append(append([]*message.Message{}, m[1:]...), m[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.aggregator("replica-a")
			handleAll(t, a, tt.order(allMessages(t)))
			a.metrics.mu.Lock()
			defer a.metrics.mu.Unlock()
			if got := a.metrics.failed[runID]; got != 1 {
				t.Errorf("failed results counted %d, want 1", got)
			}
		})
	}
}

// TestNewMetricsRegistersEverySeries: each series the aggregator makes is
// on the registry (a second series of the same name is refused).
func TestNewMetricsRegistersEverySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"events_total", "reports_emitted_total", "emit_failures_total", "dropped_total", "tickets_total",
		"ticket_failures_total", "emit_duration_seconds", "results_held_total", "held_results_counted_total",
		"held_results_promoted_total", "adhoc_runs_joined_total", "baseline_unusable_total",
		"last_scheduled_report_timestamp_seconds", "last_report_accounts", "run_duration_seconds", "open_runs",
		"unticketed_runs", "open_run_accounts", "open_run_deadline_timestamp_seconds", "open_run_started_timestamp_seconds",
	} {
		t.Run(name, func(t *testing.T) {
			again := prometheus.NewCounter(prometheus.CounterOpts{Name: "configreport_aggregator_" + name, Help: "again"})
			if err := reg.Register(again); err == nil {
				t.Errorf("configreport_aggregator_%s was not registered", name)
			}
		})
	}
}
