package jira

import (
	"context"
	"testing"

	"github.com/cybsecops/configreport/internal/testharness"
)

// TestAgainstHarnessJira: the Notifier against the fake Jira the e2e and
// chaos suites run the aggregator with (testharness.Jira), so that the two
// fakes agree on creators and GET myself: a planted ticket is ignored, our
// own is found.
func TestAgainstHarnessJira(t *testing.T) {
	fj := testharness.NewJira(t, testharness.JiraConfig{Project: "SEC", User: user, Token: token, FindByLabel: true})
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
