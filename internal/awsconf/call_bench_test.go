package awsconf

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkConfigCall is one Config call of a scan (the recorder status of
// an account-region, answered at once by an in-process awssim) through the
// plain SDK's configuration and through Load's, with the RetryLog and its
// metrics as the scanner has them: what awsconf's middleware (retry log,
// wire mark, call slot, pacer, attempt count, fail-fast) adds per call.
// allocs/op is the steady figure on a shared machine:
//
//	go test -run '^$' -bench ConfigCall -benchmem ./internal/awsconf/
func BenchmarkConfigCall(b *testing.B) {
	url, roles, _ := throttledSim(b, 4, 0, 0)
	// The read role's session, assumed once: both clients sign with it.
	rs, err := NewRoles(load(b, url, Options{}), RoleOptions{SessionName: "configreport-bench"})
	if err != nil {
		b.Fatal(err)
	}
	session, err := rs.Credentials(roles[0]).Retrieve(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	creds := credentials.StaticCredentialsProvider{Value: session}
	cases := []struct {
		name string
		cfg  func() aws.Config
	}{
		{"plain-sdk", func() aws.Config {
			cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
				config.WithBaseEndpoint(url))
			if err != nil {
				b.Fatal(err)
			}
			return cfg
		}},
		{"awsconf", func() aws.Config {
			rl, err := NewRetryLog(slog.New(slog.NewTextHandler(io.Discard, nil))).Count(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			return load(b, url, Options{Retries: rl})
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			client := configservice.NewFromConfig(c.cfg(), func(o *configservice.Options) { o.Credentials = creds })
			ctx := WithCallPriority(context.Background(), 1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
