package awssim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// env is a Sim behind an httptest server, with SDK clients pointed at it.
type env struct {
	t   *testing.T
	sim *Sim
	url string
	hub aws.Config
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv serves cfg (with a generated org of accounts members when cfg.Org
// is nil) and returns clients configured as the services will be: static
// hub keys, BaseEndpoint, us-east-1, and a fast retryer.
func newEnv(t *testing.T, accounts int, cfg Config) *env {
	t.Helper()
	if cfg.Org == nil {
		o, err := Generate(GenConfig{Accounts: accounts, Seed: 7, NonCompliant: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Org = o
	}
	cfg.Logger = quietLogger()
	s, url, hub := ServeTest(t, cfg)
	return &env{t: t, sim: s, url: url, hub: hub}
}

// noRetries retries nothing AWS answers, so a test sees the typed error of
// the first answer. It still retries a connection the transport closed under
// a response being read: aws-sdk-go-v2 with this Go release now and then
// fails an answered call with "use of closed network connection" (see
// aws-sdk-go-v2#2737; it happens against any server, awssim or not), which
// the standard retryer classifies as retryable.
func noRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{retry.RetryableConnectionError{}}
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

func (e *env) withCreds(p aws.CredentialsProvider) aws.Config {
	c := e.hub.Copy()
	c.Credentials = p
	return c
}

func (e *env) orgs(cfg aws.Config) *organizations.Client {
	return organizations.NewFromConfig(cfg, func(o *organizations.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) sts(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) ec2(cfg aws.Config, region string) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(e.url)
		o.Region = region
	})
}

func (e *env) config(cfg aws.Config, region string) *configservice.Client {
	return configservice.NewFromConfig(cfg, func(o *configservice.Options) {
		o.BaseEndpoint = aws.String(e.url)
		o.Region = region
	})
}

func roleARN(account, role string) string { return "arn:aws:iam::" + account + ":role/" + role }

// assume returns a caching provider of the role's session, as the scanner
// builds it.
func (e *env) assume(account, role string) aws.CredentialsProvider {
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(e.sts(e.hub), roleARN(account, role)))
}

// assumeStatic assumes the role once and returns its raw keys.
func (e *env) assumeStatic(account, role string) aws.Credentials {
	e.t.Helper()
	creds, err := stscreds.NewAssumeRoleProvider(e.sts(e.hub), roleARN(account, role)).Retrieve(context.Background())
	if err != nil {
		e.t.Fatalf("assume %s in %s: %v", role, account, err)
	}
	return creds
}

func static(c aws.Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// apiCode is the AWS error code of err, "" when it carries none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// activeMember returns the first ACTIVE member account that is neither
// denied nor failing, disabled or not recording anywhere.
func activeMember(t *testing.T, o *Org) Account {
	t.Helper()
	for _, a := range o.Accounts {
		if a.Status == StatusActive && a.ID != o.ManagementAccountID && !a.Denied && len(a.FailRegions) == 0 && len(a.Regions) > 0 &&
			len(a.DisabledRegions)+len(a.NoRecorderRegions)+len(a.StoppedRecorderRegions) == 0 {
			return a
		}
	}
	t.Fatal("no healthy active member account")
	return Account{}
}
