package awssim

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TB is the part of testing.TB that ServeTest uses (the simulator does not
// link package testing).
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// ServeTest serves a Sim of cfg (a nil Logger discards) on a loopback
// server closed with the test, and returns it, the server's URL and the hub
// identity's configuration: static AKIDHUB keys, us-east-1, FastRetryer;
// each client sets BaseEndpoint.
func ServeTest(tb TB, cfg Config) (*Sim, string, aws.Config) {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	return s, srv.URL, aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", ""),
		Retryer:     FastRetryer,
	}
}

// FastRetryer is the standard retryer with millisecond backoff, so tests
// that provoke retries stay fast.
func FastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 5
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}
