package awserr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// apiErr builds an error shaped as the SDK returns it: OperationError >
// awshttp.ResponseError > smithyhttp.ResponseError > API error.
func apiErr(status int, code, msg string) error {
	fault := smithy.FaultClient
	if status >= 500 {
		fault = smithy.FaultServer
	}
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status}}
	return &smithy.OperationError{
		ServiceID: "Config Service", OperationName: "DescribeConfigRules",
		Err: &awshttp.ResponseError{RequestID: "req-1", ResponseError: &smithyhttp.ResponseError{
			Response: resp,
			Err:      &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault},
		}},
	}
}

func opErr(err error) error {
	return &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: err}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	// A DNS answer as the SDK returns it: OperationError > RequestSendError >
	// url.Error (net/http) > net.OpError (the dialer) > net.DNSError.
	dns := func(notFound, timeout bool) error {
		return opErr(&smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "https://config.xx-fake-1.amazonaws.com/",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "config.xx-fake-1.amazonaws.com", IsNotFound: notFound, IsTimeout: timeout}}}})
	}
	dial := &url.Error{Op: "Post", URL: "https://config.us-east-1.amazonaws.com/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name      string
		err       error
		code      string
		transient bool
		permanent bool
		canceled  bool
		throttle  bool
	}{
		{"nil", nil, "", false, false, false, false},
		{"access denied (STS)", apiErr(403, "AccessDenied", "not authorized"), "AccessDenied", false, true, false, false},
		{"access denied (JSON)", apiErr(400, "AccessDeniedException", "no"), "AccessDeniedException", false, true, false, false},
		{"opt-in region not enabled", apiErr(400, "UnrecognizedClientException", "The security token included in the request is invalid"), "UnrecognizedClientException", false, true, false, false},
		{"expired session", apiErr(400, "ExpiredTokenException", "expired"), "ExpiredTokenException", false, true, false, false},
		{"unknown 4xx is permanent", apiErr(400, "SomeNewValidation", "bad"), "SomeNewValidation", false, true, false, false},
		{"throttling (JSON)", apiErr(400, "ThrottlingException", "Rate exceeded"), "ThrottlingException", true, false, false, true},
		{"throttling (query)", apiErr(400, "Throttling", "Rate exceeded"), "Throttling", true, false, false, true},
		{"internal failure 500", apiErr(500, "InternalFailure", "oops"), "InternalFailure", true, false, false, false},
		{"service unavailable 503", apiErr(503, "ServiceUnavailable", "later"), "ServiceUnavailable", true, false, false, false},
		{"unknown 5xx is transient", apiErr(502, "SomethingBroke", ""), "SomethingBroke", true, false, false, false},
		{"internal failure with 400", apiErr(400, "InternalFailure", ""), "InternalFailure", true, false, false, false},
		{"max attempts keeps the code", &retry.MaxAttemptsError{Attempt: 10, Err: apiErr(400, "ThrottlingException", "x")}, "ThrottlingException", true, false, false, true},
		{"no code, bare 502", opErr(&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 502}}, Err: errors.New("bad gateway page")}), "HTTP502", true, false, false, false},
		{"connection refused", opErr(&smithyhttp.RequestSendError{Err: dial}), CodeConnectionError, true, false, false, false},
		{"DNS no such host is permanent", dns(true, false), CodeNoSuchHost, false, true, false, false},
		{"DNS no such host after retries", &retry.MaxAttemptsError{Attempt: 1, Err: dns(true, false)}, CodeNoSuchHost, false, true, false, false},
		{"DNS server failure is transient", dns(false, false), CodeConnectionError, true, false, false, false},
		{"DNS timeout is transient", dns(false, true), CodeRequestTimeout, true, false, false, false},
		{"unexpected EOF", opErr(fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)), CodeConnectionError, true, false, false, false},
		{"network timeout", opErr(&smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "u", Err: timeoutErr{}}}), CodeRequestTimeout, true, false, false, false},
		{"context deadline", opErr(&aws.RequestCanceledError{Err: context.DeadlineExceeded}), CodeRequestTimeout, true, false, false, false},
		{"context canceled", opErr(&aws.RequestCanceledError{Err: context.Canceled}), CodeRequestCanceled, false, false, true, false},
		{"retry quota", opErr(errors.Join(apiErr(503, "ServiceUnavailable", ""), ratelimit.QuotaExceededError{Available: 0, Requested: 5})), "ServiceUnavailable", true, false, false, false},
		{"quota alone", opErr(fmt.Errorf("failed to get rate limit token, %w", ratelimit.QuotaExceededError{})), CodeRetryQuotaExceeded, true, false, false, false},
		{"invalid params", opErr(smithy.InvalidParamsError{Context: "DescribeConfigRulesInput"}), CodeInvalidParameter, false, true, false, false},
		{"unknown client error", errors.New("something odd"), CodeClientError, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.code {
				t.Errorf("Code = %q, want %q", got, tt.code)
			}
			if got := IsTransient(tt.err); got != tt.transient {
				t.Errorf("IsTransient = %v, want %v", got, tt.transient)
			}
			if got := IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
			if got := IsCanceled(tt.err); got != tt.canceled {
				t.Errorf("IsCanceled = %v, want %v", got, tt.canceled)
			}
			if got := IsThrottle(tt.err); got != tt.throttle {
				t.Errorf("IsThrottle = %v, want %v", got, tt.throttle)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	if got := Message(apiErr(400, "AccessDeniedException", "User is not authorized")); got != "User is not authorized" {
		t.Errorf("Message = %q", got)
	}
	if got := Message(errors.New("plain")); got != "plain" {
		t.Errorf("Message = %q", got)
	}
	if got := Operation(fmt.Errorf("scan: %w", apiErr(400, "X", "y"))); got != "DescribeConfigRules" {
		t.Errorf("Operation = %q", got)
	}
	if got := Operation(errors.New("plain")); got != "" {
		t.Errorf("Operation(plain) = %q", got)
	}
	if got := Describe(fmt.Errorf("scan: %w", apiErr(400, "AccessDenied", "User: x is not authorized to perform: sts:AssumeRole"))); got != "DescribeConfigRules: User: x is not authorized to perform: sts:AssumeRole" {
		t.Errorf("Describe = %q", got)
	}
	if got := Describe(opErr(io.ErrUnexpectedEOF)); got != opErr(io.ErrUnexpectedEOF).Error() {
		t.Errorf("Describe(no API error) = %q", got)
	}
	if got := Message(nil); got != "" {
		t.Errorf("Message(nil) = %q", got)
	}
}

// TestAttemptsRealClient drives a real Config client against a server that
// answers a scripted sequence, and checks the count AddAttemptCount attaches.
func TestAttemptsRealClient(t *testing.T) {
	jsonErr := func(status int, code string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"__type":%q,"message":"scripted"}`, code)
		}
	}
	ok := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"ConfigRules":[]}`)
	}
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter) // the last one repeats
		wantErr  string                      // code; "" for success
		attempts int                         // attempts reported on error; server calls always checked
		calls    int
	}{
		{"permanent error is not retried", []func(http.ResponseWriter){jsonErr(400, "AccessDeniedException")}, "AccessDeniedException", 1, 1},
		{"opt-in region not retried", []func(http.ResponseWriter){jsonErr(400, "UnrecognizedClientException")}, "UnrecognizedClientException", 1, 1},
		{"transient exhausted", []func(http.ResponseWriter){jsonErr(503, "ServiceUnavailable")}, "ServiceUnavailable", 4, 4},
		{"transient then permanent", []func(http.ResponseWriter){jsonErr(500, "InternalFailure"), jsonErr(400, "AccessDeniedException")}, "AccessDeniedException", 2, 2},
		{"transient then success", []func(http.ResponseWriter){jsonErr(400, "ThrottlingException"), ok}, "", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				tt.answers[min(i, len(tt.answers)-1)](w)
			}))
			defer srv.Close()
			client := configservice.New(configservice.Options{
				Region:       "us-east-1",
				BaseEndpoint: aws.String(srv.URL),
				Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
				Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
					o.MaxAttempts = 4
					o.MaxBackoff = time.Millisecond
				}),
				APIOptions: []func(*middleware.Stack) error{AddAttemptCount},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
			if got := Code(err); got != tt.wantErr {
				t.Fatalf("Code = %q, want %q (err %v)", got, tt.wantErr, err)
			}
			if got := Attempts(err); got != tt.attempts {
				t.Errorf("Attempts = %d, want %d", got, tt.attempts)
			}
			if got := int(n.Load()); got != tt.calls {
				t.Errorf("server saw %d calls, want %d", got, tt.calls)
			}
		})
	}
}

// TestNoSuchHostRealClient sends a real Config call whose dial fails the
// way the resolver fails for a host that does not exist (a made-up
// region's endpoint), through the SDK's own error wrapping and a retryer
// that asks IsPermanent first, as internal/awsconf's does: one dial, no
// retry, code NoSuchHost.
func TestNoSuchHostRealClient(t *testing.T) {
	var dials atomic.Int32
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = func(_ context.Context, _, addr string) (net.Conn, error) {
			dials.Add(1)
			host, _, _ := net.SplitHostPort(addr)
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
		}
	})
	client := configservice.New(configservice.Options{
		Region:      "xx-fake-1",
		HTTPClient:  httpClient,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = time.Millisecond
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if IsPermanent(err) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, o.Retryables...)
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if got := Code(err); got != CodeNoSuchHost {
		t.Fatalf("Code = %q, want %q (err %v)", got, CodeNoSuchHost, err)
	}
	if !IsPermanent(err) || IsTransient(err) {
		t.Errorf("IsPermanent = %v, IsTransient = %v; want permanent only", IsPermanent(err), IsTransient(err))
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: a host that does not exist must not be retried", n)
	}
}

func TestAttemptsWithoutMiddleware(t *testing.T) {
	if got := Attempts(&retry.MaxAttemptsError{Attempt: 7, Err: errors.New("x")}); got != 7 {
		t.Errorf("Attempts(MaxAttemptsError) = %d", got)
	}
	if got := Attempts(errors.New("x")); got != 0 {
		t.Errorf("Attempts(plain) = %d", got)
	}
	if got := Attempts(nil); got != 0 {
		t.Errorf("Attempts(nil) = %d", got)
	}
}
