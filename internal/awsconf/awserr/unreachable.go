package awserr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"syscall"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Causes an UnreachableError names.
const (
	CauseConnectionRefused = "connection refused"
	CauseNoSuchHost        = "no such host"
)

// UnreachableError is an AWS endpoint that could not be reached at all
// while the context was armed with FailFastUnreachable: the connection was
// refused, or DNS says the host does not exist, and the endpoint had not
// answered once before under that context. That is configuration (a closed
// port in AWS_ENDPOINT_URL, a misspelt host, a wrong region), not weather:
// IsPermanent answers true, so the retryer gives up at once instead of
// retrying for two minutes in silence.
type UnreachableError struct {
	// Service is the SDK's service id ("Organizations", "STS").
	Service string
	// Endpoint is the host:port the request went to.
	Endpoint string
	// Cause is CauseConnectionRefused or CauseNoSuchHost.
	Cause string
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the %s endpoint %s: %s (check AWS_ENDPOINT_URL or the profile's endpoint, and the region)", e.Service, e.Endpoint, e.Cause)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Unreachable returns the UnreachableError in err's chain, if any.
func Unreachable(err error) (*UnreachableError, bool) {
	var u *UnreachableError
	ok := errors.As(err, &u)
	return u, ok
}

// failFast is the state of an armed context: the endpoints (host:port)
// that have answered at least once, after which a refused connection to
// them is a transient again (a proxy restarting mid-walk, say).
type failFast struct {
	mu       sync.Mutex
	answered map[string]bool
}

type failFastKey struct{}

// FailFastUnreachable returns ctx armed so that an AWS call made under it
// (by a client whose stack carries AddFailFast; internal/awsconf installs
// it on every client) that gets a refused connection, or a DNS "no such
// host", from an endpoint that has not answered once under ctx fails at
// once with an *UnreachableError. Discovery arms its context: it is the
// first thing a run asks of AWS, so an endpoint it cannot reach is a
// configuration mistake to report in seconds. The scanner does not: a
// regional endpoint refusing one account's connection mid-run may be a
// passing fault, which the retryer's backoff absorbs. A context already
// armed is returned as is, keeping what it learnt.
func FailFastUnreachable(ctx context.Context) context.Context {
	if _, ok := ctx.Value(failFastKey{}).(*failFast); ok {
		return ctx
	}
	return context.WithValue(ctx, failFastKey{}, &failFast{answered: map[string]bool{}})
}

// AddFailFast is an aws.Config APIOptions entry: inside the retry loop
// (Finalize, after Retry), it sees every attempt's outcome and, under a
// context armed with FailFastUnreachable, turns a refused connection or an
// unknown host into an *UnreachableError, which the retryer does not retry.
// Outside an armed context it does nothing.
func AddFailFast(stack *middleware.Stack) error {
	const id = "awserr.FailFast"
	if _, ok := stack.Finalize.Get(id); ok {
		return nil
	}
	mw := middleware.FinalizeMiddlewareFunc(id, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		ff, ok := ctx.Value(failFastKey{}).(*failFast)
		if !ok {
			return out, md, err
		}
		// The endpoint is resolved further down the stack, on the same
		// request: read it after the attempt.
		ep := endpointOf(in.Request, err)
		if err = ff.judge(middleware.GetServiceID(ctx), ep, err); err != nil {
			return out, md, err
		}
		return out, md, nil
	})
	if _, ok := stack.Finalize.Get("Retry"); ok {
		return stack.Finalize.Insert(mw, "Retry", middleware.After)
	}
	return stack.Finalize.Add(mw, middleware.Before)
}

// judge records an endpoint that answered and wraps the error of one that
// was never reached.
func (f *failFast) judge(service, endpoint string, err error) error {
	if err == nil || status(err) != 0 {
		// An HTTP answer, even a refusal: the endpoint exists.
		if endpoint != "" {
			f.mu.Lock()
			f.answered[endpoint] = true
			f.mu.Unlock()
		}
		return err
	}
	if _, ok := Unreachable(err); ok {
		return err // a nested call (AssumeRole for the credentials) said so already
	}
	cause := unreachableCause(err)
	if cause == "" {
		return err
	}
	f.mu.Lock()
	answered := f.answered[endpoint]
	f.mu.Unlock()
	if answered {
		return err
	}
	return &UnreachableError{Service: service, Endpoint: endpoint, Cause: cause, Err: err}
}

// unreachableCause says whether err is a refused connection or an unknown
// host, the two failures that mean nothing listens at the configured
// address. Timeouts and resets are not: a firewall dropping packets, or a
// server closing a connection, may be weather.
func unreachableCause(err error) string {
	switch {
	case isNoSuchHost(err):
		return CauseNoSuchHost
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseConnectionRefused
	}
	return ""
}

// endpointOf returns the host:port of the attempt's request, else of the
// URL the error names.
func endpointOf(req any, err error) string {
	if r, ok := req.(*smithyhttp.Request); ok && r.Request != nil && r.URL != nil && r.URL.Host != "" {
		return hostPort(r.URL)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return hostPort(u)
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		return oe.Addr.String()
	}
	return ""
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
