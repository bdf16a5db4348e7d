package awsconf

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
)

// BenchmarkAccountRegionUnderThrottle is the measurement behind the pacer
// (see the package comment): account-regions of an in-process awssim
// throttled at rps calls/s each (its bucket, like AWS's: rate rps, burst
// rps, starting full), 20 ms per call, each read by calls sequential Config
// calls on a client of its own (as the scanner does), once with the SDK's
// adaptive mode alone (what every client had before) and once with
// NewRetryer (paced). It prints the share of Config calls throttled and
// the seconds one account-region took against its floor, (calls - burst) /
// rps. Real time, so only a figure, never an assertion:
//
//	go test -run '^$' -bench AccountRegionUnderThrottle -benchtime 1x ./internal/awsconf/
func BenchmarkAccountRegionUnderThrottle(b *testing.B) {
	const accountRegions = 8
	modes := []struct {
		name    string
		retryer func() aws.Retryer // nil: Load's
	}{
		{"sdk-adaptive", func() aws.Retryer { return newAdaptive(DefaultMaxAttempts, DefaultMaxBackoff) }},
		{"paced", nil},
	}
	for _, rps := range []float64{1, 2} {
		for _, calls := range []int{8, 24} {
			for _, m := range modes {
				b.Run(fmt.Sprintf("rps=%g/calls=%d/%s", rps, calls, m.name), func(b *testing.B) {
					url, roles, counts := throttledSim(b, accountRegions+2, rps, 20*time.Millisecond)
					opts := Options{Region: "us-east-1"}
					if m.retryer != nil {
						opts.LoadOptions = append(opts.LoadOptions, config.WithRetryer(m.retryer))
					}
					hub := load(b, url, opts)
					rs, err := NewRoles(hub, RoleOptions{SessionName: "configreport-bench"})
					if err != nil {
						b.Fatal(err)
					}
					ctx := context.Background()
					var took time.Duration
					for b.Loop() {
						start := time.Now()
						var wg sync.WaitGroup
						for _, role := range roles[:accountRegions] {
							// A fresh client, as the scanner builds per account-region scan.
							client := configservice.NewFromConfig(rs.Config(hub, role))
							wg.Go(func() {
								for range calls {
									if _, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
										b.Error(err)
										return
									}
								}
							})
						}
						wg.Wait()
						took += time.Since(start)
					}
					n, thr := counts()
					burst := max(rps, 1)
					b.ReportMetric(100*float64(thr)/float64(n), "%throttled")
					b.ReportMetric(took.Seconds()/float64(b.N), "s/account-region")
					b.ReportMetric((float64(calls)-burst)/rps, "floor-s")
				})
			}
		}
	}
}
