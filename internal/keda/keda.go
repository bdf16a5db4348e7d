// Package keda holds the fields of KEDA's ScaledObject and
// TriggerAuthentication that this repository reads from rendered
// manifests, as YAML types: the deployment checks (deploy/policycheck)
// judge them and the load harness replays the scaling policy they set.
// Pointers tell a field left out (KEDA's or Kubernetes' default applies)
// from a zero. yaml.v3 ignores the fields not named here; checking the
// schemas is kubectl-validate's job, not this package's.
package keda

// ScaledObjectSpec is a ScaledObject's spec.
type ScaledObjectSpec struct {
	ScaleTargetRef struct {
		Kind string `yaml:"kind"`
		Name string `yaml:"name"`
	} `yaml:"scaleTargetRef"`
	PollingInterval *int32    `yaml:"pollingInterval"`
	CooldownPeriod  *int32    `yaml:"cooldownPeriod"`
	MinReplicaCount *int32    `yaml:"minReplicaCount"`
	MaxReplicaCount *int32    `yaml:"maxReplicaCount"`
	Advanced        *Advanced `yaml:"advanced"`
	Triggers        []Trigger `yaml:"triggers"`
}

// Advanced is a ScaledObject's spec.advanced.
type Advanced struct {
	HorizontalPodAutoscalerConfig *struct {
		Behavior *Behavior `yaml:"behavior"`
	} `yaml:"horizontalPodAutoscalerConfig"`
}

// Behavior is the HPA behavior a ScaledObject passes on
// (advanced.horizontalPodAutoscalerConfig.behavior).
type Behavior struct {
	ScaleUp   *HPARules `yaml:"scaleUp"`
	ScaleDown *HPARules `yaml:"scaleDown"`
}

// HPARules is one direction of an HPA behavior.
type HPARules struct {
	StabilizationWindowSeconds *int32  `yaml:"stabilizationWindowSeconds"`
	SelectPolicy               *string `yaml:"selectPolicy"`
	Policies                   []struct {
		Type          string `yaml:"type"`
		Value         int32  `yaml:"value"`
		PeriodSeconds int32  `yaml:"periodSeconds"`
	} `yaml:"policies"`
}

// Behavior returns the spec's HPA behavior; nil when it sets none.
func (s ScaledObjectSpec) Behavior() *Behavior {
	if s.Advanced == nil || s.Advanced.HorizontalPodAutoscalerConfig == nil {
		return nil
	}
	return s.Advanced.HorizontalPodAutoscalerConfig.Behavior
}

// Trigger is one of a ScaledObject's triggers.
type Trigger struct {
	Type              string            `yaml:"type"`
	Metadata          map[string]string `yaml:"metadata"`
	AuthenticationRef *struct {
		Name string `yaml:"name"`
		Kind string `yaml:"kind"`
	} `yaml:"authenticationRef"`
}

// TriggerAuthenticationSpec is a TriggerAuthentication's spec.
type TriggerAuthenticationSpec struct {
	PodIdentity *struct {
		Provider      string `yaml:"provider"`
		IdentityOwner string `yaml:"identityOwner"`
		RoleArn       string `yaml:"roleArn"`
	} `yaml:"podIdentity"`
}
