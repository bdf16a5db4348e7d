package awsconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
)

// DefaultRetryLogInterval is the least time between two logged retries of
// one operation: a thousand AssumeRole calls retrying together make one
// line a second, not a thousand.
const DefaultRetryLogInterval = time.Second

// maxDetail bounds the error text a retry line carries.
const maxDetail = 200

// RetryLog is told of every retried attempt of the calls made by clients
// built from a Load given it (Options.Retries). It logs each at warn with
// the operation ("organizations:ListRoots"), the attempt about to be made
// ("3/10") and the kind of error that failed the one before (awserr.Code),
// at most once per interval per operation, the lines left out counted in
// the next one; and it says what the process is waiting on (Waiting), for
// a progress line. Without it a call to a closed port retried for two
// minutes in silence.
//
// What it logs is the operation, the error kind and AWS's message or the
// network error ("dial tcp 127.0.0.1:1: connect: connection refused"):
// never the request, so never its credentials or signed headers.
//
// It is safe for concurrent use; its memory is bounded by the number of
// distinct operations and of calls in retry at once.
type RetryLog struct {
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	// metrics, when Count was called: set before the first call, read only.
	metrics *callMetrics

	mu         sync.Mutex
	last       map[string]time.Time // operation -> last logged retry
	suppressed map[string]int       // operation -> retries not logged since
	waiting    map[*call]struct{}   // calls between a failed attempt and their end
}

// NewRetryLog returns a RetryLog writing to logger (slog.Default() when nil).
func NewRetryLog(logger *slog.Logger) *RetryLog {
	if logger == nil {
		logger = slog.Default()
	}
	return &RetryLog{
		log: logger, now: time.Now, interval: DefaultRetryLogInterval,
		last: map[string]time.Time{}, suppressed: map[string]int{}, waiting: map[*call]struct{}{},
	}
}

// call is one operation call, from its first attempt to its end.
type call struct {
	op      string
	attempt int // attempts started
	// Set when an attempt failed and another is coming (under RetryLog.mu).
	next, max int
	kind      string
	since     time.Time
	listed    bool // in RetryLog.waiting; touched by the call's goroutine only
}

type callKey struct{}

// ID implements middleware.FinalizeMiddleware.
func (l *RetryLog) ID() string { return "configreport.RetryLog" }

// HandleFinalize sits just outside the retry loop: it gives the call its
// state, which the retryer (retryLogger) updates on every attempt, and
// forgets the call when it ends.
func (l *RetryLog) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	c := &call{op: operation(ctx)}
	defer l.done(c)
	out, md, err := next.HandleFinalize(context.WithValue(ctx, callKey{}, c), in)
	l.metrics.ended(c.op, err)
	return out, md, err
}

// addTo installs the call tracking just outside the retry loop.
func (l *RetryLog) addTo(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get(l.ID()); ok {
		return nil
	}
	if _, ok := stack.Finalize.Get("Retry"); ok {
		return stack.Finalize.Insert(l, "Retry", middleware.Before)
	}
	return stack.Finalize.Add(l, middleware.Before)
}

// wrap returns r reporting its attempts and retries to l; r as is when l
// is nil.
func (l *RetryLog) wrap(r aws.Retryer) aws.Retryer {
	if l == nil {
		return r
	}
	v2, ok := r.(aws.RetryerV2)
	if !ok {
		return r
	}
	return retryLogger{RetryerV2: v2, log: l}
}

// retryLogger is the retryer of a client built with a RetryLog. The SDK's
// retry loop asks GetAttemptToken before every attempt and GetRetryToken
// exactly when a failed attempt will be retried (retryable, attempts
// left), both with the call's context: the one place that knows the
// operation, the attempt and that a retry is coming.
type retryLogger struct {
	aws.RetryerV2
	log *RetryLog
}

func (r retryLogger) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		r.log.mu.Lock()
		c.attempt++
		r.log.mu.Unlock()
	}
	return r.RetryerV2.GetAttemptToken(ctx)
}

func (r retryLogger) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		r.log.retrying(c, r.MaxAttempts(), opErr)
	}
	return r.RetryerV2.GetRetryToken(ctx, opErr)
}

// retrying records that c's attempt failed with err and another comes,
// and logs it unless the operation was logged less than interval ago.
func (l *RetryLog) retrying(c *call, maxAttempts int, err error) {
	now := l.now()
	kind := awserr.Code(err)
	l.metrics.retried(c.op, kind, err)
	l.mu.Lock()
	c.next, c.max, c.kind = c.attempt+1, maxAttempts, kind
	if !c.listed {
		c.listed, c.since = true, now
		l.waiting[c] = struct{}{}
	}
	next := c.next
	if last, ok := l.last[c.op]; ok && now.Sub(last) < l.interval {
		l.suppressed[c.op]++
		l.mu.Unlock()
		return
	}
	l.last[c.op] = now
	skipped := l.suppressed[c.op]
	delete(l.suppressed, c.op)
	l.mu.Unlock()

	attrs := []slog.Attr{
		slog.String("operation", c.op),
		slog.String("attempt", Attempt(next, maxAttempts)),
		slog.String("error_kind", kind),
		slog.String("error", detail(err)),
	}
	if skipped > 0 {
		attrs = append(attrs, slog.Int("retries_not_logged", skipped))
	}
	l.log.LogAttrs(context.Background(), slog.LevelWarn, "retrying AWS call", attrs...)
}

func (l *RetryLog) done(c *call) {
	if !c.listed {
		return
	}
	l.mu.Lock()
	delete(l.waiting, c)
	l.mu.Unlock()
}

// Waiting says what the process's AWS calls are waiting on: "" when no
// call is retrying, else the call furthest in its retries, as
// "organizations:ListRoots (retry 3/10 after ConnectionError)", and how
// many others are retrying too.
func (l *RetryLog) Waiting() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var worst *call
	for c := range l.waiting {
		if worst == nil || c.next > worst.next || (c.next == worst.next && (c.since.Before(worst.since) || (c.since.Equal(worst.since) && c.op < worst.op))) {
			worst = c
		}
	}
	if worst == nil {
		return ""
	}
	s := fmt.Sprintf("%s (retry %s after %s)", worst.op, Attempt(worst.next, worst.max), worst.kind)
	if n := len(l.waiting) - 1; n == 1 {
		s += " and 1 more call retrying"
	} else if n > 1 {
		s += fmt.Sprintf(" and %d more calls retrying", n)
	}
	return s
}

// Attempt formats attempt n of max as "3/10" ("3" when max is unknown).
func Attempt(n, maxAttempts int) string {
	if maxAttempts <= 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", n, maxAttempts)
}

// operation names the call as IAM would, lower-case service first:
// "organizations:ListRoots", "configservice:DescribeConfigRules". Every
// call of a client built with a RetryLog asks, so the names are kept
// (opNames) instead of being built again: three allocations a call.
func operation(ctx context.Context) string {
	k := opKey{svc: middleware.GetServiceID(ctx), op: middleware.GetOperationName(ctx)}
	opNames.mu.RLock()
	name, ok := opNames.m[k]
	opNames.mu.RUnlock()
	if ok {
		return name
	}
	name = k.op
	if svc := strings.ToLower(strings.ReplaceAll(k.svc, " ", "")); svc != "" {
		name = svc + ":" + k.op
	}
	opNames.mu.Lock()
	if len(opNames.m) < maxOpNames {
		opNames.m[k] = name
	}
	opNames.mu.Unlock()
	return name
}

// maxOpNames bounds opNames: the operations the code calls, a few dozen.
const maxOpNames = 1024

type opKey struct{ svc, op string }

// opNames are the names operation gave, by service id and operation.
var opNames = struct {
	mu sync.RWMutex
	m  map[opKey]string
}{m: map[opKey]string{}}

// detail is what a retry line says of err: AWS's message, else the network
// error (which names the address, not the request), else err's text, cut
// to maxDetail.
func detail(err error) string {
	var s string
	var apiErr smithy.APIError
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorMessage() != "":
		s = apiErr.ErrorMessage()
	case errors.As(err, &oe):
		s = oe.Error()
	case errors.As(err, &de):
		s = de.Error()
	default:
		s = err.Error()
	}
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return s
}
