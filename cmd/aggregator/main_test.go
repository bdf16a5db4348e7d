package main

import (
	"strings"
	"testing"

	"github.com/cybsecops/configreport/internal/testbed/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, "aggregator", main) }

// runMain runs main with args and env (nothing else: no AWS settings from
// the machine) and returns its exit status and stderr.
func runMain(t *testing.T, args []string, env ...string) (int, string) {
	t.Helper()
	r := maintest.Run(t, env, args...)
	return r.Code, r.Stderr
}

// TestJiraURLMustBeHTTPS: an http Jira URL is refused at start-up, before
// anything else is loaded, with status 2 and one line naming https; a
// loopback host is let through (it fails later here, on the missing AWS
// region, without a word about https).
func TestJiraURLMustBeHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		url    string
		refuse bool
	}{
		{"http", "http://jira.example.com", true},
		{"http with a port and path", "http://jira.example.com:8080/jira", true},
		{"http on a private address", "http://10.1.2.3", true},
		{"https", "https://jira.example.com", false},
		{"http on 127.0.0.1", "http://127.0.0.1:8080", false},
		{"http on ::1", "http://[::1]:8080", false},
		{"http on localhost", "http://localhost:8080", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runMain(t, []string{"-jira-url", tc.url, "-jira-project", "SEC"}, "JIRA_API_TOKEN=tok-Zq9w")
			if code != 2 {
				t.Errorf("exit status %d, want 2; stderr %q", code, stderr)
			}
			if n := strings.Count(stderr, "\n"); n != 1 || !strings.HasPrefix(stderr, "aggregator: ") {
				t.Errorf("stderr is %d lines, want one starting \"aggregator: \": %q", n, stderr)
			}
			if strings.Contains(stderr, "tok-Zq9w") {
				t.Error("stderr shows the token")
			}
			if got := strings.Contains(stderr, "must use https"); got != tc.refuse {
				t.Errorf("https named: %v, want %v: %q", got, tc.refuse, stderr)
			}
			if tc.refuse && !strings.Contains(stderr, tc.url) {
				t.Errorf("the line does not name the URL: %q", stderr)
			}
		})
	}
}

// TestJiraURLFromEnvironment: JIRA_URL is checked the same way.
func TestJiraURLFromEnvironment(t *testing.T) {
	code, stderr := runMain(t, nil, "JIRA_URL=http://jira.example.com", "JIRA_PROJECT=SEC", "JIRA_API_TOKEN=x")
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `"http://jira.example.com" must use https`) {
		t.Errorf("exit %d, stderr %q; want 2 and one line naming https", code, stderr)
	}
}

// TestOwnerTagsChecked: a bad -owner-tags (or OWNER_TAGS) is a
// configuration error, one line, exit status 2, whatever else is wrong.
func TestOwnerTagsChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"-owner-tags", "Owner|owner,Owner"}, nil},
		{"environment", nil, []string{"OWNER_TAGS=Owner|owner,Owner"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runMain(t, tc.args, tc.env...)
			if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `column "Owner" named twice`) {
				t.Errorf("exit %d, stderr %q; want 2 and one line naming the column", code, stderr)
			}
		})
	}
}
