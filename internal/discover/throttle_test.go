package discover_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/discover/discovertest"
)

// throttler answers every third Organizations request with the error AWS
// Organizations gives beyond its request rate, before awssim sees it.
type throttler struct {
	next      http.Handler
	n, denied atomic.Int64
}

func (h *throttler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AWSOrganizationsV20161128.") && h.n.Add(1)%3 == 0 {
		h.denied.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"TooManyRequestsException","Type":"ACCOUNT","Message":"You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later."}`))
		return
	}
	h.next.ServeHTTP(w, r)
}

// TestWalkAbsorbsThrottling: Organizations' TooManyRequestsException is a
// throttling error the SDK's retryer retries; the walk loses nothing.
func TestWalkAbsorbsThrottling(t *testing.T) {
	env := discovertest.New(t, 500)
	th := &throttler{next: env.Sim}
	srv := httptest.NewServer(th)
	t.Cleanup(srv.Close)
	cfg := env.Hub.Copy()
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(discovertest.FastRetryer(), 10) }
	api := organizations.NewFromConfig(cfg, func(o *organizations.Options) { o.BaseEndpoint = aws.String(srv.URL) })

	got, _, err := newWalker(t, api, discover.Config{}).List(discovertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, got, want(env, nil))
	if th.denied.Load() == 0 {
		t.Fatal("nothing was throttled: the test proves nothing")
	}
}
