package load

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDownwardEnvRendered(t *testing.T) {
	manifest, err := os.ReadFile(renderedProd)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DownwardEnv(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// The prod overlay's limits: scanner 512Mi, aggregator 1Gi, trigger 256Mi.
	want := map[string][]string{
		"scanner":    {"MEMORY_LIMIT=536870912", "SHUTDOWN_TIMEOUT=480s"},
		"aggregator": {"MEMORY_LIMIT=1073741824"},
		"trigger":    {"MEMORY_LIMIT=268435456"},
	}
	for name, env := range want {
		if !slices.Equal(got[name], env) {
			t.Errorf("%s: env %q, want %q", name, got[name], env)
		}
	}
}

func TestDownwardEnv(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
        - name: app
          env:
            - name: PLAIN
              value: x
            - name: A
              valueFrom: {resourceFieldRef: {resource: %s%s}}
          resources:
            limits: {memory: %s, cpu: "1500m"}
            requests: {memory: 256Mi}
`
	cronjob := `apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              env:
                - name: M
                  valueFrom: {resourceFieldRef: {resource: limits.memory}}
              resources: {limits: {memory: 1G}}
`
	dep := func(resource, divisor, memory string) string {
		if divisor != "" {
			divisor = ", divisor: " + divisor
		}
		return strings.NewReplacer("%s%s", resource+divisor, "%s", memory).Replace(deployment)
	}
	tests := []struct {
		name     string
		manifest string
		want     map[string][]string
		err      string
	}{
		{"memory limit in bytes", dep("limits.memory", "", "512Mi"), map[string][]string{"app": {"PLAIN=x", "A=536870912"}}, ""},
		{"decimal suffix", dep("limits.memory", "", "1.5G"), map[string][]string{"app": {"PLAIN=x", "A=1500000000"}}, ""},
		{"divisor rounds up", dep("limits.memory", "1Gi", "1536Mi"), map[string][]string{"app": {"PLAIN=x", "A=2"}}, ""},
		{"cpu rounds up to cores", dep("limits.cpu", "", "1Gi"), map[string][]string{"app": {"PLAIN=x", "A=2"}}, ""},
		{"cpu in millicores", dep("limits.cpu", "1m", "1Gi"), map[string][]string{"app": {"PLAIN=x", "A=1500"}}, ""},
		{"requests", dep("requests.memory", "", "1Gi"), map[string][]string{"app": {"PLAIN=x", "A=268435456"}}, ""},
		{"cronjob and deployment", dep("limits.memory", "", "2Ki") + "---\n" + cronjob, map[string][]string{"app": {"PLAIN=x", "A=2048"}, "job": {"M=1000000000"}}, ""},
		{"unset resource", dep("limits.ephemeral-storage", "", "1Gi"), nil, "limits.ephemeral-storage is not set"},
		{"bad resource", dep("memory", "", "1Gi"), nil, `resource "memory"`},
		{"bad quantity", dep("limits.memory", "", "12Qi"), nil, `quantity "12Qi"`},
		{"exponent refused", dep("limits.memory", "", "1e9"), nil, `quantity "1e9"`},
		{"zero divisor", dep("limits.memory", "0", "1Gi"), nil, "divisor"},
		{"container twice", dep("limits.memory", "", "1Gi") + "---\n" + dep("limits.memory", "", "1Gi"), nil, `container "app" named twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DownwardEnv([]byte(tt.manifest))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestScannerStopTimeout(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		grace time.Duration
		want  time.Duration
		err   bool
	}{
		{"the binary's default", []string{"MEMORY_LIMIT=1"}, 600 * time.Second, 20 * time.Second, false},
		{"the container's", []string{"MEMORY_LIMIT=1", "SHUTDOWN_TIMEOUT=480s"}, 600 * time.Second, 480 * time.Second, false},
		{"under the grace period", []string{"SHUTDOWN_TIMEOUT=480s"}, 100 * time.Second, 80 * time.Second, false},
		{"default under a short grace", nil, 10 * time.Second, 8 * time.Second, false},
		{"not a duration", []string{"SHUTDOWN_TIMEOUT=8 min"}, 600 * time.Second, 0, true},
		{"negative", []string{"SHUTDOWN_TIMEOUT=-1s"}, 600 * time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scannerStopTimeout(tt.env, tt.grace)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("scannerStopTimeout = %s, %v; want %s, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}
