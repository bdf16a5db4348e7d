package jira

import (
	"context"
	"testing"

	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// TestAgainstHarnessJira: the Notifier against the fake Jira the e2e and
// chaos suites run the aggregator with (harness.Jira), so that the two
// fakes agree on creators and GET myself: a planted ticket is ignored, our
// own is found.
func TestAgainstHarnessJira(t *testing.T) {
	fj := harness.NewJira(t, harness.JiraConfig{Project: "SEC", User: user, Token: token, FindByLabel: true})
	n := newNotifier(t, fj.URL, nil)
	ctx := context.Background()
	planted := fj.FileAs("mallory@example.com", "planted", RunLabel("01KMZ8W4Y0RUN"))
	if key, err := n.FindByRunLabel(ctx, "01KMZ8W4Y0RUN"); err != nil || key != "" {
		t.Fatalf("with only %s (another user's): %q, %v; want none", planted, key, err)
	}
	ours, err := n.File(ctx, ticket())
	if err != nil {
		t.Fatal(err)
	}
	if key, err := n.FindByRunLabel(ctx, "01KMZ8W4Y0RUN"); err != nil || key != ours || key == planted {
		t.Fatalf("after filing %s: %q, %v", ours, key, err)
	}
}
