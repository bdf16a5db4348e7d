// Package load is the fleet load harness of `make load`: it
// runs the trigger, the aggregator and a fleet of scanner processes over the
// emulators and awssim, and scales the scanners with an Autoscaler that
// applies the rules KEDA and the HorizontalPodAutoscaler would apply to the
// real scan queue, read from the ScaledObject that deploy/kustomize renders
// (so the harness and the manifests cannot drift).
//
// The Autoscaler is a deterministic model of those rules, for this harness;
// it is not a replacement for KEDA nor a claim about every KEDA version's
// corner cases (fallback, idleReplicaCount, scaling modifiers and paused
// replicas are not modelled; the manifests use none of them).
package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cybsecops/configreport/internal/keda"
)

// SelectPolicy is an HPA behaviour's selectPolicy.
type SelectPolicy string

const (
	SelectMax      SelectPolicy = "Max"
	SelectMin      SelectPolicy = "Min"
	SelectDisabled SelectPolicy = "Disabled"
)

// PolicyType is an HPA scaling policy's type.
type PolicyType string

const (
	PolicyPods    PolicyType = "Pods"
	PolicyPercent PolicyType = "Percent"
)

// ScalingPolicy is one HPAScalingPolicy: at most Value pods (or Value
// percent of the replicas at the period's start) per Period.
type ScalingPolicy struct {
	Type   PolicyType
	Value  int32
	Period time.Duration
}

// ScalingRules is one direction of an HPA's behaviour.
type ScalingRules struct {
	Window   time.Duration // stabilizationWindowSeconds
	Select   SelectPolicy
	Policies []ScalingPolicy
}

// Kubernetes' defaults (k8s.io/kubernetes pkg/apis/autoscaling/v2
// defaults.go, and the HPA controller's flags), used where the manifest says
// nothing.
const (
	// --horizontal-pod-autoscaler-sync-period of kube-controller-manager:
	// how often the HPA reads the metric and rescales.
	DefaultHPASyncPeriod = 15 * time.Second
	// --horizontal-pod-autoscaler-tolerance: no rescale while
	// |metric/target - 1| is within it.
	DefaultHPATolerance = 0.1
	// KEDA's ScaledObject defaults.
	defaultPollingInterval = 30 * time.Second
	defaultCooldown        = 300 * time.Second
	defaultMaxReplicas     = 100
	// KEDA's aws-sqs-queue scaler defaults.
	defaultQueueLength = 5
	// Deployment default.
	defaultTerminationGrace = 30 * time.Second
)

// DefaultScaleUp is the HPA's scale-up behaviour when none is given: at
// most max(100%, 4 pods) per 15 s, no stabilisation.
func DefaultScaleUp() ScalingRules {
	return ScalingRules{Window: 0, Select: SelectMax, Policies: []ScalingPolicy{
		{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
		{Type: PolicyPods, Value: 4, Period: 15 * time.Second},
	}}
}

// DefaultScaleDown is the HPA's scale-down behaviour when none is given:
// at most 100% per 15 s after a 300 s stabilisation window.
func DefaultScaleDown() ScalingRules {
	return ScalingRules{Window: 300 * time.Second, Select: SelectMax, Policies: []ScalingPolicy{
		{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
	}}
}

// Policy is what the Autoscaler applies: the ScaledObject's aws-sqs-queue
// trigger and replica bounds, the HPA behaviour it hands to Kubernetes, and
// the scaled Deployment's termination grace period.
type Policy struct {
	ScaledObject string // metadata.name
	Target       string // scaleTargetRef.name (the Deployment)

	QueueLength      int64 // target messages per replica (queueLength)
	Activation       int64 // activationQueueLength: active while the depth exceeds it
	ScaleOnInFlight  bool  // count ApproximateNumberOfMessagesNotVisible
	ScaleOnDelayed   bool  // count ApproximateNumberOfMessagesDelayed
	MinReplicas      int32
	MaxReplicas      int32
	PollingInterval  time.Duration // KEDA's activity check (0 <-> 1)
	Cooldown         time.Duration // KEDA: inactive this long before scaling to 0
	HPASyncPeriod    time.Duration // the HPA's loop (not in the manifest: the controller's flag)
	Tolerance        float64
	ScaleUp          ScalingRules
	ScaleDown        ScalingRules
	TerminationGrace time.Duration // the Deployment's terminationGracePeriodSeconds

	// Ratio is the factor every duration above but TerminationGrace was
	// divided by (1: as in the manifest). Set by Shorten.
	Ratio float64
}

// Shorten divides the autoscaler's time constants by ratio (> 0), so a run
// whose queue drains in a minute still sees the rules' shape. The ratio is
// stated in every figure the harness prints. The termination grace period
// is kept: like the queues' visibility timeouts it bounds real work (the
// scans a stopping scanner has in hand run in real time, 10-40 s an account
// at full size here), so shortened (600 s -> 10 s at ÷ 60) it made a
// scale-down abandon scans the cluster finishes, and the run waited for
// another scanner to start them again.
func (p Policy) Shorten(ratio float64) (Policy, error) {
	if !(ratio > 0) || math.IsInf(ratio, 0) {
		return p, fmt.Errorf("time ratio %g: must be a positive number", ratio)
	}
	d := func(v time.Duration) time.Duration { return time.Duration(float64(v) / ratio) }
	q := p
	q.PollingInterval, q.Cooldown, q.HPASyncPeriod = d(p.PollingInterval), d(p.Cooldown), d(p.HPASyncPeriod)
	for _, r := range []*ScalingRules{&q.ScaleUp, &q.ScaleDown} {
		r.Window = d(r.Window)
		r.Policies = append([]ScalingPolicy(nil), r.Policies...)
		for i := range r.Policies {
			r.Policies[i].Period = d(r.Policies[i].Period)
		}
	}
	q.Ratio = p.Ratio * ratio
	return q, nil
}

// Validate reports every problem at once.
func (p Policy) Validate() error {
	var errs []error
	if p.QueueLength <= 0 {
		errs = append(errs, fmt.Errorf("queueLength %d: must be > 0", p.QueueLength))
	}
	if p.Activation < 0 {
		errs = append(errs, fmt.Errorf("activationQueueLength %d: negative", p.Activation))
	}
	if p.MinReplicas < 0 || p.MaxReplicas < 1 || p.MinReplicas > p.MaxReplicas {
		errs = append(errs, fmt.Errorf("replicas min %d max %d: want 0 <= min <= max, max >= 1", p.MinReplicas, p.MaxReplicas))
	}
	if p.PollingInterval <= 0 || p.HPASyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("pollingInterval %s, HPA sync period %s: must be > 0", p.PollingInterval, p.HPASyncPeriod))
	}
	if p.Cooldown < 0 || p.TerminationGrace < 0 {
		errs = append(errs, fmt.Errorf("cooldownPeriod %s, terminationGracePeriodSeconds %s: negative", p.Cooldown, p.TerminationGrace))
	}
	for name, r := range map[string]ScalingRules{"scaleUp": p.ScaleUp, "scaleDown": p.ScaleDown} {
		if r.Window < 0 {
			errs = append(errs, fmt.Errorf("%s.stabilizationWindowSeconds: negative", name))
		}
		switch r.Select {
		case SelectMax, SelectMin, SelectDisabled:
		default:
			errs = append(errs, fmt.Errorf("%s.selectPolicy %q: want Max, Min or Disabled", name, r.Select))
		}
		if len(r.Policies) == 0 && r.Select != SelectDisabled {
			errs = append(errs, fmt.Errorf("%s: no policies", name))
		}
		for i, sp := range r.Policies {
			if sp.Type != PolicyPods && sp.Type != PolicyPercent {
				errs = append(errs, fmt.Errorf("%s.policies[%d].type %q: want Pods or Percent", name, i, sp.Type))
			}
			if sp.Value <= 0 || sp.Period <= 0 {
				errs = append(errs, fmt.Errorf("%s.policies[%d]: value and periodSeconds must be > 0", name, i))
			}
		}
	}
	if !(p.Ratio > 0) {
		errs = append(errs, fmt.Errorf("ratio %g: must be > 0", p.Ratio))
	}
	return errors.Join(errs...)
}

// The parts of the rendered objects the policy is read from. Pointers tell
// "absent" (default applies) from zero.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
}

type deploymentSpec struct {
	Template struct {
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

// ParsePolicy reads a multi-document manifest (kustomize build's output),
// finds the one ScaledObject with an aws-sqs-queue trigger and the
// Deployment it scales, and returns their Policy, defaults filled in the way
// KEDA and Kubernetes fill them, Ratio 1.
func ParsePolicy(manifest []byte) (Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	var sos []k8sObject
	deployments := map[string]k8sObject{}
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Policy{}, fmt.Errorf("parse manifest: %w", err)
		}
		switch o.Kind {
		case "ScaledObject":
			sos = append(sos, o)
		case "Deployment":
			deployments[o.Metadata.Name] = o
		}
	}
	var (
		p     Policy
		spec  keda.ScaledObjectSpec
		found int
		meta  map[string]string
	)
	for _, o := range sos {
		var s keda.ScaledObjectSpec
		if err := o.Spec.Decode(&s); err != nil {
			return Policy{}, fmt.Errorf("ScaledObject %s: %w", o.Metadata.Name, err)
		}
		for _, t := range s.Triggers {
			if t.Type == "aws-sqs-queue" {
				found++
				spec, meta, p.ScaledObject = s, t.Metadata, o.Metadata.Name
			}
		}
	}
	if found != 1 {
		return Policy{}, fmt.Errorf("manifest has %d aws-sqs-queue triggers in ScaledObjects, want 1", found)
	}
	p.Target = spec.ScaleTargetRef.Name
	dep, ok := deployments[p.Target]
	if !ok {
		return Policy{}, fmt.Errorf("ScaledObject %s scales Deployment %q, not in the manifest", p.ScaledObject, p.Target)
	}
	var ds deploymentSpec
	if err := dep.Spec.Decode(&ds); err != nil {
		return Policy{}, fmt.Errorf("Deployment %s: %w", p.Target, err)
	}

	var errs []error
	intMeta := func(key string, def int64) int64 {
		v, ok := meta[key]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("trigger metadata %s %q: %w", key, v, err))
		}
		return n
	}
	boolMeta := func(key string, def bool) bool {
		v, ok := meta[key]
		if !ok {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("trigger metadata %s %q: %w", key, v, err))
		}
		return b
	}
	p.QueueLength = intMeta("queueLength", defaultQueueLength)
	p.Activation = intMeta("activationQueueLength", 0)
	p.ScaleOnInFlight = boolMeta("scaleOnInFlight", true)
	p.ScaleOnDelayed = boolMeta("scaleOnDelayed", false)

	secs := func(v *int32, def time.Duration) time.Duration {
		if v == nil {
			return def
		}
		return time.Duration(*v) * time.Second
	}
	p.PollingInterval = secs(spec.PollingInterval, defaultPollingInterval)
	p.Cooldown = secs(spec.CooldownPeriod, defaultCooldown)
	p.MaxReplicas = defaultMaxReplicas
	if spec.MaxReplicaCount != nil {
		p.MaxReplicas = *spec.MaxReplicaCount
	}
	if spec.MinReplicaCount != nil {
		p.MinReplicas = *spec.MinReplicaCount
	}
	p.HPASyncPeriod, p.Tolerance = DefaultHPASyncPeriod, DefaultHPATolerance
	var up, down *keda.HPARules
	if b := spec.Behavior(); b != nil {
		up, down = b.ScaleUp, b.ScaleDown
	}
	p.ScaleUp = rulesOrDefault(up, DefaultScaleUp())
	p.ScaleDown = rulesOrDefault(down, DefaultScaleDown())
	p.TerminationGrace = defaultTerminationGrace
	if g := ds.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		p.TerminationGrace = time.Duration(*g) * time.Second
	}
	p.Ratio = 1
	errs = append(errs, p.Validate())
	if err := errors.Join(errs...); err != nil {
		return Policy{}, fmt.Errorf("ScaledObject %s: %w", p.ScaledObject, err)
	}
	return p, nil
}

// rulesOrDefault fills one direction as the API server does: a field left
// out takes the default's value.
func rulesOrDefault(r *keda.HPARules, def ScalingRules) ScalingRules {
	if r == nil {
		return def
	}
	out := def
	if r.StabilizationWindowSeconds != nil {
		out.Window = time.Duration(*r.StabilizationWindowSeconds) * time.Second
	}
	if r.SelectPolicy != nil {
		out.Select = SelectPolicy(*r.SelectPolicy)
	}
	if len(r.Policies) > 0 {
		out.Policies = nil
		for _, sp := range r.Policies {
			out.Policies = append(out.Policies, ScalingPolicy{Type: PolicyType(sp.Type), Value: sp.Value, Period: time.Duration(sp.PeriodSeconds) * time.Second})
		}
	}
	return out
}

// String is the policy in one line, for the harness's log and figures.
func (p Policy) String() string {
	return fmt.Sprintf("queueLength %d, activation %d, replicas %d..%d, polling %s, cooldown %s, HPA sync %s, scale-up %s, scale-down %s, termination grace %s (real time; the rest ÷ %g)",
		p.QueueLength, p.Activation, p.MinReplicas, p.MaxReplicas, p.PollingInterval, p.Cooldown, p.HPASyncPeriod,
		p.ScaleUp, p.ScaleDown, p.TerminationGrace, p.Ratio)
}

func (r ScalingRules) String() string {
	s := fmt.Sprintf("[window %s, select %s", r.Window, r.Select)
	for _, sp := range r.Policies {
		if sp.Type == PolicyPercent {
			s += fmt.Sprintf(", %d%%/%s", sp.Value, sp.Period)
		} else {
			s += fmt.Sprintf(", %d pods/%s", sp.Value, sp.Period)
		}
	}
	return s + "]"
}
