package benchlocal

import (
	"context"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// rateResult is awssim's own throughput at zero latency on this machine,
// now (R in the limit), with awssim's max_in_flight over the window as a
// control: at most the workers.
type rateResult struct {
	awssim.RateResult
	MaxInFlight int64
}

// measureRate measures R on sim (awssim.MeasureRate), which must be serving
// nobody else: its stats are reset when the window opens and read after.
func measureRate(ctx context.Context, sim *simProc, org *awssim.Org, regions []string, workers int, d time.Duration) (rateResult, error) {
	r, err := awssim.MeasureRate(ctx, awssim.RateConfig{Endpoint: sim.Endpoint, Org: org, Regions: regions,
		Workers: workers, Window: d, BeforeWindow: sim.ResetStats})
	if err != nil {
		return rateResult{RateResult: r}, err
	}
	st, err := sim.Stats(ctx)
	if err != nil {
		return rateResult{RateResult: r}, err
	}
	return rateResult{RateResult: r, MaxInFlight: st.MaxInFlight}, nil
}
