package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/trigger"
)

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

// hubAt is the trigger's AWS wiring (awsconf with its retry policy and a
// RetryLog) pointed at endpoint, with the default 10 attempts.
func hubAt(t *testing.T, endpoint string, log *slog.Logger, maxBackoff time.Duration) (*awsconf.RetryLog, trigger.Finder, func(role string) trigger.Finder) {
	t.Helper()
	rl := awsconf.NewRetryLog(log)
	hub, err := awsconf.Load(context.Background(), awsconf.Options{
		Region: "us-east-1", Retries: rl, MaxBackoff: maxBackoff,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(endpoint),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	roles, err := awsconf.NewRoles(hub, awsconf.RoleOptions{SessionName: "configreport-trigger"})
	if err != nil {
		t.Fatal(err)
	}
	orgs := func(role string) trigger.Finder {
		c, err := discover.NewClient(hub, role, roles)
		if err != nil {
			t.Fatal(err)
		}
		return finder(t, c, discover.Config{Logger: log})
	}
	return rl, orgs(""), orgs
}

// A trigger pointed at an endpoint that cannot be reached fails within
// seconds, naming the endpoint, instead of retrying every call for two
// minutes.
func TestUnreachableEndpointFailsFast(t *testing.T) {
	addr := closedPort(t)
	tests := []struct {
		name     string
		endpoint string
		role     string
		accounts []ident.AccountID
		service  string
		want     string // endpoint named
		cause    string
	}{
		{"closed port", "http://" + addr, "", nil, "Organizations", addr, awserr.CauseConnectionRefused},
		{"closed port, org role", "http://" + addr, "arn:aws:iam::111111111111:role/list-org", nil, "STS", addr, awserr.CauseConnectionRefused},
		{"closed port, ad-hoc", "http://" + addr, "", []ident.AccountID{"111111111111"}, "Organizations", addr, awserr.CauseConnectionRefused},
		// .invalid never resolves (RFC 6761); the lookup fails at once here.
		{"no such host", "http://nonexistent.invalid:1", "", nil, "Organizations", "nonexistent.invalid:1", awserr.CauseNoSuchHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&log, nil))
			_, _, orgs := hubAt(t, tt.endpoint, logger, 0)
			rec := &recorder{next: discard{}}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			start := time.Now()
			_, err := trigger.Run(ctx, trigger.Config{Regions: regions, Accounts: tt.accounts}, trigger.Deps{
				Finder: orgs(tt.role), Publisher: rec, Logger: logger,
				Codec: events.Codec{Payloads: blob.Payloads{Store: blob.Folder{Dir: t.TempDir()}}, PayloadPrefix: "claims"},
			})
			el := time.Since(start)
			u, ok := awserr.Unreachable(err)
			if !ok {
				t.Fatalf("after %s: %v, want an unreachable endpoint", el, err)
			}
			if el > 5*time.Second {
				t.Errorf("failed after %s, want seconds at most", el)
			}
			if u.Endpoint != tt.want || u.Service != tt.service || u.Cause != tt.cause {
				t.Errorf("unreachable %+v, want %s endpoint %s: %s", u, tt.service, tt.want, tt.cause)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.want) || !strings.Contains(msg, "nothing published") {
				t.Errorf("error %q: want one line naming %s and saying nothing was published", msg, tt.want)
			}
			if len(rec.calls) != 0 {
				t.Errorf("published %d times", len(rec.calls))
			}
			// Any retry said so at warn, with its attempt.
			for _, l := range decode(t, &log) {
				if l["msg"] == "retrying AWS call" && (l["level"] != "WARN" || l["attempt"] == nil) {
					t.Errorf("retry line %v", l)
				}
			}
		})
	}
}

// While discovery retries, the progress lines say what it waits on.
func TestProgressSaysWhatItWaitsOn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"__type":"ServiceException","message":"try later"}`))
	}))
	defer srv.Close()
	var log bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&log, nil))
	rl, orgs, _ := hubAt(t, srv.URL, logger, 200*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := trigger.Run(ctx, trigger.Config{Regions: regions, ProgressInterval: 50 * time.Millisecond}, trigger.Deps{
		Finder: orgs, Publisher: discard{}, Logger: logger, Waiting: rl.Waiting,
		Codec: events.Codec{Payloads: blob.Payloads{Store: blob.Folder{Dir: t.TempDir()}}, PayloadPrefix: "claims"},
	})
	if err == nil || awserr.Attempts(err) != awsconf.DefaultMaxAttempts {
		t.Fatalf("%v after %d attempts, want %d attempts", err, awserr.Attempts(err), awsconf.DefaultMaxAttempts)
	}
	if _, ok := awserr.Unreachable(err); ok {
		t.Fatalf("an endpoint that answers 503 judged unreachable: %v", err)
	}
	var waited, retried bool
	for _, l := range decode(t, &log) {
		if w, _ := l["waiting_on"].(string); strings.HasPrefix(w, "organizations:ListRoots (retry ") && strings.HasSuffix(w, " after ServiceException)") {
			waited = true
		}
		if l["msg"] == "retrying AWS call" && l["level"] == "WARN" && l["operation"] == "organizations:ListRoots" && l["attempt"] == "2/10" && l["error_kind"] == "ServiceException" {
			retried = true
		}
	}
	if !waited || !retried {
		t.Errorf("progress says what it waits on: %v; first retry logged: %v\n%s", waited, retried, log.String())
	}
}

func decode(t *testing.T, buf *bytes.Buffer) []map[string]any {
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
