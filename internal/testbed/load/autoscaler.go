package load

import (
	"math"
	"time"
)

// Depth is the scan queue's attributes as KEDA's aws-sqs-queue scaler reads
// them (GetQueueAttributes).
type Depth struct {
	Visible    int64 // ApproximateNumberOfMessages
	NotVisible int64 // ApproximateNumberOfMessagesNotVisible (in flight)
	Delayed    int64 // ApproximateNumberOfMessagesDelayed
}

// Decision is the outcome of one Step.
type Decision struct {
	Replicas int32  // the replicas to run from now on
	Metric   int64  // the queue length KEDA computed (0 when no loop ran)
	Active   bool   // KEDA's activity (metric > activation) at its last check
	Reason   string // why Replicas changed; "" when it did not
}

type timedValue struct {
	at    time.Time
	value int32
}

// Autoscaler applies the scaling rules of a KEDA ScaledObject with an
// aws-sqs-queue trigger to a sequence of queue samples, deterministically:
// it reads no clock, the caller passes the time of each sample.
//
// Two loops, as in a cluster:
//   - KEDA's, every PollingInterval: the queue is active while its length
//     (visible + in flight when scaleOnInFlight) exceeds the activation
//     threshold. Active at 0 replicas: scale to max(minReplicaCount, 1).
//     Inactive for Cooldown at > 0 replicas with minReplicaCount 0: scale
//     to 0. KEDA owns 0 <-> 1; the HPA never acts at 0 replicas.
//   - The HPA's, every HPASyncPeriod, at >= 1 replica: desired =
//     ceil(length / queueLength) (an AverageValue target), unchanged while
//     within the tolerance, then the behaviour's stabilisation windows and
//     rate policies, bounded by max(minReplicaCount, 1) and maxReplicaCount
//     (k8s pkg/controller/podautoscaler: normalizeDesiredReplicasWithBehaviors).
//
// Both loops start at the same instant and, when both are due, KEDA's runs
// first: the HPA acts on a wake-up from zero in the same step. In a cluster
// the two loops are not aligned and the HPA's first step comes 0 to one
// sync period later, so the ramp here is the best case by at most one
// HPASyncPeriod.
type Autoscaler struct {
	p        Policy
	replicas int32

	nextKEDA, nextHPA time.Time
	lastActive        time.Time // zero: never active
	active            bool

	recommendations []timedValue // the HPA's unstabilised recommendations
	upEvents        []timedValue // HPA rescales up, replicas added
	downEvents      []timedValue // HPA rescales down, replicas removed
	hpaStarted      bool
}

// NewAutoscaler starts at minReplicaCount replicas at time start; both loops
// are due at start.
func NewAutoscaler(p Policy, start time.Time) *Autoscaler {
	return &Autoscaler{p: p, replicas: p.MinReplicas, nextKEDA: start, nextHPA: start}
}

// Replicas is the current replica count.
func (a *Autoscaler) Replicas() int32 { return a.replicas }

// Next is when the next loop is due: the caller samples the queue then and
// calls Step.
func (a *Autoscaler) Next() time.Time {
	if a.nextKEDA.Before(a.nextHPA) {
		return a.nextKEDA
	}
	return a.nextHPA
}

// Step runs every loop due at now against the queue sample d.
func (a *Autoscaler) Step(now time.Time, d Depth) Decision {
	metric := d.Visible
	if a.p.ScaleOnInFlight {
		metric += d.NotVisible
	}
	if a.p.ScaleOnDelayed {
		metric += d.Delayed
	}
	dec := Decision{Replicas: a.replicas, Active: a.active}
	ran := false
	if !now.Before(a.nextKEDA) {
		ran = true
		a.keda(now, metric, &dec)
		a.nextKEDA = now.Add(a.p.PollingInterval)
	}
	if !now.Before(a.nextHPA) {
		ran = true
		a.hpa(now, metric, &dec)
		a.nextHPA = now.Add(a.p.HPASyncPeriod)
	}
	if ran {
		dec.Metric = metric
	}
	dec.Replicas, dec.Active = a.replicas, a.active
	return dec
}

func (a *Autoscaler) keda(now time.Time, metric int64, dec *Decision) {
	a.active = metric > a.p.Activation
	if a.active {
		a.lastActive = now
	}
	switch {
	case a.active && a.replicas == 0:
		a.replicas = max(a.p.MinReplicas, 1)
		dec.Reason = "keda: activated from zero"
	case !a.active && a.replicas > 0 && a.p.MinReplicas == 0:
		// KEDA scales to zero once the last activity is older than the
		// cooldown (at once if it never saw any).
		if a.lastActive.IsZero() || now.Sub(a.lastActive) > a.p.Cooldown {
			a.replicas = 0
			dec.Reason = "keda: cooldown over, to zero"
		}
	case a.replicas < a.p.MinReplicas:
		a.replicas = a.p.MinReplicas
		dec.Reason = "keda: up to minReplicaCount"
	}
}

func (a *Autoscaler) hpa(now time.Time, metric int64, dec *Decision) {
	if a.replicas == 0 {
		return // scaling is disabled at 0 replicas: KEDA's to wake
	}
	hpaMin := max(a.p.MinReplicas, 1)
	cur := a.replicas
	if !a.hpaStarted {
		a.hpaStarted = true
		// maybeInitScaleDownStabilizationWindow: a new HPA holds its
		// current replicas for the scale-down window.
		if a.p.ScaleDown.Window > 0 {
			a.recommendations = []timedValue{{now, cur}}
		}
	}
	var desired int32
	switch {
	case cur > a.p.MaxReplicas:
		desired = a.p.MaxReplicas
	case cur < hpaMin:
		desired = hpaMin
	default:
		desired = cur
		ratio := float64(metric) / (float64(a.p.QueueLength) * float64(cur))
		if math.Abs(1-ratio) > a.p.Tolerance {
			desired = int32(math.Min(math.Ceil(float64(metric)/float64(a.p.QueueLength)), math.MaxInt32))
		}
		desired = a.stabilize(now, cur, desired)
		desired = a.rateLimit(now, cur, desired, hpaMin)
	}
	if desired == cur {
		return
	}
	if desired > cur {
		a.upEvents = append(a.upEvents, timedValue{now, desired - cur})
		dec.Reason = "hpa: scale up"
	} else {
		a.downEvents = append(a.downEvents, timedValue{now, cur - desired})
		dec.Reason = "hpa: scale down"
	}
	a.pruneEvents(now)
	a.replicas = desired
}

// stabilize is stabilizeRecommendationWithBehaviors: the recommendation
// is kept between the lowest recommendation of the scale-up window and the
// highest of the scale-down window; the raw one is recorded.
func (a *Autoscaler) stabilize(now time.Time, cur, desired int32) int32 {
	up, down := desired, desired
	upCut, downCut := now.Add(-a.p.ScaleUp.Window), now.Add(-a.p.ScaleDown.Window)
	oldest := -1
	for i, r := range a.recommendations {
		if r.at.After(upCut) {
			up = min(up, r.value)
		}
		if r.at.After(downCut) {
			down = max(down, r.value)
		}
		if r.at.Before(upCut) && r.at.Before(downCut) {
			oldest = i
		}
	}
	rec := cur
	if rec < up {
		rec = up
	}
	if rec > down {
		rec = down
	}
	if oldest >= 0 {
		a.recommendations[oldest] = timedValue{now, desired}
	} else {
		a.recommendations = append(a.recommendations, timedValue{now, desired})
	}
	return rec
}

// rateLimit is convertDesiredReplicasWithBehaviorRate.
func (a *Autoscaler) rateLimit(now time.Time, cur, desired, hpaMin int32) int32 {
	switch {
	case desired > cur:
		limit := a.limit(now, cur, a.p.ScaleUp, true)
		limit = max(limit, cur)
		allowed := min(a.p.MaxReplicas, limit)
		return min(desired, allowed)
	case desired < cur:
		limit := a.limit(now, cur, a.p.ScaleDown, false)
		limit = min(limit, cur)
		allowed := max(hpaMin, limit)
		return max(desired, allowed)
	}
	return desired
}

// limit is calculateScaleUpLimitWithScalingRules (up) or
// calculateScaleDownLimitWithBehaviors: each policy's bound from the
// replicas at the start of its period; Max picks the largest change, Min
// the smallest.
func (a *Autoscaler) limit(now time.Time, cur int32, r ScalingRules, up bool) int32 {
	if r.Select == SelectDisabled {
		return cur
	}
	largestChange := r.Select != SelectMin
	var result int32
	first := true
	for _, sp := range r.Policies {
		start := cur - changes(a.upEvents, now, sp.Period) + changes(a.downEvents, now, sp.Period)
		var proposed int32
		switch {
		case up && sp.Type == PolicyPods:
			proposed = start + sp.Value
		case up:
			// Rounded up, so a small fleet still grows.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(sp.Value)/100)))
		case sp.Type == PolicyPods:
			proposed = start - sp.Value
		default:
			proposed = int32(float64(start) * (1 - float64(sp.Value)/100))
		}
		// Up: the largest change is the largest bound. Down: the smallest bound.
		pick := proposed > result
		if !up {
			pick = proposed < result
		}
		if !largestChange {
			pick = !pick
		}
		if first || pick {
			result, first = proposed, false
		}
	}
	return result
}

// changes sums the replica changes of events within period before now.
func changes(events []timedValue, now time.Time, period time.Duration) int32 {
	var n int32
	cut := now.Add(-period)
	for _, e := range events {
		if e.at.After(cut) {
			n += e.value
		}
	}
	return n
}

// pruneEvents drops events older than the longest policy period.
func (a *Autoscaler) pruneEvents(now time.Time) {
	var longest time.Duration
	for _, r := range []ScalingRules{a.p.ScaleUp, a.p.ScaleDown} {
		for _, sp := range r.Policies {
			longest = max(longest, sp.Period)
		}
	}
	keep := func(ev []timedValue) []timedValue {
		out := ev[:0]
		for _, e := range ev {
			if e.at.After(now.Add(-longest)) {
				out = append(out, e)
			}
		}
		return out
	}
	a.upEvents, a.downEvents = keep(a.upEvents), keep(a.downEvents)
}
