package awsconf

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const stsOp = "sts:GetCallerIdentity"

func stsError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>%s</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code)
}

func stsOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprint(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Account>111111111111</Account><Arn>arn:aws:iam::111111111111:user/x</Arn><UserId>x</UserId></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
}

// The counters see each attempt the SDK's retry loop makes, through a real
// client: retries by error kind, throttled attempts (retried or the last),
// and the calls that fail in the end.
func TestRetryLogCounts(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(i int, w http.ResponseWriter)
		wantErr   bool
		retries   map[string]float64 // error_kind -> retries
		throttled float64
		errors    map[string]float64
	}{
		{"ok at once", func(i int, w http.ResponseWriter) { stsOK(w) }, false, nil, 0, nil},
		{"throttled twice then ok", func(i int, w http.ResponseWriter) {
			if i < 2 {
				stsError(w, http.StatusBadRequest, "Throttling")
				return
			}
			stsOK(w)
		}, false, map[string]float64{"Throttling": 2}, 2, nil},
		{"throttled to the end", func(i int, w http.ResponseWriter) { stsError(w, http.StatusBadRequest, "Throttling") },
			true, map[string]float64{"Throttling": 2}, 3, map[string]float64{"Throttling": 1}},
		{"unavailable to the end", func(i int, w http.ResponseWriter) { stsError(w, http.StatusServiceUnavailable, "ServiceUnavailable") },
			true, map[string]float64{"ServiceUnavailable": 2}, 0, map[string]float64{"ServiceUnavailable": 1}},
		{"permanent, never retried", func(i int, w http.ResponseWriter) { stsError(w, http.StatusForbidden, "AccessDenied") },
			true, nil, 0, map[string]float64{"AccessDenied": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := jsonServer(t, tt.answer)
			reg := prometheus.NewPedanticRegistry()
			rl, err := NewRetryLog(slog.New(slog.DiscardHandler)).Count(reg)
			if err != nil {
				t.Fatal(err)
			}
			cfg := load(t, srv.URL, Options{MaxAttempts: 3, MaxBackoff: time.Millisecond, Retries: rl})
			_, err = sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			m := rl.metrics
			if got, want := testutil.CollectAndCount(m.retries), len(tt.retries); got != want {
				t.Errorf("%d retry series, want %d", got, want)
			}
			for kind, want := range tt.retries {
				if got := testutil.ToFloat64(m.retries.WithLabelValues(stsOp, kind)); got != want {
					t.Errorf("retries{%s} = %v, want %v", kind, got, want)
				}
			}
			if got := testutil.ToFloat64(m.throttled.WithLabelValues(stsOp)); got != tt.throttled {
				t.Errorf("throttled = %v, want %v", got, tt.throttled)
			}
			if got, want := testutil.CollectAndCount(m.errors), len(tt.errors); got != want {
				t.Errorf("%d error series, want %d", got, want)
			}
			for kind, want := range tt.errors {
				if got := testutil.ToFloat64(m.errors.WithLabelValues(stsOp, kind)); got != want {
					t.Errorf("call_errors{%s} = %v, want %v", kind, got, want)
				}
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

// Two RetryLogs of one process (local mode) share the series.
func TestRetryLogCountTwice(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a, err := NewRetryLog(nil).Count(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRetryLog(nil).Count(reg)
	if err != nil {
		t.Fatal(err)
	}
	if a.metrics.errors != b.metrics.errors {
		t.Error("the second RetryLog has series of its own")
	}
}
