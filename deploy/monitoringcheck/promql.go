package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// Expr is one PromQL expression and where it is.
type Expr struct {
	Where string
	Query string
}

// grafanaVars are the Grafana variables the dashboard's queries use, with a
// value that makes them PromQL: the parser sees what Prometheus will.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"$namespace", "config-report",
)

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// DashboardExprs returns every PromQL expression of the dashboard at path:
// each panel target's, and the selector of each label_values variable,
// Grafana's variables replaced.
func DashboardExprs(path string) ([]Expr, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Expr
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("%s: panel %q target %s has no expression", path, p.Title, t.RefID)
			}
			out = append(out, Expr{Where: fmt.Sprintf("panel %q target %s", p.Title, t.RefID), Query: grafanaVars.Replace(t.Expr)})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				return nil, fmt.Errorf("%s: variable %s: query is neither an object nor a string", path, v.Name)
			}
			q.Query = s
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			return nil, fmt.Errorf("%s: variable %s: query %q is not label_values(selector, label)", path, v.Name, q.Query)
		}
		out = append(out, Expr{Where: "variable " + v.Name, Query: grafanaVars.Replace(m[1])})
	}
	return out, nil
}

// RuleExprs returns the expression of every rule.
func RuleExprs(groups []Group) []Expr {
	var out []Expr
	for _, g := range groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			out = append(out, Expr{Where: "rule " + name, Query: r.Expr})
		}
	}
	return out
}

// MetricNames parses q with Prometheus's parser (default options: no
// experimental functions) and returns the metric names its selectors name.
// A selector without a plain metric name is an error: every series the
// rules and the dashboard read must be checkable against the code.
func MetricNames(q string) ([]string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return nil, err
	}
	var names []string
	var bad error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			bad = fmt.Errorf("selector %s names no metric", vs)
			return bad
		}
		names = append(names, vs.Name)
		return nil
	})
	return names, bad
}
