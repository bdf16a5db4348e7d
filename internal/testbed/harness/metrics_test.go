package harness

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGauge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP inflight Messages in flight.
# TYPE inflight gauge
inflight{queue="a"} 2
inflight{queue="b"} 1.5
inflight_total 100
emitted 3
emitted_other 7
bad{x="y"} notanumber
`)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		url, name string
		want      float64
	}{
		{srv.URL, "inflight", 3.5},     // every label set, not inflight_total
		{srv.URL, "emitted", 3},        // no labels, not emitted_other
		{srv.URL, "absent", 0},         // not exposed
		{srv.URL, "bad", 0},            // unparsable samples are skipped
		{"http://127.0.0.1:1", "x", 0}, // unreachable
	} {
		if got := Gauge(tc.url, tc.name); got != tc.want {
			t.Errorf("Gauge(%s, %s) = %v, want %v", tc.url, tc.name, got, tc.want)
		}
	}
}
