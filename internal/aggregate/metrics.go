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
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aggregator_events_total",
			Help: "Events handled from the results topic, by type and outcome (recorded, duplicate, late, stray, held, joined).",
		}, []string{"type", "outcome"}),
		reports: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "configreport_aggregator_reports_emitted_total",
			Help: "Reports uploaded and marked emitted by this replica.",
		}),
		emitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aggregator_emit_failures_total",
			Help: "Failed emission attempts, by stage (claim, read, render, upload, mark); the loop retries them.",
		}, []string{"stage"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aggregator_dropped_total",
			Help: "Result parts left out of a report because the report cannot hold them, by what (rule, finding, error, result).",
		}, []string{"what"}),
		tickets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aggregator_tickets_total",
			Help: "Jira tickets stored for emitted runs, by how (filed, found by the run label).",
		}, []string{"how"}),
		ticketFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "configreport_aggregator_ticket_failures_total",
			Help: "Failed attempts to find or file a run's Jira ticket; retried with backoff.",
		}),
		emitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "configreport_aggregator_emit_duration_seconds",
			Help:    "Time from claim to emitted mark of a report.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
		}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aggregator_results_held_total",
			Help: "Results held instead of recorded, by reason: uncovered (they do not cover their run's regions) or early (their run is not recorded yet).",
		}, []string{"reason"}),
		heldCounted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "configreport_aggregator_held_results_counted_total",
			Help: "Held results counted at their run's deadline, their uncovered regions as NotScanned errors.",
		}),
		promoted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "configreport_aggregator_held_results_promoted_total",
			Help: "Held results recorded once their run was known and they covered its regions.",
		}),
		adhocJoined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "configreport_aggregator_adhoc_runs_joined_total",
			Help: "Ad-hoc runs that joined the open ad-hoc run of their account (no report or ticket of their own).",
		}),
		baselineUnusable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "configreport_aggregator_baseline_unusable_total",
			Help: "Renders whose baseline findings file was gone, unreadable or corrupt: the report went out without a baseline (an empty Changes sheet).",
		}),
		lastScheduled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "configreport_aggregator_last_scheduled_report_timestamp_seconds",
			Help: "Unix time this replica last emitted a scheduled run's report (0: none since it started).",
		}),
		lastReport: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "configreport_aggregator_last_report_accounts",
			Help: "Accounts of the last report this replica emitted, by trigger and status (expected, scanned, failed, missing).",
		}, []string{"trigger", "status"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "configreport_aggregator_run_duration_seconds",
			Help:    "Time from a run's start to its report marked emitted, by trigger.",
			Buckets: prometheus.ExponentialBuckets(60, 2, 14), // 1 min .. ~5.7 days
		}, []string{"trigger"}),
		openRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "configreport_aggregator_open_runs",
			Help: "Pending (started, not emitted) runs the last check loaded, at most -max-pending.",
		}),
		unticketed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "configreport_aggregator_unticketed_runs",
			Help: "Emitted runs whose Jira ticket is not stored yet, as the last check found them (0 without Jira).",
		}),
		runAccounts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "configreport_aggregator_open_run_accounts",
			Help: "Accounts of an open run (the earliest deadlines, at most 50), by status: expected, reported, missing (from the store, the same on every replica) and failed (failed results this replica recorded: sum them over replicas).",
		}, []string{"run_id", "status"}),
		runDeadline: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "configreport_aggregator_open_run_deadline_timestamp_seconds",
			Help: "Unix time of an open run's deadline (the earliest deadlines, at most 50).",
		}, []string{"run_id"}),
		runStarted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "configreport_aggregator_open_run_started_timestamp_seconds",
			Help: "Unix time an open run started (the earliest deadlines, at most 50).",
		}, []string{"run_id"}),
		failed:   map[ident.RunID]int{},
		exported: map[ident.RunID]bool{},
	}
	if reg != nil {
		var errs []error
		for _, c := range []prometheus.Collector{m.events, m.reports, m.emitFailures, m.dropped, m.tickets, m.ticketFailures, m.emitSeconds,
			m.held, m.heldCounted, m.promoted, m.adhocJoined, m.baselineUnusable,
			m.lastScheduled, m.lastReport, m.runSeconds, m.openRuns, m.unticketed, m.runAccounts, m.runDeadline, m.runStarted} {
			errs = append(errs, reg.Register(c))
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
