// Command monitoringcheck prepares deploy/kustomize/base/monitoring's
// alerting rules for promtool (make test-monitoring): it takes the rule
// groups out of the PrometheusRule and writes, into -out,
//
//	rules-full.yaml  the groups as they are (promtool check rules: the
//	                 expressions and the annotation templates)
//	rules.yaml       the same without annotations, for promtool test rules
//	                 (whose exp_alerts would otherwise repeat every
//	                 annotation word for word)
//	never/rules.yaml the same with every expression replaced by one that
//	                 never fires: the unit tests must fail against it
//
// Its Go test (check_test.go) parses every PromQL expression of the rules
// and the dashboard with Prometheus's parser and checks the metric names.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Rule is one alerting or recording rule of a PrometheusRule.
type Rule struct {
	Alert         string            `yaml:"alert,omitempty"`
	Record        string            `yaml:"record,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// Group is a rule group, the same in a PrometheusRule and a rules file.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

type rulesFile struct {
	Groups []Group `yaml:"groups"`
}

// neverExpr replaces every expression in never/rules.yaml.
const neverExpr = "vector(1) < 0"

// LoadRules reads the rule groups of the PrometheusRule at path; a field
// the types above do not know is an error, not silently dropped.
func LoadRules(path string) ([]Group, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var pr struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Spec       rulesFile      `yaml:"spec"`
	}
	if err := dec.Decode(&pr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if pr.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s: kind %q, want PrometheusRule", path, pr.Kind)
	}
	if len(pr.Spec.Groups) == 0 {
		return nil, fmt.Errorf("%s: no rule groups", path)
	}
	return pr.Spec.Groups, nil
}

// Variants returns the three rule files' groups: full, without
// annotations, and never firing.
func Variants(groups []Group) (full, bare, never []Group) {
	for _, g := range groups {
		b, n := g, g
		b.Rules, n.Rules = make([]Rule, len(g.Rules)), make([]Rule, len(g.Rules))
		for i, r := range g.Rules {
			r.Annotations = nil
			b.Rules[i] = r
			r.Expr = neverExpr
			n.Rules[i] = r
		}
		full, bare, never = append(full, g), append(bare, b), append(never, n)
	}
	return full, bare, never
}

func write(path string, groups []Group) error {
	data, err := yaml.Marshal(rulesFile{Groups: groups})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func main() {
	rules := flag.String("rules", "deploy/kustomize/base/monitoring/prometheusrule.yaml", "the PrometheusRule")
	out := flag.String("out", "out/monitoring", "directory of the rule files")
	flag.Parse()
	groups, err := LoadRules(*rules)
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitoringcheck:", err)
		os.Exit(1)
	}
	full, bare, never := Variants(groups)
	err = errors.Join(
		write(filepath.Join(*out, "rules-full.yaml"), full),
		write(filepath.Join(*out, "rules.yaml"), bare),
		write(filepath.Join(*out, "never", "rules.yaml"), never),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitoringcheck:", err)
		os.Exit(1)
	}
}
