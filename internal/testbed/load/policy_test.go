package load

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testdata/prod.yaml is `kustomize build deploy/kustomize/overlays/prod`,
// refreshed by `make load-testdata`; TestRenderedManifestFresh fails when
// it no longer matches the overlay.
const renderedProd = "testdata/prod.yaml"

func TestRenderedManifestFresh(t *testing.T) {
	kustomize, err := exec.LookPath("kustomize")
	if err != nil {
		kustomize = filepath.Join("..", "..", "..", ".tools", "bin", "kustomize")
		if _, err := os.Stat(kustomize); err != nil {
			t.Skip("kustomize not installed (make deploy-tools): cannot compare testdata/prod.yaml with a fresh render")
		}
	}
	fresh, err := exec.Command(kustomize, "build", filepath.Join("..", "..", "..", "deploy", "kustomize", "overlays", "prod")).Output()
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	have, err := os.ReadFile(renderedProd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, have) {
		t.Fatalf("%s differs from a fresh render of the prod overlay: run make load-testdata", renderedProd)
	}
}

func TestParsePolicyRenderedProd(t *testing.T) {
	b, err := os.ReadFile(renderedProd)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		ScaledObject: "config-report-scanner", Target: "config-report-scanner",
		QueueLength: 5, Activation: 0, ScaleOnInFlight: true,
		MinReplicas: 0, MaxReplicas: 30,
		PollingInterval: 15 * time.Second, Cooldown: 300 * time.Second,
		HPASyncPeriod: 15 * time.Second, Tolerance: 0.1,
		ScaleUp: ScalingRules{Window: 0, Select: SelectMax, Policies: []ScalingPolicy{
			{PolicyPods, 10, 15 * time.Second}, {PolicyPercent, 100, 15 * time.Second}}},
		ScaleDown: ScalingRules{Window: 120 * time.Second, Select: SelectMin, Policies: []ScalingPolicy{
			{PolicyPods, 5, 60 * time.Second}}},
		TerminationGrace: 600 * time.Second,
		Ratio:            1,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("policy from %s:\n got %+v\nwant %+v", renderedProd, p, want)
	}
}

const minimalSO = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: scanner
spec:
  template:
    spec:
      containers: []
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: so
spec:
  scaleTargetRef:
    name: scanner
  triggers:
    - type: aws-sqs-queue
      metadata:
        queueURL: https://example/q
`

func TestParsePolicyDefaults(t *testing.T) {
	p, err := ParsePolicy([]byte(minimalSO))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		ScaledObject: "so", Target: "scanner", QueueLength: 5, ScaleOnInFlight: true,
		MinReplicas: 0, MaxReplicas: 100, PollingInterval: 30 * time.Second, Cooldown: 300 * time.Second,
		HPASyncPeriod: 15 * time.Second, Tolerance: 0.1, ScaleUp: DefaultScaleUp(), ScaleDown: DefaultScaleDown(),
		TerminationGrace: 30 * time.Second, Ratio: 1,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", p, want)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string // every one must appear
	}{
		{"no scaled object", "kind: Deployment\nmetadata:\n  name: scanner\n", []string{"0 aws-sqs-queue triggers"}},
		{"target missing", strings.Replace(minimalSO, "name: scanner\n  triggers", "name: other\n  triggers", 1), []string{`Deployment "other"`}},
		{"bad metadata, all reported", strings.Replace(minimalSO, "queueURL: https://example/q", "queueLength: \"five\"\n        scaleOnInFlight: \"maybe\"", 1),
			[]string{"queueLength", "scaleOnInFlight"}},
		{"bad bounds and policy", strings.Replace(minimalSO, "  triggers:", "  minReplicaCount: 5\n  maxReplicaCount: 2\n  advanced:\n    horizontalPodAutoscalerConfig:\n      behavior:\n        scaleUp:\n          selectPolicy: Fastest\n  triggers:", 1),
			[]string{"replicas min 5 max 2", "selectPolicy \"Fastest\""}},
		{"not yaml", "kind: [", []string{"parse manifest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.manifest))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestShorten(t *testing.T) {
	p, err := ParsePolicy([]byte(minimalSO))
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Shorten(15)
	if err != nil {
		t.Fatal(err)
	}
	if q.PollingInterval != 2*time.Second || q.Cooldown != 20*time.Second || q.HPASyncPeriod != time.Second ||
		q.TerminationGrace != 30*time.Second || q.ScaleDown.Window != 20*time.Second ||
		q.ScaleUp.Policies[0].Period != time.Second || q.Ratio != 15 {
		t.Fatalf("shortened by 15: %s", q)
	}
	if p.ScaleUp.Policies[0].Period != 15*time.Second {
		t.Fatal("Shorten changed the original's policies")
	}
	for _, r := range []float64{0, -1} {
		if _, err := p.Shorten(r); err == nil {
			t.Errorf("Shorten(%g) accepted", r)
		}
	}
}
