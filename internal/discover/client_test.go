package discover_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// assumer does what *awsconf.Roles does, against awssim.
type assumer struct {
	url   string
	roles []string
}

func (a *assumer) Config(base aws.Config, role ident.RoleARN) aws.Config {
	a.roles = append(a.roles, role.String())
	c := base.Copy()
	stsc := sts.NewFromConfig(base, func(o *sts.Options) { o.BaseEndpoint = aws.String(a.url) })
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role.String()))
	return c
}

func TestNewClient(t *testing.T) {
	env := discovertest.New(t, 30)
	mgmt := env.Sim.Org().ManagementAccountID
	endpoint := func(o *organizations.Options) { o.BaseEndpoint = aws.String(env.URL) }
	listRole := "arn:aws:iam::" + mgmt + ":role/" + awssim.RoleListOrg

	t.Run("org-list role", func(t *testing.T) {
		as := &assumer{url: env.URL}
		c, err := discover.NewClient(env.Hub, listRole, as, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		env.Sim.ResetStats()
		if _, _, err := newWalker(t, c, discover.Config{}).List(discovertest.Ctx(t)); err != nil {
			t.Fatal(err)
		}
		if len(as.roles) != 1 || as.roles[0] != listRole {
			t.Errorf("assumed %v, want %s", as.roles, listRole)
		}
		// awssim counts attempts: the SDK may retry a closed connection.
		if n := sum(env.Sim.Stats().Calls["AssumeRole"]); n < 1 || n > 2 {
			t.Errorf("%d AssumeRole calls for one walk, want 1 (credentials cached)", n)
		}
	})

	t.Run("ambient", func(t *testing.T) {
		c, err := discover.NewClient(env.Hub, "", nil, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		env.Sim.ResetStats()
		if _, _, err := newWalker(t, c, discover.Config{}).List(discovertest.Ctx(t)); err != nil {
			t.Fatal(err)
		}
		if n := sum(env.Sim.Stats().Calls["AssumeRole"]); n != 0 {
			t.Errorf("%d AssumeRole calls with no role", n)
		}
	})

	t.Run("read role is refused Organizations", func(t *testing.T) {
		// The wrong role fails the walk with AWS's answer, not silently.
		c, err := discover.NewClient(env.Hub, "arn:aws:iam::"+mgmt+":role/"+awssim.RoleRead, &assumer{url: env.URL}, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := newWalker(t, c, discover.Config{}).List(discovertest.Ctx(t)); err == nil || !contains(err.Error(), "AccessDenied") {
			t.Errorf("walk as the read role: %v", err)
		}
	})

	t.Run("bad ARN", func(t *testing.T) {
		if _, err := discover.NewClient(env.Hub, "arn:aws:iam::12:role/x", &assumer{}); err == nil {
			t.Error("accepted a bad role ARN")
		}
		if _, err := discover.NewClient(env.Hub, listRole, nil); err == nil {
			t.Error("accepted a role without an assumer")
		}
	})
}
