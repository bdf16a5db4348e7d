package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/msg"
)

const (
	monitoringDir = "../kustomize/base/monitoring"
	rulesPath     = monitoringDir + "/prometheusrule.yaml"
	dashboardPath = monitoringDir + "/dashboard.json"
	operations    = "../../docs/OPERATIONS.md"
	unitTests     = "testdata/rules_test.yaml"
)

// external are the metrics the rules and the dashboard read that no code of
// this repository exports, each with where it comes from.
var external = map[string]string{
	"up":                            "Prometheus itself: 1 when the scrape of a target succeeded",
	"kube_deployment_spec_replicas": "kube-state-metrics: the scanner Deployment's desired replicas (KEDA's HPA sets them)",
	"kube_deployment_status_replicas_available":              "kube-state-metrics: the scanner pods available",
	"keda_scaler_metrics_value":                              "KEDA's operator: the value its aws-sqs-queue scaler read (the scan queue's depth)",
	"aws_sqs_approximate_number_of_messages_visible_maximum": "YACE, the CloudWatch exporter: SQS ApproximateNumberOfMessagesVisible, Maximum statistic (docs/OPERATIONS.md, \"The dead-letter queues\")",
}

// capture is a Registerer that keeps what is registered.
type capture struct{ cs []prometheus.Collector }

func (c *capture) Register(x prometheus.Collector) error   { c.cs = append(c.cs, x); return nil }
func (c *capture) MustRegister(xs ...prometheus.Collector) { c.cs = append(c.cs, xs...) }
func (c *capture) Unregister(prometheus.Collector) bool    { return false }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// codeMetrics are the metric names the services register on /metrics: the
// aggregator's, the message router's and the AWS call metrics, and
// client_golang's process and Go collectors (on the default registry the
// services serve). Read from each collector's descriptors, so a labelled
// series that has not been created yet counts too.
func codeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	c := &capture{}
	if _, err := aggregate.NewMetrics(c); err != nil {
		t.Fatal(err)
	}
	if _, err := msg.NewMetrics(c); err != nil {
		t.Fatal(err)
	}
	if _, err := awsconf.NewRetryLog(nil).Count(c); err != nil {
		t.Fatal(err)
	}
	c.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	names := map[string]bool{}
	for _, col := range c.cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { col.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			names[m[1]] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d metric names found in the code: %v", len(names), names)
	}
	return names
}

// known tells whether a queried name is exported: by name, or as a
// histogram's _bucket, _sum or _count series.
func known(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

func allExprs(t *testing.T) ([]Group, []Expr) {
	t.Helper()
	groups, err := LoadRules(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := DashboardExprs(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	exprs := append(RuleExprs(groups), dash...)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions", len(exprs))
	}
	return groups, exprs
}

// Every expression of the rules and the dashboard parses, and every metric
// it reads is exported by the code or listed in external; every external
// entry is used.
func TestExpressionsParseAndNameExportedMetrics(t *testing.T) {
	_, exprs := allExprs(t)
	code := codeMetrics(t)
	used := map[string]bool{}
	for _, e := range exprs {
		names, err := MetricNames(e.Query)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.Where, err, e.Query)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s reads no metric: %s", e.Where, e.Query)
		}
		for _, n := range names {
			used[n] = true
			if _, ok := external[n]; ok {
				if known(code, n) {
					t.Errorf("%s is listed as external but the code exports it", n)
				}
				continue
			}
			if !known(code, n) {
				t.Errorf("%s reads %s, which no code registers (and it is not listed as external)", e.Where, n)
			}
		}
	}
	for n := range external {
		if !used[n] {
			t.Errorf("external metric %s is not used: drop it", n)
		}
	}
}

// The checks above catch what they should.
func TestMetricNamesAndKnown(t *testing.T) {
	code := map[string]bool{"a_seconds": true, "b_total": true}
	tests := []struct {
		q       string
		want    []string
		wantErr bool
		known   bool
	}{
		{`sum by (x) (rate(b_total[5m]))`, []string{"b_total"}, false, true},
		{`histogram_quantile(0.9, sum by (le) (rate(a_seconds_bucket[5m])))`, []string{"a_seconds_bucket"}, false, true},
		{`a_seconds_sum / a_seconds_count`, []string{"a_seconds_sum", "a_seconds_count"}, false, true},
		{`c_total > 0`, []string{"c_total"}, false, false},
		{`a_seconds_total`, []string{"a_seconds_total"}, false, false},
		{`sum by (x) (rate(b_total[5m])`, nil, true, false},   // unbalanced
		{`rate(b_total[$__rate_interval])`, nil, true, false}, // a Grafana variable left in
		{`{__name__=~"b_.*"}`, nil, true, false},              // no plain name
		{`sort_by_label(b_total, "x")`, nil, true, false},     // experimental: not in promtool 2.42
		{`b_total unless b_total offset 15m`, []string{"b_total", "b_total"}, false, true},
	}
	for _, tt := range tests {
		got, err := MetricNames(tt.q)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want one: %v", tt.q, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: names %v, want %v", tt.q, got, tt.want)
		}
		all := true
		for _, n := range got {
			all = all && known(code, n)
		}
		if all != tt.known {
			t.Errorf("%s: known %v, want %v", tt.q, all, tt.known)
		}
	}
}

func alerts(groups []Group) []Rule {
	var out []Rule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// The alerts the issue asks for are there, each with a severity and a
// runbook section in docs/OPERATIONS.md that its runbook_url points at.
func TestEveryAlertHasItsRunbook(t *testing.T) {
	groups, _ := allExprs(t)
	doc, err := os.ReadFile(operations)
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	var names []string
	for _, r := range alerts(groups) {
		names = append(names, r.Alert)
		if !headings[r.Alert] {
			t.Errorf("%s: no \"### %s\" runbook section in docs/OPERATIONS.md", r.Alert, r.Alert)
		}
		if want := "/docs/OPERATIONS.md#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
			t.Errorf("%s: runbook_url %q does not end in %s", r.Alert, r.Annotations["runbook_url"], want)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: summary or description missing", r.Alert)
		}
	}
	for _, want := range []string{"ConfigReportNoScheduledReport", "ConfigReportRunPastDeadline", "ConfigReportPoisonMessages",
		"ConfigReportAccountsFailedOrMissing", "ConfigReportTicketFailures", "ConfigReportDLQNotEmpty"} {
		if !slices.Contains(names, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

// Every alert has a promtool case where it fires and one where it does not.
func TestEveryAlertIsUnitTested(t *testing.T) {
	groups, _ := allExprs(t)
	data, err := os.ReadFile(unitTests)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.RuleFiles, []string{"rules.yaml"}) {
		t.Errorf("rule_files %v, want [rules.yaml] (what make test-monitoring writes beside it)", f.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var missing []string
	for _, r := range alerts(groups) {
		if !fires[r.Alert] {
			missing = append(missing, r.Alert+" (fires)")
		}
		if !quiet[r.Alert] {
			missing = append(missing, r.Alert+" (quiet)")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no promtool case for: %s", strings.Join(missing, ", "))
	}
}

// The variants monitoringcheck writes for promtool: annotations gone in
// rules.yaml, every expression never firing in never/rules.yaml, the rest
// the same.
func TestVariants(t *testing.T) {
	groups, err := LoadRules(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	full, bare, never := Variants(groups)
	for gi, g := range full {
		for ri, r := range g.Rules {
			b, n := bare[gi].Rules[ri], never[gi].Rules[ri]
			if b.Annotations != nil || b.Expr != r.Expr || b.For != r.For || b.Alert != r.Alert {
				t.Errorf("%s: bare variant %+v", r.Alert, b)
			}
			if n.Expr != neverExpr || n.Alert != r.Alert || n.Annotations != nil {
				t.Errorf("%s: never variant %+v", r.Alert, n)
			}
			if r.Annotations == nil {
				t.Errorf("%s: the full variant lost its annotations", r.Alert)
			}
		}
	}
	// A field the loader does not know is refused, not dropped.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expr: vector(1)\n          keep_firing: 5m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRules(bad); err == nil {
		t.Error("an unknown rule field was accepted")
	}
}
