// Package awsconf builds the aws.Config every binary uses and the role
// credentials assumed from it. It is the one place that sets how the
// project talks to AWS: the SDK's standard credential and endpoint chain
// (IRSA web identity in the cluster, profiles and env on a laptop,
// AWS_ENDPOINT_URL for awssim and emulators: no endpoint flags of our own),
// one shared HTTP transport, the retry policy, and STS role chaining with
// cached, self-refreshing credentials. Its subpackage awserr classifies the
// errors those calls return (the retry policy asks it what is permanent).
// It is not a client factory: callers build the SDK clients they need from
// the returned config.
//
// # Retry policy, and why
//
//   - Mode: adaptive (retry.NewAdaptiveMode). Every retryer also carries a
//     client-side rate limiter that slows down after throttling answers and
//     recovers when they stop. aws.Config.Retryer is a constructor called
//     once per client, so each client gets its own limiter: the scanner
//     builds one Config client per (account, region) scan, matching AWS's
//     throttling, which is per account and region. One hot account therefore
//     slows down only itself, never the other 63 workers.
//   - Pacing of Config clients (pace.go): the adaptive limiter does not
//     converge within an account-region's few calls. Measured against
//     awssim in process (BenchmarkAccountRegionUnderThrottle, 8
//     account-regions at once, 20 ms per call, bucket of rate r and burst
//     r): at 1 call/s, 8 sequential calls took 17.5 s (floor 7 s) with
//     48.8% of Config calls throttled, 24 calls 59.5 s (floor 23 s) with
//     49.7% throttled; at 2 calls/s, 5.2 s (floor 3 s, 14.7%) and 17.3 s
//     (floor 11 s, 22.9%). Its rate starts from a send rate measured in
//     half-second buckets from zero, and every throttle still waits the
//     exponential backoff (up to 20 s) on top. So a Config client's
//     attempts are paced instead, per client and so per account-region:
//     the first throttling answer and the calls admitted before it give
//     the bucket's rate, attempts start at that rate, and a throttled
//     attempt is retried after the rate's interval, not the exponential
//     backoff. Same runs, paced: 7.6 s (11.1%: the one throttle that
//     reveals the rate; the 8 start together, so each learns it), 25.5 s
//     (7.7%), 3.4 s (11.1%) and 11.9 s (7.7%).
//     The rate a client learns is also a hint shared by the clients of one
//     Load: AWS's default Config quota is the same in every account and
//     region, so a new account-region sends its bucket's burst, then
//     paces at the hint, and pays no throttle to learn it (`make load`,
//     500 accounts x 2 regions at -throttle-rps 1: 50.9% of Config calls
//     throttled before, 20.5% paced without the hint, 8.5% with it).
//     Clients of other services keep the adaptive mode as it was.
//   - Attempts: DefaultMaxAttempts (10) per call, retries included, with
//     the SDK's exponential jittered backoff capped at DefaultMaxBackoff
//     (20 s): retry n waits rand × 2^n s for n = 1..4, then the full 20 s
//     cap (the SDK's formula, without jitter past the cap). A call that
//     keeps failing transiently thus gives up after at most 2+4+8+16+5×20
//     = 130 s of backoff (about 115 s on average): bounded, and well
//     inside the run's 45-minute deadline. Throttling rarely gets there:
//     the pacer (Config) or the adaptive limiter (the rest) paces the
//     client first, and a paced throttle waits at most 20 s.
//   - Retry quota: disabled (ratelimit.None). The SDK's standard quota is a
//     bucket of 500 tokens per retryer, 5 per retry (10 per timeout),
//     refunded 1 per first-try success. Under sustained throttling (which
//     adaptive mode answers by slowing down, not by failing) it runs dry
//     after ~100 net retries, and from then on every retryable error fails
//     at once with "retry quota exceeded" although the next attempt would
//     have succeeded (TestSustainedThrottlingDoesNotDrainQuota: the default
//     refuses retry 101). The one STS client that assumes every account's
//     role would be the first to run dry: all AssumeRole retries of the
//     process share its retryer. The quota guards against retry storms;
//     here the storm is already bounded by -concurrency (at most N calls in
//     flight per process), by MaxAttempts per call and by the adaptive
//     limiter, so the quota would only turn slow accounts into failed ones.
//   - Permanent errors (awserr.IsPermanent: AccessDenied,
//     UnrecognizedClientException for an opt-in region not enabled, expired
//     or invalid tokens, validation errors) are never retried: a check in
//     front of the SDK's retryables answers "not retryable" for them. This
//     also overrides the SDK's clock-skew retry of AccessDeniedException,
//     which we accept: a skewed clock shows as AccessDenied with one attempt.
//   - awserr.AddAttemptCount is installed on every client so errors say how
//     many attempts were made (the report's Attempts column).
//   - Retries are not silent: with Options.Retries, each retried attempt
//     is logged at warn (operation, attempt "3/10", error kind), at most
//     once a second per operation (RetryLog).
//   - An endpoint that cannot be reached at all (connection refused, no
//     such host) is not retried under a context armed with
//     awserr.FailFastUnreachable, which discovery arms: a closed port in
//     AWS_ENDPOINT_URL fails a run in a second, not after 115 s of
//     backoff. awserr.AddFailFast is installed on every client for that.
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/ident"
)

// Retry defaults (see the package comment).
const (
	DefaultMaxAttempts = 10
	DefaultMaxBackoff  = 20 * time.Second
	// DefaultConcurrency sizes the connection pool when Options.Concurrency
	// is not given.
	DefaultConcurrency = 20
)

// Options configure Load. The zero value is valid when the environment
// names a region.
type Options struct {
	// Region is the client region for STS and Organizations (and the default
	// of clients that do not name one). Empty keeps the chain's (AWS_REGION,
	// the profile).
	Region string
	// Concurrency is the process's bound on AWS calls in flight
	// (-concurrency): at most that many Config, STS and Organizations
	// attempts are on the wire at once, whichever client or stage sends
	// them, and the idle pool keeps that many connections per host so that
	// N workers do not redo TLS handshakes.
	Concurrency int
	// MaxAttempts per call, retries included; default DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts; default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// APIOptions are added to every client's middleware stack (the
	// iampolicy Recorder, for instance).
	APIOptions []func(*middleware.Stack) error
	// Retries, when set, is told of every retried attempt of every
	// client's calls: it logs them at warn and says what the process is
	// waiting on (RetryLog.Waiting).
	Retries *RetryLog
	// LoadOptions are passed to config.LoadDefaultConfig after ours, for
	// tests (config.WithBaseEndpoint, config.WithCredentialsProvider).
	LoadOptions []func(*config.LoadOptions) error
}

func (o *Options) setDefaults() {
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
}

// Validate reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.Region != "" {
		if _, err := ident.ParseRegion(o.Region); err != nil {
			errs = append(errs, fmt.Errorf("region: %w", err))
		}
	}
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want at least 1", o.Concurrency))
	}
	if o.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d: want at least 1", o.MaxAttempts))
	}
	if o.MaxBackoff <= 0 {
		errs = append(errs, fmt.Errorf("max backoff %s: want a positive duration", o.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Load builds the aws.Config of the process from the SDK's standard chain
// with the transport, retry policy and middleware described in the package
// comment.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	limit := newInFlightLimit(opts.Concurrency)
	hint := &paceHint{} // what one Config client learns paces the next ones
	apiOpts := []func(*middleware.Stack) error{awserr.AddAttemptCount, addWireMark, limit.addTo, awserr.AddFailFast}
	if opts.Retries != nil {
		apiOpts = append(apiOpts, opts.Retries.addTo)
	}
	apiOpts = append(apiOpts, opts.APIOptions...)
	loadOpts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(newHTTPClient(opts.Concurrency)),
		config.WithRetryer(func() aws.Retryer { return opts.Retries.wrap(newRetryer(opts.MaxAttempts, opts.MaxBackoff, hint)) }),
		config.WithAPIOptions(apiOpts),
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	loadOpts = append(loadOpts, opts.LoadOptions...)
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("load aws config: no region: set -region or AWS_REGION")
	}
	// Freeze only now: the chain may still have cloned it (AWS_CA_BUNDLE
	// adds root CAs through WithTransportOptions). A client handed a
	// BuildableClient clones it into a transport of its own whenever it
	// adjusts it (a defaults mode other than legacy, AWS_DEFAULTS_MODE; a
	// service read timeout), which would give the scanner's
	// per-(account, region) clients a connection pool each; a frozen
	// *http.Client is used as is, by every client (so is inMemoryBody,
	// which is not a BuildableClient either).
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = inMemoryBody{c: bc.Freeze()}
	}
	return cfg, nil
}

// NewRetryer returns the retry policy of the package comment: adaptive
// mode, maxAttempts attempts, backoff capped at maxBackoff, no retry quota,
// permanent errors never retried, and a Config client's attempts paced at
// the rate its throttling answers reveal. Each call returns a fresh
// retryer, with its own adaptive rate limiter and pacer.
func NewRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	return newRetryer(maxAttempts, maxBackoff, &paceHint{})
}

// newRetryer is NewRetryer with the pace hint shared by every retryer of
// one Load.
func newRetryer(maxAttempts int, maxBackoff time.Duration, hint *paceHint) aws.Retryer {
	return &pacedRetryer{RetryerV2: newAdaptive(maxAttempts, maxBackoff), pace: newPacer(hint)}
}

// newAdaptive is the SDK's adaptive mode with our options: what every
// client had before pacing, and what unpaced clients still have.
func newAdaptive(maxAttempts int, maxBackoff time.Duration) *retry.AdaptiveMode {
	return retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
		ao.StandardOptions = append(ao.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = maxBackoff
			so.RateLimiter = ratelimit.None
			so.Retryables = append([]retry.IsErrorRetryable{neverRetryPermanent}, so.Retryables...)
		})
	})
}

// neverRetryPermanent comes first among the retryables: the first definite
// answer wins, so a permanent error is refused before any later check (the
// clock-skew wrapper, a 5xx status) could ask for a retry.
var neverRetryPermanent = retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
	if awserr.IsPermanent(err) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
})

// newHTTPClient returns the HTTP client whose one transport every SDK
// client built from the config shares (frozen by Load): the SDK's default transport settings
// (TLS 1.2+, dial and handshake timeouts), with the idle pool sized for
// concurrency calls in flight to one host (Config in one region), plus
// headroom for STS and Organizations. The SDK's default of 10 idle
// connections per host would make a 64-worker scanner close and reopen TLS
// connections continuously.
func newHTTPClient(concurrency int) *awshttp.BuildableClient {
	perHost := concurrency + 8
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = perHost
		tr.MaxIdleConns = perHost * 8
	})
}
