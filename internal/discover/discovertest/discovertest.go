// Package discovertest serves a generated organisation from awssim, in
// process, and builds the Organizations client the walk uses against it,
// for the tests and benchmarks of discover and trigger. It is test
// infrastructure only.
package discovertest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// Env is an awssim server and the hub configuration pointed at it.
type Env struct {
	Sim *awssim.Sim
	URL string
	// Hub is the hub identity's configuration (static AKIDHUB keys,
	// us-east-1, a fast retryer); BaseEndpoint is set per client.
	Hub aws.Config
}

// New serves a generated org of accounts member accounts (seed 7).
func New(tb testing.TB, accounts int) *Env {
	tb.Helper()
	org, err := awssim.Generate(awssim.GenConfig{Accounts: accounts, Seed: 7})
	if err != nil {
		tb.Fatal(err)
	}
	return Serve(tb, awssim.Config{Org: org})
}

// Serve serves cfg.
func Serve(tb testing.TB, cfg awssim.Config) *Env {
	tb.Helper()
	s, url, hub := awssim.ServeTest(tb, cfg)
	return &Env{Sim: s, URL: url, Hub: hub}
}

// FastRetryer is the standard retryer with millisecond backoff.
var FastRetryer = awssim.FastRetryer

// Orgs is an Organizations client signed with the hub's own keys (the
// ambient identity: awssim's hub account is the management account).
func (e *Env) Orgs() *organizations.Client {
	return e.orgs(e.Hub)
}

// OrgsAsListRole is an Organizations client signed with a session of the
// org-list role in the management account, assumed from the hub as the
// trigger does in production.
func (e *Env) OrgsAsListRole() *organizations.Client {
	stsc := sts.NewFromConfig(e.Hub, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.URL) })
	arn := "arn:aws:iam::" + e.Sim.Org().ManagementAccountID + ":role/" + awssim.RoleListOrg
	c := e.Hub.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, arn))
	return e.orgs(c)
}

func (e *Env) orgs(c aws.Config) *organizations.Client {
	return organizations.NewFromConfig(c, func(o *organizations.Options) { o.BaseEndpoint = aws.String(e.URL) })
}

// Active returns the ground truth: every ACTIVE account as awssim serves it.
func (e *Env) Active() []awssim.Account {
	var out []awssim.Account
	for _, a := range e.Sim.Org().Accounts {
		if a.Status == awssim.StatusActive {
			out = append(out, a)
		}
	}
	return out
}

// Ctx is a test context bounded so that a hung walk fails, not stalls.
func Ctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
