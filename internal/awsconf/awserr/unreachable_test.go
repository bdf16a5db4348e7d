package awserr

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sendErr is a transport failure as the SDK returns it from the attempt:
// RequestSendError > url.Error > net.OpError > cause.
func sendErr(host string, cause error) error {
	return &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "http://" + host + "/",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: cause}}}
}

func TestFailFastJudge(t *testing.T) {
	refused := sendErr("127.0.0.1:1", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED})
	noHost := sendErr("nonexistent.invalid:1", &net.DNSError{Err: "no such host", Name: "nonexistent.invalid", IsNotFound: true})
	dnsDown := sendErr("nonexistent.invalid:1", &net.DNSError{Err: "server misbehaving", Name: "nonexistent.invalid", IsTemporary: true})
	reset := sendErr("127.0.0.1:1", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET})
	timeout := sendErr("127.0.0.1:1", timeoutErr{})
	nested := opErr(&UnreachableError{Service: "STS", Endpoint: "sts:443", Cause: CauseConnectionRefused, Err: refused})

	tests := []struct {
		name     string
		answered bool // the endpoint answered once before under the context
		err      error
		want     string // the cause of the UnreachableError; "" = err returned as is
	}{
		{"refused, never answered", false, refused, CauseConnectionRefused},
		{"no such host, never answered", false, noHost, CauseNoSuchHost},
		{"refused after an answer: weather again", true, refused, ""},
		{"DNS server failing: may recover", false, dnsDown, ""},
		{"reset: a server that was there", false, reset, ""},
		{"timeout: a firewall dropping, or a slow network", false, timeout, ""},
		{"an HTTP answer", false, apiErr(503, "ServiceUnavailable", "later"), ""},
		{"nested, already unreachable", false, nested, CauseConnectionRefused},
		{"no error", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff := &failFast{answered: map[string]bool{}}
			if tt.answered {
				ff.answered["127.0.0.1:1"] = true
			}
			got := ff.judge("Organizations", endpointOf(nil, tt.err), tt.err)
			u, ok := Unreachable(got)
			switch {
			case tt.want == "" && ok:
				t.Fatalf("got %v, want the error as is", got)
			case tt.want == "" && got != tt.err:
				t.Fatalf("got %v, want %v as is", got, tt.err)
			case tt.want != "" && !ok:
				t.Fatalf("got %v, want an UnreachableError", got)
			case tt.want != "" && u.Cause != tt.want:
				t.Fatalf("cause %q, want %q", u.Cause, tt.want)
			}
			if ok {
				if !IsPermanent(got) || IsTransient(got) {
					t.Errorf("permanent %v, transient %v: want permanent only", IsPermanent(got), IsTransient(got))
				}
				if !strings.Contains(got.Error(), u.Endpoint) || u.Endpoint == "" {
					t.Errorf("%q does not name the endpoint %q", got, u.Endpoint)
				}
				if !errors.Is(got, tt.err) && tt.err != nested {
					t.Errorf("the cause is not wrapped")
				}
			}
		})
	}
}

// An answer, even a refusal, proves the endpoint: a refused connection
// afterwards is retried as before.
func TestFailFastLearnsAnsweredEndpoints(t *testing.T) {
	ff := &failFast{answered: map[string]bool{}}
	refused := sendErr("127.0.0.1:1", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED})
	if _, ok := Unreachable(ff.judge("STS", "127.0.0.1:1", refused)); !ok {
		t.Fatal("first refusal not judged unreachable")
	}
	_ = ff.judge("STS", "127.0.0.1:1", apiErr(403, "AccessDenied", "no"))
	if _, ok := Unreachable(ff.judge("STS", "127.0.0.1:1", refused)); ok {
		t.Fatal("refusal after an answer judged unreachable")
	}
	if _, ok := Unreachable(ff.judge("STS", "127.0.0.1:2", refused)); !ok {
		t.Fatal("another endpoint's refusal not judged unreachable")
	}
}

func TestFailFastUnreachableKeepsAnArmedContext(t *testing.T) {
	ctx := FailFastUnreachable(context.Background())
	ctx.Value(failFastKey{}).(*failFast).answered["x:1"] = true
	again := FailFastUnreachable(ctx)
	if !again.Value(failFastKey{}).(*failFast).answered["x:1"] {
		t.Fatal("re-arming forgot the endpoints that answered")
	}
}

func TestEndpointOf(t *testing.T) {
	u := func(s string) *url.URL { p, _ := url.Parse(s); return p }
	tests := []struct {
		req  any
		err  error
		want string
	}{
		{&smithyhttp.Request{Request: &http.Request{URL: u("http://127.0.0.1:4566/")}}, nil, "127.0.0.1:4566"},
		{&smithyhttp.Request{Request: &http.Request{URL: u("https://organizations.us-east-1.amazonaws.com/")}}, nil, "organizations.us-east-1.amazonaws.com:443"},
		{&smithyhttp.Request{Request: &http.Request{URL: u("http://localstack/")}}, nil, "localstack:80"},
		{&smithyhttp.Request{Request: &http.Request{URL: u("")}}, sendErr("[::1]:9", syscall.ECONNREFUSED), "[::1]:9"},
		{nil, &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 8}, Err: syscall.ECONNREFUSED}, "10.0.0.1:8"},
		{nil, errors.New("x"), ""},
	}
	for _, tt := range tests {
		if got := endpointOf(tt.req, tt.err); got != tt.want {
			t.Errorf("endpointOf(%v, %v) = %q, want %q", tt.req, tt.err, got, tt.want)
		}
	}
}
