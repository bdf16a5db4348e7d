package aggregate

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// MaxOpenRunSeries bounds the open runs that get per-run series (run_id
// label): the earliest deadlines first, as the store lists them. A flood
// of RunStarted events adds at most this many run_id values, and a run's
// series go when it is emitted (or leaves the first MaxOpenRunSeries).
// configreport_aggregator_open_runs still counts every pending run loaded.
const MaxOpenRunSeries = 50

// Metrics are the aggregator's Prometheus series.
type Metrics struct {
	// events{type, outcome}: outcome is recorded, duplicate (first write
	// already won), late (after the run was emitted) or stray (an account
	// the run does not expect).
	events *prometheus.CounterVec
	// reports emitted (uploaded and marked).
	reports prometheus.Counter
	// emitFailures{stage}: claim, read, render, upload, mark.
	emitFailures *prometheus.CounterVec
	// dropped{what}: input the report cannot hold (see the package doc).
	dropped *prometheus.CounterVec
	// tickets{how}: filed, found (by the run label, after a crash).
	tickets *prometheus.CounterVec
	// ticketFailures: a failed attempt to find or file a run's ticket.
	ticketFailures prometheus.Counter
	emitSeconds    prometheus.Histogram
	// held{reason}: results held instead of recorded, because they do not
	// cover their run's regions (uncovered) or their run is not recorded
	// yet (early).
	held *prometheus.CounterVec
	// heldCounted: held results counted at a run's deadline, with
	// NotScanned rows for the regions they did not cover.
	heldCounted prometheus.Counter
	// promoted: held results recorded once their run's regions were known
	// and they covered them.
	promoted prometheus.Counter
	// adhocJoined: ad-hoc runs that joined their account's open ad-hoc run.
	adhocJoined prometheus.Counter
	// baselineUnusable: renders whose baseline's findings file was gone,
	// unreadable or corrupt, so the report went out without a baseline.
	baselineUnusable prometheus.Counter

	// lastScheduled: when this replica last emitted a scheduled report
	// (0 before the first); the alert takes the max over replicas and
	// over time, so a restart does not forget it (docs/OPERATIONS.md).
	lastScheduled prometheus.Gauge
	// lastReport{trigger, status}: the accounts of the last report this
	// replica emitted, per trigger: expected, scanned, failed, missing.
	lastReport *prometheus.GaugeVec
	// runSeconds{trigger}: from a run's started_at to its report's mark.
	runSeconds *prometheus.HistogramVec
	// openRuns: pending runs the last pass of the loop loaded.
	openRuns prometheus.Gauge
	// unticketed: emitted runs whose ticket is not stored yet (with Jira).
	unticketed prometheus.Gauge
	// Per open run (at most MaxOpenRunSeries): accounts{run_id, status}
	// (expected, reported, missing from the store; failed: failed results
	// recorded by this replica, summed over replicas by the queries) and
	// its deadline and start.
	runAccounts *prometheus.GaugeVec
	runDeadline *prometheus.GaugeVec
	runStarted  *prometheus.GaugeVec

	mu sync.Mutex
	// failed: failed results this replica recorded, per run not yet
	// emitted; exported and pruned with the open runs.
	failed map[ident.RunID]int
	// exported: run ids with per-run series now.
	exported map[ident.RunID]bool
}

// Account statuses of the per-run and last-report series.
const (
	accExpected = "expected"
	accReported = "reported"
	accScanned  = "scanned"
	accFailed   = "failed"
	accMissing  = "missing"
)

// NewMetrics creates the aggregator's metrics and registers them with reg
// (nil: not registered, for tests and for a second Aggregator in one process).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	var c collectors
	m := &Metrics{
		events: c.counterVec("configreport_aggregator_events_total",
			"Events handled from the results topic, by type and outcome (recorded, duplicate, late, stray, held, joined).", "type", "outcome"),
		reports: c.counter("configreport_aggregator_reports_emitted_total",
			"Reports uploaded and marked emitted by this replica."),
		emitFailures: c.counterVec("configreport_aggregator_emit_failures_total",
			"Failed emission attempts, by stage (claim, read, render, upload, mark); the loop retries them.", "stage"),
		dropped: c.counterVec("configreport_aggregator_dropped_total",
			"Result parts left out of a report because the report cannot hold them, by what (rule, finding, error, result).", "what"),
		tickets: c.counterVec("configreport_aggregator_tickets_total",
			"Jira tickets stored for emitted runs, by how (filed, found by the run label).", "how"),
		ticketFailures: c.counter("configreport_aggregator_ticket_failures_total",
			"Failed attempts to find or file a run's Jira ticket; retried with backoff."),
		emitSeconds: c.histogram("configreport_aggregator_emit_duration_seconds",
			"Time from claim to emitted mark of a report.", prometheus.ExponentialBuckets(0.25, 2, 12)),
		held: c.counterVec("configreport_aggregator_results_held_total",
			"Results held instead of recorded, by reason: uncovered (they do not cover their run's regions) or early (their run is not recorded yet).", "reason"),
		heldCounted: c.counter("configreport_aggregator_held_results_counted_total",
			"Held results counted at their run's deadline, their uncovered regions as NotScanned errors."),
		promoted: c.counter("configreport_aggregator_held_results_promoted_total",
			"Held results recorded once their run was known and they covered its regions."),
		adhocJoined: c.counter("configreport_aggregator_adhoc_runs_joined_total",
			"Ad-hoc runs that joined the open ad-hoc run of their account (no report or ticket of their own)."),
		baselineUnusable: c.counter("configreport_aggregator_baseline_unusable_total",
			"Renders whose baseline findings file was gone, unreadable or corrupt: the report went out without a baseline (an empty Changes sheet)."),
		lastScheduled: c.gauge("configreport_aggregator_last_scheduled_report_timestamp_seconds",
			"Unix time this replica last emitted a scheduled run's report (0: none since it started)."),
		lastReport: c.gaugeVec("configreport_aggregator_last_report_accounts",
			"Accounts of the last report this replica emitted, by trigger and status (expected, scanned, failed, missing).", "trigger", "status"),
		runSeconds: c.histogramVec("configreport_aggregator_run_duration_seconds",
			"Time from a run's start to its report marked emitted, by trigger.", prometheus.ExponentialBuckets(60, 2, 14), "trigger"), // 1 min .. ~5.7 days
		openRuns: c.gauge("configreport_aggregator_open_runs",
			"Pending (started, not emitted) runs the last check loaded, at most -max-pending."),
		unticketed: c.gauge("configreport_aggregator_unticketed_runs",
			"Emitted runs whose Jira ticket is not stored yet, as the last check found them (0 without Jira)."),
		runAccounts: c.gaugeVec("configreport_aggregator_open_run_accounts",
			"Accounts of an open run (the earliest deadlines, at most 50), by status: expected, reported, missing (from the store, the same on every replica) and failed (failed results this replica recorded: sum them over replicas).", "run_id", "status"),
		runDeadline: c.gaugeVec("configreport_aggregator_open_run_deadline_timestamp_seconds",
			"Unix time of an open run's deadline (the earliest deadlines, at most 50).", "run_id"),
		runStarted: c.gaugeVec("configreport_aggregator_open_run_started_timestamp_seconds",
			"Unix time an open run started (the earliest deadlines, at most 50).", "run_id"),
		failed:   map[ident.RunID]int{},
		exported: map[ident.RunID]bool{},
	}
	if reg != nil {
		var errs []error
		for _, x := range c {
			errs = append(errs, reg.Register(x))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// resultRecorded counts a failed result this replica recorded for a run
// not yet emitted.
func (m *Metrics) resultRecorded(id ident.RunID, status events.Status) {
	if status != events.StatusFailed {
		return
	}
	m.mu.Lock()
	m.failed[id]++
	m.mu.Unlock()
}

// openRunsLoaded exports the pending runs of one pass of the loop (the
// store lists them earliest deadline first): their count, and per-run
// series for the first MaxOpenRunSeries with a RunStarted; the series of
// every other run, and the failed counts of runs no longer pending, go.
func (m *Metrics) openRunsLoaded(pending []store.RunState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.openRuns.Set(float64(len(pending)))
	keep := make(map[ident.RunID]bool, MaxOpenRunSeries)
	live := make(map[ident.RunID]bool, len(pending))
	for _, st := range pending {
		live[st.RunID] = true
		if st.Started == nil || len(keep) >= MaxOpenRunSeries {
			continue
		}
		keep[st.RunID] = true
		id := string(st.RunID)
		expected := len(st.Started.Accounts)
		m.runAccounts.WithLabelValues(id, accExpected).Set(float64(expected))
		m.runAccounts.WithLabelValues(id, accReported).Set(float64(st.Results))
		m.runAccounts.WithLabelValues(id, accMissing).Set(float64(max(expected-st.Results, 0)))
		m.runAccounts.WithLabelValues(id, accFailed).Set(float64(m.failed[st.RunID]))
		m.runDeadline.WithLabelValues(id).Set(unix(st.Started.Deadline))
		m.runStarted.WithLabelValues(id).Set(unix(st.Started.StartedAt))
	}
	for id := range m.exported {
		if !keep[id] {
			m.deleteRun(id)
		}
	}
	m.exported = keep
	for id := range m.failed {
		if !live[id] {
			delete(m.failed, id)
		}
	}
}

// deleteRun removes a run's per-run series (under m.mu).
func (m *Metrics) deleteRun(id ident.RunID) {
	m.runAccounts.DeletePartialMatch(prometheus.Labels{"run_id": string(id)})
	m.runDeadline.DeleteLabelValues(string(id))
	m.runStarted.DeleteLabelValues(string(id))
}

// reportEmitted records an emitted report: its accounts, the run's
// duration, the time of the last scheduled one; the run's per-run series
// go at once (not at the next pass).
func (m *Metrics) reportEmitted(run *events.RunStarted, id ident.RunID, sum *Summary, at time.Time) {
	trigger := string(run.Trigger)
	m.lastReport.WithLabelValues(trigger, accExpected).Set(float64(sum.AccountsExpected))
	m.lastReport.WithLabelValues(trigger, accScanned).Set(float64(sum.AccountsScanned))
	m.lastReport.WithLabelValues(trigger, accFailed).Set(float64(sum.AccountsFailed))
	m.lastReport.WithLabelValues(trigger, accMissing).Set(float64(sum.AccountsMissing))
	m.runSeconds.WithLabelValues(trigger).Observe(max(at.Sub(run.StartedAt).Seconds(), 0))
	if run.Trigger == events.TriggerScheduled {
		m.lastScheduled.Set(unix(at))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failed, id)
	if m.exported[id] {
		m.deleteRun(id)
		delete(m.exported, id)
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// collectors makes the aggregator's series and keeps each for registering,
// so that a series is named once.
type collectors []prometheus.Collector

func (c *collectors) counter(name, help string) prometheus.Counter {
	return keep(c, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

func (c *collectors) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return keep(c, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

func (c *collectors) gauge(name, help string) prometheus.Gauge {
	return keep(c, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

func (c *collectors) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return keep(c, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

func (c *collectors) histogram(name, help string, buckets []float64) prometheus.Histogram {
	return keep(c, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

func (c *collectors) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return keep(c, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
}

func keep[T prometheus.Collector](c *collectors, x T) T {
	*c = append(*c, x)
	return x
}
