package awsconf

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/cybsecops/configreport/internal/ident"
)

// Role session defaults. AWS caps a chained role session (assumed from
// another role's session, as the hub's IRSA session is) at 1 hour.
const (
	DefaultSessionDuration = time.Hour
	// DefaultExpiryWindow refreshes credentials this long before they
	// expire, so a call signed just before expiry does not reach AWS after
	// it (ExpiredToken); the jitter spreads refreshes of many accounts.
	DefaultExpiryWindow       = 2 * time.Minute
	defaultExpiryWindowJitter = 0.5
)

// RoleOptions configure NewRoles.
type RoleOptions struct {
	// SessionName names the role sessions (CloudTrail shows it): 2-64
	// characters of [\w+=,.@-]. Required.
	SessionName string
	// Duration of each session; default DefaultSessionDuration.
	Duration time.Duration
	// ExpiryWindow; default DefaultExpiryWindow. A session that really
	// lasts less than twice the window (awssim's -session-ttl, or AWS
	// cutting a chained session short) is refreshed at half its life.
	ExpiryWindow time.Duration
}

var sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (o *RoleOptions) setDefaults() {
	if o.Duration == 0 {
		o.Duration = DefaultSessionDuration
	}
	if o.ExpiryWindow == 0 {
		o.ExpiryWindow = DefaultExpiryWindow
	}
}

// Validate reports every problem at once.
func (o RoleOptions) Validate() error {
	var errs []error
	if !sessionNameRe.MatchString(o.SessionName) {
		errs = append(errs, fmt.Errorf("session name %q: want 2-64 characters of letters, digits and +=,.@_-", o.SessionName))
	}
	// STS accepts 900 s to 12 h; chained sessions are further capped at 1 h
	// by AWS, which answers a longer request with ValidationError.
	if o.Duration < 15*time.Minute || o.Duration > 12*time.Hour {
		errs = append(errs, fmt.Errorf("session duration %s: want 15m to 12h", o.Duration))
	}
	if o.ExpiryWindow < 0 || o.ExpiryWindow >= o.Duration {
		errs = append(errs, fmt.Errorf("expiry window %s: want 0 to less than the session duration %s", o.ExpiryWindow, o.Duration))
	}
	return errors.Join(errs...)
}

// Roles hands out credentials for roles assumed from a base config (the hub
// role's), one cached, self-refreshing provider per role ARN, so a process
// scanning many accounts builds one STS client and one provider per role
// and never assumes a role per call. It is safe for concurrent use. Its
// size is bounded by the number of roles (one per account of the org:
// tens of kilobytes for a thousand accounts).
type Roles struct {
	client *sts.Client
	opts   RoleOptions

	mu    sync.Mutex
	cache map[string]*aws.CredentialsCache
}

// NewRoles returns a Roles assuming roles with the credentials of base.
func NewRoles(base aws.Config, opts RoleOptions) (*Roles, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("role options: %w", err)
	}
	return &Roles{client: sts.NewFromConfig(base), opts: opts, cache: map[string]*aws.CredentialsCache{}}, nil
}

// Credentials returns the provider for role: stscreds' AssumeRole provider
// in an aws.CredentialsCache, which assumes the role on first use and again
// ExpiryWindow (with jitter) before the session ends, concurrent callers
// sharing one AssumeRole call. AssumeRole errors come back from Retrieve,
// and from any call signed with the provider.
func (r *Roles) Credentials(role ident.RoleARN) aws.CredentialsProvider {
	arn := role.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cache[arn]; ok {
		return c
	}
	p := stscreds.NewAssumeRoleProvider(r.client, arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = r.opts.SessionName
		o.Duration = r.opts.Duration
	})
	c := aws.NewCredentialsCache(halfLifeWindow{p}, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = r.opts.ExpiryWindow
		o.ExpiryWindowJitterFrac = defaultExpiryWindowJitter
	})
	r.cache[arn] = c
	return c
}

// Config returns base with the role's credentials: SDK clients built from
// it act as the role.
func (r *Roles) Config(base aws.Config, role ident.RoleARN) aws.Config {
	cfg := base.Copy()
	cfg.Credentials = r.Credentials(role)
	return cfg
}

// halfLifeWindow caps the cache's expiry window at half the session's
// remaining life. The window is fixed (2 minutes by default); a session
// that AWS or awssim (-session-ttl) cuts shorter than twice that would
// otherwise count as expired the moment it is issued, and the cache would
// assume the role again on every call.
type halfLifeWindow struct{ aws.CredentialsProvider }

// AdjustExpiresBy implements aws.AdjustExpiresByCredentialsCacheStrategy;
// dur is the negative window (with its jitter).
func (halfLifeWindow) AdjustExpiresBy(c aws.Credentials, dur time.Duration) (aws.Credentials, error) {
	if !c.CanExpire {
		return c, nil
	}
	if half := time.Until(c.Expires) / 2; -dur > half {
		dur = -half
	}
	c.Expires = c.Expires.Add(dur)
	return c, nil
}
