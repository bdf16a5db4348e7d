package discover_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

var _ discover.Assumer = (*awsconf.Roles)(nil)

// TestWalkWithAwsconf builds the client as the trigger's wiring will:
// awsconf's config (its retry policy and transport) from the standard
// chain, the org-list role assumed from the hub by awsconf.Roles.
func TestWalkWithAwsconf(t *testing.T) {
	env := discovertest.New(t, 300)
	hub, err := awsconf.Load(context.Background(), awsconf.Options{
		Region:     "us-east-1",
		MaxBackoff: time.Millisecond,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(env.URL),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	roles, err := awsconf.NewRoles(hub, awsconf.RoleOptions{SessionName: "configreport-trigger"})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:iam::" + env.Sim.Org().ManagementAccountID + ":role/" + awssim.RoleListOrg
	c, err := discover.NewClient(hub, arn, roles)
	if err != nil {
		t.Fatal(err)
	}
	env.Sim.ResetStats()
	got, _, err := newWalker(t, c, discover.Config{}).List(discovertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, got, want(env, nil))
	// One AssumeRole for the whole walk (awssim counts attempts: the SDK
	// may retry one whose keep-alive connection closed).
	if n := sum(env.Sim.Stats().Calls["AssumeRole"]); n < 1 || n > 2 {
		t.Errorf("%d AssumeRole calls, want 1", n)
	}
}
