package awsconf

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
)

// callMetrics count, per operation ("configservice:DescribeConfigRules")
// and error kind (awserr.Code), what the RetryLog sees of the AWS calls:
// retried attempts, throttled attempts and calls that failed in the end.
// Both labels are bounded: the operations are the ones the code calls, the
// kinds AWS's error codes and the few awserr names.
type callMetrics struct {
	retries   *prometheus.CounterVec
	throttled *prometheus.CounterVec
	errors    *prometheus.CounterVec
}

// Count makes l also count retries, throttling and failed calls on reg
// (the /metrics of the service): configreport_aws_retries_total,
// configreport_aws_throttled_total and configreport_aws_call_errors_total.
// Registering twice on one registry (two RetryLogs in one process) reuses
// the first series. It returns l, for chaining.
func (l *RetryLog) Count(reg prometheus.Registerer) (*RetryLog, error) {
	m := &callMetrics{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aws_retries_total",
			Help: "AWS call attempts that failed and were retried, by operation and error kind.",
		}, []string{"operation", "error_kind"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aws_throttled_total",
			Help: "AWS call attempts refused by throttling (retried or not), by operation.",
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "configreport_aws_call_errors_total",
			Help: "AWS calls that failed after their last attempt, by operation and error kind.",
		}, []string{"operation", "error_kind"}),
	}
	var err error
	if m.retries, err = registerOnce(reg, m.retries); err != nil {
		return l, err
	}
	if m.throttled, err = registerOnce(reg, m.throttled); err != nil {
		return l, err
	}
	if m.errors, err = registerOnce(reg, m.errors); err != nil {
		return l, err
	}
	l.metrics = m
	return l, nil
}

func registerOnce(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register AWS call metrics: %w", err)
}

// retried counts a failed attempt that will be retried.
func (m *callMetrics) retried(op, kind string, err error) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(op, kind).Inc()
	if awserr.IsThrottle(err) {
		m.throttled.WithLabelValues(op).Inc()
	}
}

// ended counts a call that failed after its last attempt.
func (m *callMetrics) ended(op string, err error) {
	if m == nil || err == nil {
		return
	}
	m.errors.WithLabelValues(op, awserr.Code(err)).Inc()
	if awserr.IsThrottle(err) {
		m.throttled.WithLabelValues(op).Inc()
	}
}
