package keda

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// Behavior reads through every optional level, whichever is left out.
func TestBehavior(t *testing.T) {
	tests := []struct {
		name     string
		spec     string
		up, down bool // ScaleUp, ScaleDown set
		none     bool // Behavior nil
	}{
		{name: "no advanced", spec: `minReplicaCount: 0`, none: true},
		{name: "no hpa config", spec: `advanced: {}`, none: true},
		{name: "no behavior", spec: `advanced: {horizontalPodAutoscalerConfig: {}}`, none: true},
		{name: "up only", spec: `advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleUp: {stabilizationWindowSeconds: 0}}}}`, up: true},
		{name: "both", spec: `
advanced:
  horizontalPodAutoscalerConfig:
    behavior:
      scaleUp: {policies: [{type: Pods, value: 4, periodSeconds: 15}]}
      scaleDown: {selectPolicy: Min}`, up: true, down: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s ScaledObjectSpec
			if err := yaml.Unmarshal([]byte(tt.spec), &s); err != nil {
				t.Fatal(err)
			}
			b := s.Behavior()
			if (b == nil) != tt.none {
				t.Fatalf("Behavior() = %v, want nil: %v", b, tt.none)
			}
			if b == nil {
				return
			}
			if (b.ScaleUp != nil) != tt.up || (b.ScaleDown != nil) != tt.down {
				t.Errorf("scaleUp set %v, scaleDown set %v; want %v, %v", b.ScaleUp != nil, b.ScaleDown != nil, tt.up, tt.down)
			}
		})
	}
}
