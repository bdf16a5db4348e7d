package awsconf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
)

func TestAttempt(t *testing.T) {
	tests := []struct {
		n, max int
		want   string
	}{
		{3, 10, "3/10"},
		{2, 2, "2/2"},
		{4, 0, "4"},
	}
	for _, tt := range tests {
		if got := Attempt(tt.n, tt.max); got != tt.want {
			t.Errorf("Attempt(%d, %d) = %q, want %q", tt.n, tt.max, got, tt.want)
		}
	}
}

// logLines decodes a JSON log.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}

// The log is rate-limited per operation: one line a second at most, the
// lines left out counted in the next.
func TestRetryLogRateLimit(t *testing.T) {
	type retry struct {
		op string
		at time.Duration // fake clock
	}
	type line struct {
		op, attempt string
		notLogged   int
	}
	tests := []struct {
		name    string
		retries []retry
		want    []line
	}{
		{"one", []retry{{"sts:AssumeRole", 0}}, []line{{"sts:AssumeRole", "2/10", 0}}},
		{"burst of one operation: one line", []retry{{"sts:AssumeRole", 0}, {"sts:AssumeRole", 10 * time.Millisecond}, {"sts:AssumeRole", 999 * time.Millisecond}},
			[]line{{"sts:AssumeRole", "2/10", 0}}},
		{"a second later: logged, with the count left out", []retry{{"sts:AssumeRole", 0}, {"sts:AssumeRole", 500 * time.Millisecond}, {"sts:AssumeRole", 1500 * time.Millisecond}},
			[]line{{"sts:AssumeRole", "2/10", 0}, {"sts:AssumeRole", "2/10", 1}}},
		{"exactly a second later", []retry{{"sts:AssumeRole", 0}, {"sts:AssumeRole", time.Second}},
			[]line{{"sts:AssumeRole", "2/10", 0}, {"sts:AssumeRole", "2/10", 0}}},
		{"operations limited apart", []retry{{"sts:AssumeRole", 0}, {"organizations:ListRoots", 1 * time.Millisecond}, {"sts:AssumeRole", 2 * time.Millisecond}},
			[]line{{"sts:AssumeRole", "2/10", 0}, {"organizations:ListRoots", "2/10", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewRetryLog(slog.New(slog.NewJSONHandler(&buf, nil)))
			var now time.Time
			l.now = func() time.Time { return now }
			t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
			for _, r := range tt.retries {
				now = t0.Add(r.at)
				l.retrying(&call{op: r.op, attempt: 1}, 10, refused)
			}
			got := logLines(t, &buf)
			if len(got) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tt.want), buf.String())
			}
			for i, w := range tt.want {
				g := got[i]
				if g["level"] != "WARN" || g["operation"] != w.op || g["attempt"] != w.attempt || g["error_kind"] != awserr.CodeConnectionError {
					t.Errorf("line %d = %v, want %+v at WARN with error_kind ConnectionError", i, g, w)
				}
				n, _ := g["retries_not_logged"].(float64)
				if int(n) != w.notLogged {
					t.Errorf("line %d: retries_not_logged %v, want %d", i, g["retries_not_logged"], w.notLogged)
				}
			}
		})
	}
}

func TestRetryLogWaiting(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	throttled := &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "slow down"}
	tests := []struct {
		name  string
		calls []call // attempt = attempts made; each is then told it will be retried
		want  string
	}{
		{"nothing retrying", nil, ""},
		{"one", []call{{op: "organizations:ListRoots", attempt: 2}}, "organizations:ListRoots (retry 3/10 after ConnectionError)"},
		{"the furthest first", []call{{op: "sts:AssumeRole", attempt: 1}, {op: "organizations:ListAccountsForParent", attempt: 4}},
			"organizations:ListAccountsForParent (retry 5/10 after ConnectionError) and 1 more call retrying"},
		{"many", []call{{op: "a:A", attempt: 1}, {op: "a:A", attempt: 1}, {op: "b:B", attempt: 1}}, "a:A (retry 2/10 after ConnectionError) and 2 more calls retrying"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewRetryLog(slog.New(slog.DiscardHandler))
			l.now = func() time.Time { return t0 }
			for i := range tt.calls {
				l.retrying(&tt.calls[i], 10, refused)
			}
			if got := l.Waiting(); got != tt.want {
				t.Errorf("Waiting() = %q, want %q", got, tt.want)
			}
			for i := range tt.calls {
				l.done(&tt.calls[i])
			}
			if got := l.Waiting(); got != "" {
				t.Errorf("after the calls ended, Waiting() = %q", got)
			}
		})
	}
	l := NewRetryLog(slog.New(slog.DiscardHandler))
	c := &call{op: "organizations:ListRoots", attempt: 1}
	l.retrying(c, 10, throttled)
	if got, want := l.Waiting(), "organizations:ListRoots (retry 2/10 after TooManyRequestsException)"; got != want {
		t.Errorf("Waiting() = %q, want %q", got, want)
	}
	var nilLog *RetryLog
	if nilLog.Waiting() != "" {
		t.Error("a nil RetryLog waits on something")
	}
}

func TestRetryLogDetail(t *testing.T) {
	long := errors.New(strings.Repeat("x", 300))
	tests := []struct {
		err  error
		want string
	}{
		{&smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}}, "Rate exceeded"},
		{fmt.Errorf("send: %w", refused), "dial tcp: connect: connection refused"},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, "lookup x.invalid: no such host"},
		{long, strings.Repeat("x", maxDetail) + "..."},
	}
	for _, tt := range tests {
		if got := detail(tt.err); got != tt.want {
			t.Errorf("detail(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Through a real client: every retry of a call to a closed port is
// logged (rate-limited), and under a context armed for fail-fast the call
// is not retried at all.
func TestRetryLogAndFailFastThroughTheSDK(t *testing.T) {
	addr := closedPort(t)
	var buf bytes.Buffer
	rl := NewRetryLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	cfg := load(t, "http://"+addr, Options{MaxAttempts: 3, MaxBackoff: 600 * time.Millisecond, Retries: rl})
	client := sts.NewFromConfig(cfg)

	_, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err == nil || awserr.Attempts(err) != 3 {
		t.Fatalf("err %v after %d attempts, want 3 failed attempts", err, awserr.Attempts(err))
	}
	if _, ok := awserr.Unreachable(err); ok {
		t.Fatalf("unreachable outside an armed context: %v", err)
	}
	lines := logLines(t, &buf)
	// Two retries, the second at most 600 ms (the first backoff) after
	// the first: within the second, so not logged.
	if len(lines) != 1 {
		t.Fatalf("%d retry lines, want 1:\n%s", len(lines), buf.String())
	}
	if l := lines[0]; l["operation"] != "sts:GetCallerIdentity" || l["attempt"] != "2/3" || l["error_kind"] != awserr.CodeConnectionError ||
		!strings.Contains(fmt.Sprint(l["error"]), "connection refused") {
		t.Errorf("retry line %v", l)
	}
	if rl.Waiting() != "" {
		t.Errorf("waiting on %q after the call ended", rl.Waiting())
	}

	buf.Reset()
	start := time.Now()
	_, err = client.GetCallerIdentity(awserr.FailFastUnreachable(context.Background()), &sts.GetCallerIdentityInput{})
	u, ok := awserr.Unreachable(err)
	if !ok || u.Endpoint != addr || u.Cause != awserr.CauseConnectionRefused || u.Service != "STS" {
		t.Fatalf("armed: %v (%+v), want unreachable %s", err, u, addr)
	}
	if n := awserr.Attempts(err); n != 1 {
		t.Errorf("armed: %d attempts, want 1", n)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("armed: failed after %s", el)
	}
	if buf.Len() != 0 {
		t.Errorf("armed: retries logged:\n%s", buf.String())
	}
}

// An endpoint that answered once under the armed context is retried as
// usual when it later refuses: a restart mid-walk is weather.
func TestFailFastOnlyBeforeTheFirstAnswer(t *testing.T) {
	srv, _ := jsonServer(t, func(i int, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Account>111111111111</Account><Arn>arn:aws:iam::111111111111:user/x</Arn><UserId>x</UserId></GetCallerIdentityResult></GetCallerIdentityResponse>`)
	})
	cfg := load(t, srv.URL, Options{MaxAttempts: 3, MaxBackoff: time.Millisecond})
	client := sts.NewFromConfig(cfg)
	ctx := awserr.FailFastUnreachable(context.Background())
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	srv.Close() // the port now refuses
	_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if _, ok := awserr.Unreachable(err); ok || awserr.Attempts(err) != 3 {
		t.Fatalf("after an answer: %v after %d attempts, want 3 attempts of a transient", err, awserr.Attempts(err))
	}
}

// What a retry line says never includes the credentials or the signature.
func TestRetryLogNeverLogsCredentials(t *testing.T) {
	srv, _ := jsonServer(t, func(i int, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try later</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	})
	var buf bytes.Buffer
	rl := NewRetryLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	rl.interval = 0 // log every retry
	cfg := load(t, srv.URL, Options{MaxAttempts: 3, MaxBackoff: time.Millisecond, Retries: rl})
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err == nil {
		t.Fatal("no error")
	}
	lines := logLines(t, &buf)
	if len(lines) != 2 || lines[1]["attempt"] != "3/3" || lines[1]["error_kind"] != "ServiceUnavailable" || lines[1]["error"] != "try later" {
		t.Fatalf("retry lines:\n%s", buf.String())
	}
	for _, secret := range []string{"hubsecret", "AKIDHUB", "Authorization", "Signature", "X-Amz"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the retry log contains %q:\n%s", secret, buf.String())
		}
	}
}

// operation names a call as IAM would, and builds each name once.
func TestOperation(t *testing.T) {
	tests := []struct{ svc, op, want string }{
		{"Config Service", "DescribeConfigRules", "configservice:DescribeConfigRules"},
		{"Organizations", "ListRoots", "organizations:ListRoots"},
		{"Config Service", "GetComplianceDetailsByConfigRule", "configservice:GetComplianceDetailsByConfigRule"},
		{"STS", "AssumeRole", "sts:AssumeRole"},
		{"", "Anonymous", "Anonymous"},
	}
	for _, tt := range tests {
		ctx := middleware.WithOperationName(middleware.WithServiceID(context.Background(), tt.svc), tt.op)
		for range 2 { // built, then kept
			if got := operation(ctx); got != tt.want {
				t.Errorf("operation(%q, %q) = %q, want %q", tt.svc, tt.op, got, tt.want)
			}
		}
		if n := testing.AllocsPerRun(10, func() { operation(ctx) }); n != 0 {
			t.Errorf("operation(%q, %q): %v allocations a call once named, want 0", tt.svc, tt.op, n)
		}
	}
}
