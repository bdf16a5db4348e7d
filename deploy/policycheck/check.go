package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cybsecops/configreport/internal/cli"
)

const (
	roleAnnotation = "eks.amazonaws.com/role-arn"
	componentLabel = "app.kubernetes.io/component"
	healthPort     = 8080
	// DESIGN.md: "Monday 09:00 Asia/Hong_Kong".
	wantSchedule = "0 9 * * 1"
	wantTimeZone = "Asia/Hong_Kong"
	// DESIGN.md: 20+ concurrent scans.
	minMaxReplicas = 20
	// Kubernetes' default grace period; a scanner finishing an account needs more.
	defaultGrace = 30
)

var (
	hubRoleARN  = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/system-config-report-generator-write-role$`)
	kedaRoleARN = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role/system-config-report-generator-keda-role$`)
)

const (
	// The label Kubernetes puts on every namespace, with its name.
	namespaceNameLabel = "kubernetes.io/metadata.name"
	// The cluster DNS pods.
	dnsNamespace = "kube-system"
	dnsPodLabel  = "k8s-app"
	dnsPodValue  = "kube-dns"
)

// workload is a pod template and who owns it.
type workload struct {
	ref  string // Kind/name
	pod  podTemplate
	comp string
}

// manifest is a rendered overlay, indexed for the checks.
type manifest struct {
	serviceAccounts map[string]objectMeta
	configMaps      map[string]configMap
	deployments     map[string]deployment
	deploymentMeta  map[string]objectMeta
	cronJobs        map[string]cronJob
	pdbs            map[string]pdb
	netpols         map[string]networkPolicy
	scaledObjects   map[string]scaledObject
	triggerAuths    map[string]triggerAuthentication
	workloads       []workload
}

func parse(data []byte) (*manifest, error) {
	m := &manifest{
		serviceAccounts: map[string]objectMeta{},
		configMaps:      map[string]configMap{},
		deployments:     map[string]deployment{},
		deploymentMeta:  map[string]objectMeta{},
		cronJobs:        map[string]cronJob{},
		pdbs:            map[string]pdb{},
		netpols:         map[string]networkPolicy{},
		scaledObjects:   map[string]scaledObject{},
		triggerAuths:    map[string]triggerAuthentication{},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(node.Content) == 0 || node.Content[0].Kind != yaml.MappingNode {
			continue // an empty document between separators
		}
		var h header
		if err := node.Decode(&h); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		ref := h.Kind + "/" + h.Metadata.Name
		var err error
		switch h.Kind {
		case "ServiceAccount":
			m.serviceAccounts[h.Metadata.Name] = h.Metadata
		case "ConfigMap":
			_, err = decodeInto(&node, m.configMaps, h.Metadata.Name)
		case "Deployment":
			var o deployment
			o, err = decodeInto(&node, m.deployments, h.Metadata.Name)
			m.deploymentMeta[h.Metadata.Name] = h.Metadata
			m.workloads = append(m.workloads, workload{ref, o.Spec.Template, h.Metadata.Labels[componentLabel]})
		case "CronJob":
			var o cronJob
			o, err = decodeInto(&node, m.cronJobs, h.Metadata.Name)
			m.workloads = append(m.workloads, workload{ref, o.Spec.JobTemplate.Spec.Template, h.Metadata.Labels[componentLabel]})
		case "Job", "StatefulSet", "DaemonSet", "ReplicaSet":
			var o struct {
				Spec struct {
					Template podTemplate `yaml:"template"`
				} `yaml:"spec"`
			}
			err = node.Decode(&o)
			m.workloads = append(m.workloads, workload{ref, o.Spec.Template, h.Metadata.Labels[componentLabel]})
		case "Pod":
			var o struct {
				Spec podSpec `yaml:"spec"`
			}
			err = node.Decode(&o)
			m.workloads = append(m.workloads, workload{ref, podTemplate{Metadata: h.Metadata, Spec: o.Spec}, h.Metadata.Labels[componentLabel]})
		case "PodDisruptionBudget":
			_, err = decodeInto(&node, m.pdbs, h.Metadata.Name)
		case "NetworkPolicy":
			_, err = decodeInto(&node, m.netpols, h.Metadata.Name)
		case "ScaledObject":
			_, err = decodeInto(&node, m.scaledObjects, h.Metadata.Name)
		case "TriggerAuthentication":
			_, err = decodeInto(&node, m.triggerAuths, h.Metadata.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
	}
	return m, nil
}

// decodeInto decodes node as a T and files it under name in into.
func decodeInto[T any](node *yaml.Node, into map[string]T, name string) (T, error) {
	var o T
	err := node.Decode(&o)
	into[name] = o
	return o, err
}

// check returns every violation of the rendered manifests, sorted.
func check(data []byte, production bool) ([]string, error) {
	m, err := parse(data)
	if err != nil {
		return nil, err
	}
	var v violations
	if len(m.workloads) == 0 {
		v.add("manifest", "no workloads: nothing rendered?")
	}
	for _, w := range m.workloads {
		m.checkPod(&v, w, production)
	}
	m.checkCronJobs(&v)
	m.checkDeployments(&v, production)
	m.checkScaling(&v, production)
	if production {
		m.checkPDB(&v)
		m.checkNetworkPolicy(&v)
		m.checkProductionSettings(&v)
	}
	return v.sorted(), nil
}

type violations []string

func (v *violations) add(ref, format string, args ...any) {
	*v = append(*v, ref+": "+fmt.Sprintf(format, args...))
}

func (v violations) sorted() []string {
	out := slices.Clone(v)
	sort.Strings(out)
	return slices.Compact(out)
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// env resolves a container's environment: envFrom ConfigMaps first, then env,
// which wins, as in Kubernetes.
func (m *manifest) env(c container) map[string]string {
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			for k, val := range m.configMaps[ef.ConfigMapRef.Name].Data {
				out[k] = val
			}
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func (m *manifest) checkPod(v *violations, w workload, production bool) {
	spec := w.pod.Spec
	psc := spec.SecurityContext
	podNonRoot := psc != nil && isTrue(psc.RunAsNonRoot)
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == "RuntimeDefault"
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		v.add(w.ref, "pod runAsUser is 0 (root)")
	}

	if production {
		sa, ok := m.serviceAccounts[spec.ServiceAccountName]
		switch {
		case spec.ServiceAccountName == "" || spec.ServiceAccountName == "default":
			v.add(w.ref, "runs as the default ServiceAccount: no IRSA role")
		case !ok:
			v.add(w.ref, "ServiceAccount %q is not in the manifests", spec.ServiceAccountName)
		case !hubRoleARN.MatchString(sa.Annotations[roleAnnotation]):
			v.add(w.ref, "ServiceAccount %q: %s = %q, want the hub role ARN", spec.ServiceAccountName, roleAnnotation, sa.Annotations[roleAnnotation])
		}
	}

	volumes := map[string]volume{}
	for _, vol := range spec.Volumes {
		volumes[vol.Name] = vol
	}
	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	for _, c := range all {
		ref := w.ref + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			v.add(ref, "no securityContext")
			sc = &securityContext{}
		}
		if !podNonRoot && !isTrue(sc.RunAsNonRoot) || isFalse(sc.RunAsNonRoot) {
			v.add(ref, "runAsNonRoot is not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			v.add(ref, "runAsUser is 0 (root)")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			v.add(ref, "readOnlyRootFilesystem is not true")
		}
		if !isFalse(sc.AllowPrivilegeEscalation) {
			v.add(ref, "allowPrivilegeEscalation is not false")
		}
		if isTrue(sc.Privileged) {
			v.add(ref, "privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			v.add(ref, "capabilities do not drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			v.add(ref, "adds capabilities %v", sc.Capabilities.Add)
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault") {
			v.add(ref, "seccompProfile is not RuntimeDefault")
		}

		if production {
			for _, kind := range []string{"requests", "limits"} {
				rl := c.Resources.Requests
				if kind == "limits" {
					rl = c.Resources.Limits
				}
				for _, r := range []string{"cpu", "memory"} {
					if rl[r] == "" {
						v.add(ref, "no %s %s", r, kind)
					}
				}
			}
			if img := c.Image; img == "" || strings.HasSuffix(img, ":latest") || !strings.ContainsAny(path.Base(img), ":@") {
				v.add(ref, "image %q is not pinned to a tag or digest", img)
			}
		}

		// A read-only root needs TMPDIR on a writable emptyDir (excelize spills there).
		env := m.env(c)
		tmp, ok := env["TMPDIR"]
		if !ok || tmp == "" {
			v.add(ref, "TMPDIR not set")
		} else if !mountedEmptyDir(c, volumes, tmp) {
			v.add(ref, "TMPDIR %q is not on an emptyDir volume mount", tmp)
		}
		if tf := env["JIRA_TOKEN_FILE"]; tf != "" && w.comp == "aggregator" && !mountedSecret(c, volumes, tf) {
			v.add(ref, "JIRA_TOKEN_FILE %q is not on a Secret volume mount", tf)
		}
		for k := range env {
			if k == "JIRA_API_TOKEN" || strings.HasSuffix(k, "SECRET_ACCESS_KEY") {
				v.add(ref, "secret %s comes from plain env; mount it as a file", k)
			}
		}

		// The Go memory limit follows this container's memory limit
		// (internal/cli MemoryLimit): a fixed GOMEMLIMIT would not.
		if !memoryLimitFromDownwardAPI(c) {
			v.add(ref, "no env %s from resourceFieldRef limits.memory of this container (the Go memory limit would not follow the container's)", cli.MemoryLimitEnv)
		}
		if _, ok := env["GOMEMLIMIT"]; ok {
			v.add(ref, "GOMEMLIMIT set: a fixed value overrides the one derived from the container's memory limit (%s)", cli.MemoryLimitEnv)
		}
	}
}

// memoryLimitFromDownwardAPI says whether c's last MEMORY_LIMIT env entry (the
// one Kubernetes uses) is its own limits.memory in bytes.
func memoryLimitFromDownwardAPI(c container) bool {
	ok := false
	for _, e := range c.Env {
		if e.Name != cli.MemoryLimitEnv {
			continue
		}
		ok = false
		if e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil {
			continue
		}
		r := e.ValueFrom.ResourceFieldRef
		div := fmt.Sprint(r.Divisor)
		ok = r.Resource == "limits.memory" && (r.ContainerName == "" || r.ContainerName == c.Name) &&
			(r.Divisor == nil || div == "1")
	}
	return ok
}

func mountOf(c container, volumes map[string]volume, file string, dir bool) (volume, bool) {
	file = path.Clean(file)
	for _, vm := range c.VolumeMounts {
		mp := path.Clean(vm.MountPath)
		if (dir && file == mp) || strings.HasPrefix(file, mp+"/") {
			vol, ok := volumes[vm.Name]
			return vol, ok
		}
	}
	return volume{}, false
}

func mountedEmptyDir(c container, volumes map[string]volume, dir string) bool {
	vol, ok := mountOf(c, volumes, dir, true)
	return ok && vol.EmptyDir != nil
}

func mountedSecret(c container, volumes map[string]volume, file string) bool {
	vol, ok := mountOf(c, volumes, file, false)
	return ok && vol.Secret != nil
}

func (m *manifest) checkCronJobs(v *violations) {
	for name, cj := range m.cronJobs {
		ref := "CronJob/" + name
		s := cj.Spec
		if s.Schedule != wantSchedule {
			v.add(ref, "schedule %q, want %q", s.Schedule, wantSchedule)
		}
		if s.TimeZone != wantTimeZone {
			v.add(ref, "timeZone %q, want %q", s.TimeZone, wantTimeZone)
		}
		if s.ConcurrencyPolicy != "Forbid" {
			v.add(ref, "concurrencyPolicy %q, want Forbid (two triggers open two runs)", s.ConcurrencyPolicy)
		}
		if s.SuccessfulJobsHistoryLimit == nil || s.FailedJobsHistoryLimit == nil {
			v.add(ref, "successfulJobsHistoryLimit and failedJobsHistoryLimit must both be set")
		}
		if s.JobTemplate.Spec.ActiveDeadlineSeconds != nil || s.JobTemplate.Spec.Template.Spec.ActiveDeadlineSeconds != nil {
			v.add(ref, "activeDeadlineSeconds set: the trigger must have no time ceiling")
		}
	}
}

func (m *manifest) checkDeployments(v *violations, production bool) {
	for name, d := range m.deployments {
		ref := "Deployment/" + name
		spec := d.Spec.Template.Spec
		if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= defaultGrace {
			v.add(ref, "terminationGracePeriodSeconds must be set above %ds so the message in hand finishes or is abandoned cleanly", defaultGrace)
		}
		for _, c := range spec.Containers {
			cref := ref + " container " + c.Name
			checkProbe(v, cref, "readinessProbe", c.ReadinessProbe, "/readyz", c)
			checkProbe(v, cref, "livenessProbe", c.LivenessProbe, "/healthz", c)
			checkShutdownTimeout(v, cref, c, spec.TerminationGracePeriodSeconds)
		}
		if production && m.deploymentMeta[name].Labels[componentLabel] == "aggregator" {
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				v.add(ref, "aggregator needs at least 2 replicas in production")
			}
		}
	}
}

func checkProbe(v *violations, ref, kind string, p *probe, wantPath string, c container) {
	if p == nil || p.HTTPGet == nil {
		v.add(ref, "no HTTP %s", kind)
		return
	}
	if p.HTTPGet.Path != wantPath {
		v.add(ref, "%s path %q, want %q", kind, p.HTTPGet.Path, wantPath)
	}
	port := -1
	switch pv := p.HTTPGet.Port.(type) {
	case int:
		port = pv
	case string:
		if n, err := strconv.Atoi(pv); err == nil {
			port = n
		}
		for _, cp := range c.Ports {
			if cp.Name == pv {
				port = cp.ContainerPort
			}
		}
	}
	if port != healthPort {
		v.add(ref, "%s port %v is not %d (HEALTH_ADDR)", kind, p.HTTPGet.Port, healthPort)
	}
}

// checkScaling: every scanner Deployment is scaled by a ScaledObject on the
// scan queue, with pod-identity auth, from zero to 20+.
func (m *manifest) checkScaling(v *violations, production bool) {
	scaled := map[string]bool{}
	for name, so := range m.scaledObjects {
		ref := "ScaledObject/" + name
		s := so.Spec
		target := s.ScaleTargetRef.Name
		if _, ok := m.deployments[target]; !ok || (s.ScaleTargetRef.Kind != "" && s.ScaleTargetRef.Kind != "Deployment") {
			v.add(ref, "scaleTargetRef %q is not a Deployment in the manifests", target)
		}
		scaled[target] = true
		if s.MinReplicaCount == nil || *s.MinReplicaCount != 0 {
			v.add(ref, "minReplicaCount must be 0 (no scanners between runs)")
		}
		if production && (s.MaxReplicaCount == nil || *s.MaxReplicaCount < minMaxReplicas) {
			v.add(ref, "maxReplicaCount must be at least %d in production", minMaxReplicas)
		}
		if s.PollingInterval == nil || s.CooldownPeriod == nil {
			v.add(ref, "pollingInterval and cooldownPeriod must be explicit")
		}
		if b := s.Behavior(); b == nil || b.ScaleUp == nil || b.ScaleDown == nil {
			v.add(ref, "advanced.horizontalPodAutoscalerConfig.behavior must set scaleUp and scaleDown")
		}
		var sqs int
		for _, t := range s.Triggers {
			if t.Type != "aws-sqs-queue" {
				continue
			}
			sqs++
			for _, k := range []string{"queueURL", "queueLength", "activationQueueLength", "awsRegion"} {
				if t.Metadata[k] == "" {
					v.add(ref, "aws-sqs-queue trigger has no %s", k)
				}
			}
			if u, r := t.Metadata["queueURL"], t.Metadata["awsRegion"]; u != "" && r != "" && !strings.Contains(u, "sqs."+r+".") {
				v.add(ref, "queueURL %q is not in awsRegion %q", u, r)
			}
			// The queue KEDA watches must be the one the scanners consume.
			if u := t.Metadata["queueURL"]; u != "" && !slices.Contains(m.settings("SCAN_QUEUE_URL"), u) {
				v.add(ref, "queueURL %q is not the scanners' SCAN_QUEUE_URL %v", u, m.settings("SCAN_QUEUE_URL"))
			}
			if t.AuthenticationRef == nil {
				v.add(ref, "aws-sqs-queue trigger has no authenticationRef")
				continue
			}
			ta, ok := m.triggerAuths[t.AuthenticationRef.Name]
			if !ok {
				v.add(ref, "TriggerAuthentication %q is not in the manifests", t.AuthenticationRef.Name)
				continue
			}
			taRef := "TriggerAuthentication/" + t.AuthenticationRef.Name
			pi := ta.Spec.PodIdentity
			switch {
			case pi == nil || pi.Provider != "aws":
				v.add(taRef, "podIdentity.provider must be aws (no keys)")
			case pi.IdentityOwner != "":
				v.add(taRef, "podIdentity.identityOwner %q: KEDA must assume its own role by roleArn, not the scanners' hub role (workload) nor the operator's default role (keda)", pi.IdentityOwner)
			case !kedaRoleARN.MatchString(pi.RoleArn):
				v.add(taRef, "podIdentity.roleArn %q is not KEDA's role system-config-report-generator-keda-role", pi.RoleArn)
			default:
				role := kedaRoleARN.FindStringSubmatch(pi.RoleArn)[1]
				if q := queueAccount.FindStringSubmatch(t.Metadata["queueURL"]); q != nil && q[1] != role {
					v.add(taRef, "podIdentity.roleArn %q is not in the scan queue's account %s", pi.RoleArn, q[1])
				}
			}
		}
		if sqs == 0 {
			v.add(ref, "no aws-sqs-queue trigger")
		}
	}
	for name, meta := range m.deploymentMeta {
		if meta.Labels[componentLabel] != "scanner" {
			continue
		}
		if !scaled[name] {
			v.add("Deployment/"+name, "scanner is not scaled by a KEDA ScaledObject")
		}
		if m.deployments[name].Spec.Replicas != nil {
			v.add("Deployment/"+name, "replicas is set, but KEDA owns the scanner's replicas")
		}
	}
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return true
	}
	for k, val := range sel {
		if labels[k] != val {
			return false
		}
	}
	return true
}

func (m *manifest) checkPDB(v *violations) {
	for name, meta := range m.deploymentMeta {
		if meta.Labels[componentLabel] != "aggregator" {
			continue
		}
		d := m.deployments[name]
		var found bool
		for pname, p := range m.pdbs {
			if len(p.Spec.Selector.MatchLabels) == 0 || !selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
				continue
			}
			found = true
			ref := "PodDisruptionBudget/" + pname
			minAv, ok := p.Spec.MinAvailable.(int)
			switch {
			case !ok:
				v.add(ref, "minAvailable must be the integer 1, got %v", p.Spec.MinAvailable)
			case minAv != 1:
				v.add(ref, "minAvailable %d, want 1", minAv)
			case d.Spec.Replicas != nil && minAv >= *d.Spec.Replicas:
				v.add(ref, "minAvailable %d with %d replicas lets no pod be evicted", minAv, *d.Spec.Replicas)
			}
		}
		if !found {
			v.add("Deployment/"+name, "no PodDisruptionBudget selects the aggregator")
		}
	}
}

func (m *manifest) checkNetworkPolicy(v *violations) {
	for _, w := range m.workloads {
		var egress, ingress bool
		for _, np := range m.netpols {
			if selects(np.Spec.PodSelector.MatchLabels, w.pod.Metadata.Labels) {
				egress = egress || slices.Contains(np.Spec.PolicyTypes, "Egress")
				ingress = ingress || slices.Contains(np.Spec.PolicyTypes, "Ingress")
			}
		}
		if !egress {
			v.add(w.ref, "no NetworkPolicy restricts its egress")
		}
		if !ingress {
			v.add(w.ref, "no NetworkPolicy restricts its ingress")
		}
	}
	for name, np := range m.netpols {
		ref := "NetworkPolicy/" + name
		for i, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				v.add(ref, "egress rule %d has no ports: it allows everything", i)
			}
			dns := false
			for _, p := range rule.Ports {
				if p.EndPort != nil {
					v.add(ref, "egress rule %d opens a port range", i)
				}
				proto, port := protoPort(p)
				if port == "53" && (proto == "UDP" || proto == "TCP") {
					dns = true
				} else if !(port == "443" && proto == "TCP") {
					v.add(ref, "egress rule %d allows %s/%s: only DNS (53) and HTTPS (443)", i, proto, port)
				}
			}
			// DNS only to the cluster's resolver: an open port 53 carries
			// data to any server on the internet.
			if dns && !onlyKubeDNS(rule.To) {
				v.add(ref, "egress rule %d opens DNS (53) beyond kube-dns: want to = namespaceSelector %s=%s with podSelector %s=%s", i, namespaceNameLabel, dnsNamespace, dnsPodLabel, dnsPodValue)
			}
		}
		for i, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				v.add(ref, "ingress rule %d has no ports: it admits every port", i)
			}
			for _, p := range rule.Ports {
				if proto, port := protoPort(p); proto != "TCP" || (port != strconv.Itoa(healthPort) && port != "http") || p.EndPort != nil {
					v.add(ref, "ingress rule %d admits %s/%s: only the health and metrics port %d", i, proto, port, healthPort)
				}
			}
			if len(rule.From) == 0 {
				v.add(ref, "ingress rule %d has no from: it admits every namespace", i)
			}
			for j, peer := range rule.From {
				if peer.IPBlock != nil || peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels[namespaceNameLabel] == "" {
					v.add(ref, "ingress rule %d peer %d is not one namespace: name the monitoring namespace with namespaceSelector matchLabels %s", i, j, namespaceNameLabel)
				}
			}
		}
	}
}

func protoPort(p networkPolicyPort) (proto, port string) {
	proto = p.Protocol
	if proto == "" {
		proto = "TCP"
	}
	return proto, fmt.Sprint(p.Port)
}

// onlyKubeDNS says whether peers are non-empty and each selects kube-dns pods
// in kube-system (both selectors in the same peer: apart, they would admit
// every pod of kube-system, or kube-dns-labelled pods of any namespace).
func onlyKubeDNS(peers []networkPolicyPeer) bool {
	for _, p := range peers {
		if p.IPBlock != nil || p.NamespaceSelector == nil || p.PodSelector == nil ||
			p.NamespaceSelector.MatchLabels[namespaceNameLabel] != dnsNamespace || p.PodSelector.MatchLabels[dnsPodLabel] != dnsPodValue {
			return false
		}
	}
	return len(peers) > 0
}

// settings returns the distinct values of a setting across the ConfigMaps.
func (m *manifest) settings(key string) []string {
	var out []string
	for _, cm := range m.configMaps {
		if val, ok := cm.Data[key]; ok && !slices.Contains(out, val) {
			out = append(out, val)
		}
	}
	sort.Strings(out)
	return out
}

var queueAccount = regexp.MustCompile(`^https://sqs\.[a-z0-9-]+\.amazonaws\.com/([0-9]{12})/`)

func (m *manifest) checkProductionSettings(v *violations) {
	for name, cm := range m.configMaps {
		if val, ok := cm.Data["CREATE_RESOURCES"]; ok && val != "false" {
			v.add("ConfigMap/"+name, "CREATE_RESOURCES=%q: production creates nothing at run time", val)
		}
	}
	// The hub role and the queues live in the same (hub) account; a mismatch
	// is an overlay half-edited from another environment.
	for _, u := range m.settings("SCAN_QUEUE_URL") {
		mm := queueAccount.FindStringSubmatch(u)
		if mm == nil {
			v.add("ConfigMap", "SCAN_QUEUE_URL %q is not an SQS queue URL", u)
			continue
		}
		for name, sa := range m.serviceAccounts {
			if arn := sa.Annotations[roleAnnotation]; arn != "" && !strings.HasPrefix(arn, "arn:aws:iam::"+mm[1]+":") {
				v.add("ServiceAccount/"+name, "hub role %q is not in the scan queue's account %s", arn, mm[1])
			}
		}
	}
}

// checkShutdownTimeout: a SHUTDOWN_TIMEOUT the container sets must be a
// duration under its pod's grace period, or the kubelet's SIGKILL ends the
// work in hand before the binary gives it up (and releases its messages).
func checkShutdownTimeout(v *violations, ref string, c container, grace *int64) {
	for _, e := range c.Env {
		if e.Name != "SHUTDOWN_TIMEOUT" || e.ValueFrom != nil {
			continue
		}
		d, err := time.ParseDuration(e.Value)
		if err != nil || d < 0 {
			v.add(ref, "SHUTDOWN_TIMEOUT %q: want a non-negative duration", e.Value)
			continue
		}
		if grace != nil && d >= time.Duration(*grace)*time.Second {
			v.add(ref, "SHUTDOWN_TIMEOUT %s must be under terminationGracePeriodSeconds (%ds)", d, *grace)
		}
	}
}
