package local

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// syncBuffer is a progress writer safe for the progress goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hubAt is cmd/local's AWS wiring pointed at endpoint.
func hubAt(t *testing.T, endpoint string, maxBackoff time.Duration) (aws.Config, *awsconf.RetryLog) {
	t.Helper()
	rl := awsconf.NewRetryLog(quiet())
	hub, err := awsconf.Load(context.Background(), awsconf.Options{
		Region: "us-east-1", Concurrency: 16, Retries: rl, MaxBackoff: maxBackoff,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(endpoint),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return hub, rl
}

// Local mode pointed at a closed port or a host that does not exist
// fails in seconds, naming the endpoint.
func TestLocalUnreachableEndpointFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, tt := range []struct{ endpoint, want string }{
		{"http://" + addr, addr},
		{"http://nonexistent.invalid:1", "nonexistent.invalid:1"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			hub, rl := hubAt(t, tt.endpoint, 0)
			cfg := baseConfig(t)
			cfg.Waiting = rl.Waiting
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			start := time.Now()
			_, err := Run(ctx, cfg, hub, &syncBuffer{}, quiet())
			u, ok := awserr.Unreachable(err)
			if !ok || u.Endpoint != tt.want {
				t.Fatalf("after %s: %v, want unreachable %s", time.Since(start), err, tt.want)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("failed after %s", el)
			}
		})
	}
}

// While discovery retries, local mode's progress line says what it waits
// on.
func TestLocalProgressSaysWhatItWaitsOn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"__type":"ServiceException","message":"try later"}`))
	}))
	defer srv.Close()
	hub, rl := hubAt(t, srv.URL, 300*time.Millisecond)
	cfg := baseConfig(t)
	cfg.ProgressInterval = 100 * time.Millisecond
	cfg.Waiting = rl.Waiting
	var progress syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg, hub, &progress, quiet()); err == nil {
		t.Fatal("no error from an organisation that answers 503")
	}
	found := false
	for _, l := range strings.Split(progress.String(), "\n") {
		if strings.HasPrefix(l, "discovering accounts for ") && strings.Contains(l, ", waiting on organizations:ListRoots (retry ") &&
			strings.HasSuffix(l, " after ServiceException)") {
			found = true
		}
	}
	if !found {
		t.Errorf("no progress line says what discovery waits on:\n%s", progress.String())
	}
}

func TestWaitingOn(t *testing.T) {
	tests := []struct {
		waiting func() string
		want    string
	}{
		{nil, ""},
		{func() string { return "" }, ""},
		{func() string { return "sts:AssumeRole (retry 2/10 after ConnectionError)" }, ", waiting on sts:AssumeRole (retry 2/10 after ConnectionError)"},
	}
	for _, tt := range tests {
		if got := waitingOn(tt.waiting); got != tt.want {
			t.Errorf("waitingOn = %q, want %q", got, tt.want)
		}
	}
}

// The scan phase's progress lines say what the AWS calls wait on too.
func TestLocalScanProgressSaysWhatItWaitsOn(t *testing.T) {
	e := newEnv(t, 3, 5, awssim.Config{})
	cfg := baseConfig(t)
	const waiting = "sts:AssumeRole (retry 2/10 after ConnectionError)"
	cfg.Waiting = func() string { return waiting }
	var progress syncBuffer
	if _, err := Run(context.Background(), cfg, e.hub, &progress, quiet()); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range strings.Split(progress.String(), "\n") {
		if strings.Contains(l, " accounts reported, ") && strings.HasSuffix(l, ", waiting on "+waiting) {
			found = true
		}
	}
	if !found {
		t.Errorf("no scan progress line says what the calls wait on:\n%s", progress.String())
	}
}
