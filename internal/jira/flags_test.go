package jira

import (
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	env := func(k string) string {
		if k == TokenEnv {
			return "tok-Zq9w"
		}
		return ""
	}
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   []string // in the error; nil: no error
		none   bool     // no Notifier, no error
	}{
		{"no URL: no ticket", nil, env, nil, true},
		{"good", []string{"-jira-url", "https://x.atlassian.net", "-jira-project", "SEC", "-jira-labels", "a,b", "-jira-labels", "c"}, env, nil, false},
		{"loopback http", []string{"-jira-url", "http://127.0.0.1:9", "-jira-project", "SEC"}, env, nil, false},
		{"http", []string{"-jira-url", "http://jira.example.com", "-jira-project", "SEC"}, env, []string{"must use https"}, false},
		{"http, no token, no project", []string{"-jira-url", "http://jira.example.com"}, noEnv, []string{"must use https", "Project is required", "no API token"}, false},
		{"unreadable token file and http", []string{"-jira-url", "http://jira.example.com", "-jira-project", "SEC",
			"-jira-token-file", filepath.Join(t.TempDir(), "absent")}, env, []string{"jira token file", "must use https"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			var f Flags
			f.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			n, err := f.Notifier(tc.getenv, nil)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tc.want == nil && tc.none != (n == nil):
				t.Fatalf("Notifier %v, want none: %v", n, tc.none)
			case tc.want != nil && (err == nil || n != nil):
				t.Fatalf("Notifier %v, error %v; want an error", n, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not mention %s", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "tok-Zq9w") {
				t.Error("the error shows the token")
			}
			if tc.name == "good" && !slices.Equal(n.cfg.Labels, []string{"a", "b", "c"}) {
				t.Errorf("labels %q", n.cfg.Labels)
			}
		})
	}
}
