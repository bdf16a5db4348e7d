package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// testdata/prod.yaml and dev.yaml are the rendered overlays. With -update and
// kustomize on PATH they are re-rendered (make deploy-testdata does that).
var update = flag.Bool("update", false, "re-render testdata/{prod,dev}.yaml with kustomize")

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		for _, o := range []string{"prod", "dev"} {
			out, err := exec.Command("kustomize", "build", filepath.Join("..", "kustomize", "overlays", o)).Output()
			if err != nil {
				panic("kustomize build " + o + ": " + err.Error())
			}
			if err := os.WriteFile(filepath.Join("testdata", o+".yaml"), out, 0o644); err != nil {
				panic(err)
			}
		}
	}
	os.Exit(m.Run())
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderedOverlaysPass(t *testing.T) {
	for _, tt := range []struct {
		file       string
		production bool
	}{{"prod.yaml", true}, {"dev.yaml", false}} {
		got, err := check(read(t, tt.file), tt.production)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("%s: violations:\n%s", tt.file, strings.Join(got, "\n"))
		}
	}
}

// The dev overlay skips what only production needs; checked as production it
// must fail on exactly those rules.
func TestDevFailsProductionRules(t *testing.T) {
	got, err := check(read(t, "dev.yaml"), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Deployment/config-report-aggregator: no PodDisruptionBudget selects the aggregator",
		"Deployment/config-report-scanner: no NetworkPolicy restricts its egress",
		"Deployment/config-report-aggregator: aggregator needs at least 2 replicas in production",
		"ScaledObject/config-report-scanner: maxReplicaCount must be at least 20 in production",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

// testdata/broken.yaml is a deliberately broken production manifest; the make
// target also runs the binary on it and requires a failure.
func TestBrokenManifestFails(t *testing.T) {
	got, err := check(read(t, "broken.yaml"), true)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(read(t, "broken.violations"))), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestIsProduction(t *testing.T) {
	for name, want := range map[string]bool{"prod": true, "production-hk": true, "dev": false, "my-dev-2": false, "local": false, "Local-kind": false, "staging": true} {
		if got := isProduction(name); got != want {
			t.Errorf("isProduction(%q) = %v", name, got)
		}
	}
}

// docs is a rendered manifest as generic YAML, for mutation.
type docs []map[string]any

func load(t *testing.T, name string) docs {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(read(t, name)))
	var out docs
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

func (ds docs) bytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, d := range ds {
		b.WriteString("---\n")
		out, err := yaml.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
	}
	return b.Bytes()
}

// at walks a dotted path ("spec.template.spec.containers.0") from kind/name's
// document and returns the parent container and the last key.
func (ds docs) at(t *testing.T, kind, name, p string) (any, string) {
	t.Helper()
	for _, d := range ds {
		md, _ := d["metadata"].(map[string]any)
		if d["kind"] != kind || md["name"] != name {
			continue
		}
		keys := strings.Split(p, ".")
		var cur any = d
		for _, k := range keys[:len(keys)-1] {
			switch c := cur.(type) {
			case map[string]any:
				cur = c[k]
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i >= len(c) {
					t.Fatalf("%s/%s: bad index %q in %s", kind, name, k, p)
				}
				cur = c[i]
			default:
				t.Fatalf("%s/%s: %s: %q is not walkable", kind, name, p, k)
			}
		}
		return cur, keys[len(keys)-1]
	}
	t.Fatalf("no %s/%s", kind, name)
	return nil, ""
}

func (ds docs) set(t *testing.T, kind, name, p string, v any) docs {
	parent, k := ds.at(t, kind, name, p)
	switch c := parent.(type) {
	case map[string]any:
		c[k] = v
	case []any:
		i, _ := strconv.Atoi(k)
		c[i] = v
	default:
		t.Fatalf("%s: cannot set", p)
	}
	return ds
}

func (ds docs) del(t *testing.T, kind, name, p string) docs {
	parent, k := ds.at(t, kind, name, p)
	m, ok := parent.(map[string]any)
	if !ok {
		t.Fatalf("%s: cannot delete", p)
	}
	if _, ok := m[k]; !ok {
		t.Fatalf("%s/%s: %s does not exist; the mutation would test nothing", kind, name, p)
	}
	delete(m, k)
	return ds
}

func (ds docs) drop(t *testing.T, kind, name string) docs {
	for i, d := range ds {
		md, _ := d["metadata"].(map[string]any)
		if d["kind"] == kind && md["name"] == name {
			return slices.Delete(ds, i, i+1)
		}
	}
	t.Fatalf("no %s/%s", kind, name)
	return ds
}

const (
	agg     = "config-report-aggregator"
	scanner = "config-report-scanner"
	trig    = "config-report-trigger"
	podC0   = "spec.template.spec.containers.0"
	cronC0  = "spec.jobTemplate.spec.template.spec.containers.0"
)

// Each rule, broken alone in the production manifest, is reported.
func TestEachRuleCanFail(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, d docs) docs
		want   string
	}{
		{"IRSA annotation missing", func(t *testing.T, d docs) docs {
			return d.set(t, "ServiceAccount", "config-report-scanner", "metadata.annotations", map[string]any{})
		}, "Deployment/config-report-scanner: ServiceAccount \"config-report-scanner\": eks.amazonaws.com/role-arn = \"\", want the hub role ARN"},
		{"IRSA names another role", func(t *testing.T, d docs) docs {
			return d.set(t, "ServiceAccount", "config-report-trigger", "metadata.annotations", map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::210987654321:role/admin"})
		}, "CronJob/config-report-trigger: ServiceAccount \"config-report-trigger\": eks.amazonaws.com/role-arn = \"arn:aws:iam::210987654321:role/admin\", want the hub role ARN"},
		{"default service account", func(t *testing.T, d docs) docs {
			return d.del(t, "Deployment", agg, "spec.template.spec.serviceAccountName")
		}, "Deployment/config-report-aggregator: runs as the default ServiceAccount: no IRSA role"},
		{"no memory limit", func(t *testing.T, d docs) docs {
			return d.del(t, "Deployment", scanner, podC0+".resources.limits.memory")
		}, "Deployment/config-report-scanner container scanner: no memory limits"},
		{"CronJob without requests", func(t *testing.T, d docs) docs {
			return d.del(t, "CronJob", trig, cronC0+".resources.requests")
		}, "CronJob/config-report-trigger container trigger: no cpu requests"},
		{"root filesystem writable", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, podC0+".securityContext.readOnlyRootFilesystem", false)
		}, "Deployment/config-report-aggregator container aggregator: readOnlyRootFilesystem is not true"},
		{"runs as root", func(t *testing.T, d docs) docs {
			d = d.set(t, "CronJob", trig, cronC0+".securityContext.runAsNonRoot", false)
			return d
		}, "CronJob/config-report-trigger container trigger: runAsNonRoot is not true"},
		{"privilege escalation", func(t *testing.T, d docs) docs {
			return d.del(t, "Deployment", scanner, podC0+".securityContext.allowPrivilegeEscalation")
		}, "Deployment/config-report-scanner container scanner: allowPrivilegeEscalation is not false"},
		{"capabilities kept", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", scanner, podC0+".securityContext.capabilities.drop", []any{"NET_RAW"})
		}, "Deployment/config-report-scanner container scanner: capabilities do not drop ALL"},
		{"seccomp unconfined", func(t *testing.T, d docs) docs {
			d = d.set(t, "Deployment", agg, "spec.template.spec.securityContext.seccompProfile.type", "Unconfined")
			return d.set(t, "Deployment", agg, podC0+".securityContext.seccompProfile.type", "Unconfined")
		}, "Deployment/config-report-aggregator container aggregator: seccompProfile is not RuntimeDefault"},
		{"TMPDIR not on emptyDir", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, "spec.template.spec.volumes.0", map[string]any{"name": "tmp", "hostPath": map[string]any{"path": "/tmp"}})
		}, "Deployment/config-report-aggregator container aggregator: TMPDIR \"/tmp\" is not on an emptyDir volume mount"},
		{"Jira token not from a Secret", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, "spec.template.spec.volumes.1", map[string]any{"name": "jira-token", "emptyDir": map[string]any{}})
		}, "Deployment/config-report-aggregator container aggregator: JIRA_TOKEN_FILE \"/var/run/secrets/config-report/jira/token\" is not on a Secret volume mount"},
		{"latest image", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", scanner, podC0+".image", "config-report:latest")
		}, "Deployment/config-report-scanner container scanner: image \"config-report:latest\" is not pinned to a tag or digest"},
		{"wrong schedule", func(t *testing.T, d docs) docs {
			return d.set(t, "CronJob", trig, "spec.schedule", "0 1 * * 1")
		}, "CronJob/config-report-trigger: schedule \"0 1 * * 1\", want \"0 9 * * 1\""},
		{"no time zone", func(t *testing.T, d docs) docs {
			return d.del(t, "CronJob", trig, "spec.timeZone")
		}, "CronJob/config-report-trigger: timeZone \"\", want \"Asia/Hong_Kong\""},
		{"concurrent triggers", func(t *testing.T, d docs) docs {
			return d.set(t, "CronJob", trig, "spec.concurrencyPolicy", "Allow")
		}, "CronJob/config-report-trigger: concurrencyPolicy \"Allow\", want Forbid (two triggers open two runs)"},
		{"no history limit", func(t *testing.T, d docs) docs {
			return d.del(t, "CronJob", trig, "spec.failedJobsHistoryLimit")
		}, "CronJob/config-report-trigger: successfulJobsHistoryLimit and failedJobsHistoryLimit must both be set"},
		{"time ceiling", func(t *testing.T, d docs) docs {
			return d.set(t, "CronJob", trig, "spec.jobTemplate.spec.activeDeadlineSeconds", 900)
		}, "CronJob/config-report-trigger: activeDeadlineSeconds set: the trigger must have no time ceiling"},
		{"default grace period", func(t *testing.T, d docs) docs {
			return d.del(t, "Deployment", scanner, "spec.template.spec.terminationGracePeriodSeconds")
		}, "Deployment/config-report-scanner: terminationGracePeriodSeconds must be set above 30s so the message in hand finishes or is abandoned cleanly"},
		{"shutdown past the grace period", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", scanner, "spec.template.spec.terminationGracePeriodSeconds", 300)
		}, "Deployment/config-report-scanner container scanner: SHUTDOWN_TIMEOUT 8m0s must be under terminationGracePeriodSeconds (300s)"},
		{"readiness on healthz", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", scanner, podC0+".readinessProbe.httpGet.path", "/healthz")
		}, "Deployment/config-report-scanner container scanner: readinessProbe path \"/healthz\", want \"/readyz\""},
		{"no liveness", func(t *testing.T, d docs) docs {
			return d.del(t, "Deployment", agg, podC0+".livenessProbe")
		}, "Deployment/config-report-aggregator container aggregator: no HTTP livenessProbe"},
		{"probe on another port", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, podC0+".readinessProbe.httpGet.port", 9090)
		}, "Deployment/config-report-aggregator container aggregator: readinessProbe port 9090 is not 8080 (HEALTH_ADDR)"},
		{"one aggregator", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, "spec.replicas", 1)
		}, "PodDisruptionBudget/config-report-aggregator: minAvailable 1 with 1 replicas lets no pod be evicted"},
		{"no PDB", func(t *testing.T, d docs) docs {
			return d.drop(t, "PodDisruptionBudget", agg)
		}, "Deployment/config-report-aggregator: no PodDisruptionBudget selects the aggregator"},
		{"PDB as percentage", func(t *testing.T, d docs) docs {
			return d.set(t, "PodDisruptionBudget", agg, "spec.minAvailable", "50%")
		}, "PodDisruptionBudget/config-report-aggregator: minAvailable must be the integer 1, got 50%"},
		{"no NetworkPolicy", func(t *testing.T, d docs) docs {
			return d.drop(t, "NetworkPolicy", "config-report")
		}, "CronJob/config-report-trigger: no NetworkPolicy restricts its egress"},
		{"egress to anything", func(t *testing.T, d docs) docs {
			return d.del(t, "NetworkPolicy", "config-report", "spec.egress.1.ports")
		}, "NetworkPolicy/config-report: egress rule 1 has no ports: it allows everything"},
		{"egress on port 80", func(t *testing.T, d docs) docs {
			return d.set(t, "NetworkPolicy", "config-report", "spec.egress.1.ports.0.port", 80)
		}, "NetworkPolicy/config-report: egress rule 1 allows TCP/80: only DNS (53) and HTTPS (443)"},
		{"scanner not scaled", func(t *testing.T, d docs) docs {
			return d.drop(t, "ScaledObject", scanner)
		}, "Deployment/config-report-scanner: scanner is not scaled by a KEDA ScaledObject"},
		{"scanner replicas fixed", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", scanner, "spec.replicas", 3)
		}, "Deployment/config-report-scanner: replicas is set, but KEDA owns the scanner's replicas"},
		{"scanners kept between runs", func(t *testing.T, d docs) docs {
			return d.set(t, "ScaledObject", scanner, "spec.minReplicaCount", 1)
		}, "ScaledObject/config-report-scanner: minReplicaCount must be 0 (no scanners between runs)"},
		{"too few scanners", func(t *testing.T, d docs) docs {
			return d.set(t, "ScaledObject", scanner, "spec.maxReplicaCount", 10)
		}, "ScaledObject/config-report-scanner: maxReplicaCount must be at least 20 in production"},
		{"no HPA behavior", func(t *testing.T, d docs) docs {
			return d.del(t, "ScaledObject", scanner, "spec.advanced")
		}, "ScaledObject/config-report-scanner: advanced.horizontalPodAutoscalerConfig.behavior must set scaleUp and scaleDown"},
		{"no queue length", func(t *testing.T, d docs) docs {
			return d.del(t, "ScaledObject", scanner, "spec.triggers.0.metadata.queueLength")
		}, "ScaledObject/config-report-scanner: aws-sqs-queue trigger has no queueLength"},
		{"queue in another region", func(t *testing.T, d docs) docs {
			return d.set(t, "ScaledObject", scanner, "spec.triggers.0.metadata.awsRegion", "us-east-1")
		}, "ScaledObject/config-report-scanner: queueURL \"https://sqs.ap-east-1.amazonaws.com/210987654321/config-report-scan\" is not in awsRegion \"us-east-1\""},
		{"KEDA watches another queue", func(t *testing.T, d docs) docs {
			return d.set(t, "ScaledObject", scanner, "spec.triggers.0.metadata.queueURL", "https://sqs.ap-east-1.amazonaws.com/210987654321/config-report-results-aggregator")
		}, "ScaledObject/config-report-scanner: queueURL \"https://sqs.ap-east-1.amazonaws.com/210987654321/config-report-results-aggregator\" is not the scanners' SCAN_QUEUE_URL [https://sqs.ap-east-1.amazonaws.com/210987654321/config-report-scan]"},
		{"hub role from another account", func(t *testing.T, d docs) docs {
			return d.set(t, "ServiceAccount", "config-report-scanner", "metadata.annotations", map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::333333333333:role/system-config-report-generator-write-role"})
		}, "ServiceAccount/config-report-scanner: hub role \"arn:aws:iam::333333333333:role/system-config-report-generator-write-role\" is not in the scan queue's account 210987654321"},
		{"keys instead of pod identity", func(t *testing.T, d docs) docs {
			return d.del(t, "TriggerAuthentication", "config-report-scanner-aws", "spec.podIdentity")
		}, "TriggerAuthentication/config-report-scanner-aws: podIdentity.provider must be aws (no keys)"},
		{"KEDA as the scanners' hub role", func(t *testing.T, d docs) docs {
			return d.set(t, "TriggerAuthentication", "config-report-scanner-aws", "spec.podIdentity", map[string]any{"provider": "aws", "identityOwner": "workload"})
		}, "TriggerAuthentication/config-report-scanner-aws: podIdentity.identityOwner \"workload\": KEDA must assume its own role by roleArn, not the scanners' hub role (workload) nor the operator's default role (keda)"},
		{"KEDA as its operator's default role", func(t *testing.T, d docs) docs {
			return d.del(t, "TriggerAuthentication", "config-report-scanner-aws", "spec.podIdentity.roleArn")
		}, "TriggerAuthentication/config-report-scanner-aws: podIdentity.roleArn \"\" is not KEDA's role system-config-report-generator-keda-role"},
		{"KEDA assumes the hub role", func(t *testing.T, d docs) docs {
			return d.set(t, "TriggerAuthentication", "config-report-scanner-aws", "spec.podIdentity.roleArn", "arn:aws:iam::210987654321:role/system-config-report-generator-write-role")
		}, "TriggerAuthentication/config-report-scanner-aws: podIdentity.roleArn \"arn:aws:iam::210987654321:role/system-config-report-generator-write-role\" is not KEDA's role system-config-report-generator-keda-role"},
		{"KEDA role in another account", func(t *testing.T, d docs) docs {
			return d.set(t, "TriggerAuthentication", "config-report-scanner-aws", "spec.podIdentity.roleArn", "arn:aws:iam::333333333333:role/system-config-report-generator-keda-role")
		}, "TriggerAuthentication/config-report-scanner-aws: podIdentity.roleArn \"arn:aws:iam::333333333333:role/system-config-report-generator-keda-role\" is not in the scan queue's account 210987654321"},
		{"DNS to any server", func(t *testing.T, d docs) docs {
			return d.del(t, "NetworkPolicy", "config-report", "spec.egress.0.to")
		}, "NetworkPolicy/config-report: egress rule 0 opens DNS (53) beyond kube-dns: want to = namespaceSelector kubernetes.io/metadata.name=kube-system with podSelector k8s-app=kube-dns"},
		{"DNS to all of kube-system", func(t *testing.T, d docs) docs {
			return d.del(t, "NetworkPolicy", "config-report", "spec.egress.0.to.0.podSelector")
		}, "NetworkPolicy/config-report: egress rule 0 opens DNS (53) beyond kube-dns"},
		{"DNS to kube-dns-labelled pods anywhere", func(t *testing.T, d docs) docs {
			return d.del(t, "NetworkPolicy", "config-report", "spec.egress.0.to.0.namespaceSelector")
		}, "NetworkPolicy/config-report: egress rule 0 opens DNS (53) beyond kube-dns"},
		{"DNS also to an address", func(t *testing.T, d docs) docs {
			parent, _ := d.at(t, "NetworkPolicy", "config-report", "spec.egress.0.to.0")
			rule := parent.([]any)
			return d.set(t, "NetworkPolicy", "config-report", "spec.egress.0.to", append(rule, map[string]any{"ipBlock": map[string]any{"cidr": "8.8.8.8/32"}}))
		}, "NetworkPolicy/config-report: egress rule 0 opens DNS (53) beyond kube-dns"},
		{"health port from every namespace", func(t *testing.T, d docs) docs {
			return d.del(t, "NetworkPolicy", "config-report", "spec.ingress.0.from")
		}, "NetworkPolicy/config-report: ingress rule 0 has no from: it admits every namespace"},
		{"health port from any namespace by selector", func(t *testing.T, d docs) docs {
			return d.set(t, "NetworkPolicy", "config-report", "spec.ingress.0.from.0.namespaceSelector", map[string]any{})
		}, "NetworkPolicy/config-report: ingress rule 0 peer 0 is not one namespace: name the monitoring namespace with namespaceSelector matchLabels kubernetes.io/metadata.name"},
		{"health port from an address block", func(t *testing.T, d docs) docs {
			return d.set(t, "NetworkPolicy", "config-report", "spec.ingress.0.from.0", map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}})
		}, "NetworkPolicy/config-report: ingress rule 0 peer 0 is not one namespace"},
		{"ingress on another port", func(t *testing.T, d docs) docs {
			return d.set(t, "NetworkPolicy", "config-report", "spec.ingress.0.ports.0.port", 9090)
		}, "NetworkPolicy/config-report: ingress rule 0 admits TCP/9090: only the health and metrics port 8080"},
		{"ingress on every port", func(t *testing.T, d docs) docs {
			return d.del(t, "NetworkPolicy", "config-report", "spec.ingress.0.ports")
		}, "NetworkPolicy/config-report: ingress rule 0 has no ports: it admits every port"},
		{"ingress not restricted", func(t *testing.T, d docs) docs {
			return d.set(t, "NetworkPolicy", "config-report", "spec.policyTypes", []any{"Egress"})
		}, "Deployment/config-report-aggregator: no NetworkPolicy restricts its ingress"},
		{"no MEMORY_LIMIT", func(t *testing.T, d docs) docs {
			return d.del(t, "Deployment", scanner, podC0+".env")
		}, "Deployment/config-report-scanner container scanner: no env MEMORY_LIMIT from resourceFieldRef limits.memory of this container"},
		{"CronJob without MEMORY_LIMIT", func(t *testing.T, d docs) docs {
			return d.del(t, "CronJob", trig, cronC0+".env")
		}, "CronJob/config-report-trigger container trigger: no env MEMORY_LIMIT from resourceFieldRef limits.memory of this container"},
		{"MEMORY_LIMIT from the request", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, podC0+".env.0.valueFrom.resourceFieldRef.resource", "requests.memory")
		}, "Deployment/config-report-aggregator container aggregator: no env MEMORY_LIMIT from resourceFieldRef limits.memory of this container"},
		{"MEMORY_LIMIT in MiB", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, podC0+".env.0.valueFrom.resourceFieldRef.divisor", "1Mi")
		}, "Deployment/config-report-aggregator container aggregator: no env MEMORY_LIMIT from resourceFieldRef limits.memory of this container"},
		{"MEMORY_LIMIT of another container", func(t *testing.T, d docs) docs {
			return d.set(t, "Deployment", agg, podC0+".env.0.valueFrom.resourceFieldRef.containerName", "sidecar")
		}, "Deployment/config-report-aggregator container aggregator: no env MEMORY_LIMIT from resourceFieldRef limits.memory of this container"},
		{"MEMORY_LIMIT overridden by a fixed value", func(t *testing.T, d docs) docs {
			parent, _ := d.at(t, "Deployment", scanner, podC0+".env.0")
			return d.set(t, "Deployment", scanner, podC0+".env", append(parent.([]any), map[string]any{"name": "MEMORY_LIMIT", "value": "536870912"}))
		}, "Deployment/config-report-scanner container scanner: no env MEMORY_LIMIT from resourceFieldRef limits.memory of this container"},
		{"fixed GOMEMLIMIT", func(t *testing.T, d docs) docs {
			for _, doc := range d {
				if doc["kind"] == "ConfigMap" {
					doc["data"].(map[string]any)["GOMEMLIMIT"] = "900MiB"
				}
			}
			return d
		}, "Deployment/config-report-aggregator container aggregator: GOMEMLIMIT set: a fixed value overrides the one derived from the container's memory limit (MEMORY_LIMIT)"},
		{"resources created at run time", func(t *testing.T, d docs) docs {
			for _, doc := range d {
				if doc["kind"] == "ConfigMap" {
					doc["data"].(map[string]any)["CREATE_RESOURCES"] = "true"
				}
			}
			return d
		}, "CREATE_RESOURCES=\"true\": production creates nothing at run time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.mutate(t, load(t, "prod.yaml"))
			got, err := check(d.bytes(t), true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("want %q among:\n%s", tt.want, strings.Join(got, "\n"))
			}
		})
	}
}
