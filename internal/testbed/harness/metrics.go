package harness

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Gauge sums the samples of a Prometheus metric (a gauge or a counter, all
// its label sets) at a /metrics URL: 0 when unreachable or absent, because
// the suites poll it while services start, die and restart.
func Gauge(url, name string) float64 {
	resp, err := (&http.Client{Timeout: time.Second}).Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
