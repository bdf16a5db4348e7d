package aggregate

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

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
}

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
	}
	if reg != nil {
		var errs []error
		for _, c := range []prometheus.Collector{m.events, m.reports, m.emitFailures, m.dropped, m.tickets, m.ticketFailures, m.emitSeconds,
			m.held, m.heldCounted, m.promoted, m.adhocJoined} {
			errs = append(errs, reg.Register(c))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return m, nil
}
