package benchlocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// rateResult is awssim's own throughput at zero latency on this machine,
// now: R in the limit.
type rateResult struct {
	Calls       int64         // answered 200 during the window
	Failed      int64         // any other outcome
	Elapsed     time.Duration // the measuring window
	Workers     int
	MaxInFlight int64 // awssim's max_in_flight over the window: a control, at most Workers
}

func (r rateResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// signedCall is one Config request signed once with a read-role session
// awssim issued; replayed within the 15 minutes a SigV4 signature is valid.
// Replaying keeps the client's CPU small (no signing, no SDK
// deserialisation), so on a machine shared by client and server the figure
// is close to what awssim alone can answer: the method of
// internal/awssim's BenchmarkServeRawHTTP.
type signedCall struct {
	header http.Header
	body   []byte
}

// measureRate assumes the read role in up to 10 accounts of the awssim at
// endpoint, signs the Config calls a scan makes (DescribeConfigRules,
// DescribeComplianceByConfigRule, GetComplianceDetailsByConfigRule), and
// replays them from workers goroutines over keep-alive connections for d.
// It reads awssim's counters, so sim must be serving nobody else.
func measureRate(ctx context.Context, sim *simProc, accounts []string, regions []string, rule func(account, region string) string, workers int, d time.Duration) (rateResult, error) {
	hub := aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")}
	stsc := sts.NewFromConfig(hub, func(o *sts.Options) { o.BaseEndpoint = aws.String(sim.Endpoint) })
	signer := v4.NewSigner()
	var calls []signedCall
	for i, acct := range accounts {
		if i == 10 {
			break
		}
		out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String("arn:aws:iam::" + acct + ":role/" + readRole),
			RoleSessionName: aws.String("benchlocal-rate"),
		})
		if err != nil {
			return rateResult{}, fmt.Errorf("rate: assume read role in %s: %w", acct, err)
		}
		creds := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId,
			SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
		for _, region := range regions {
			for _, c := range []struct{ op, body string }{
				{"DescribeConfigRules", `{}`},
				{"DescribeComplianceByConfigRule", `{}`},
				{"GetComplianceDetailsByConfigRule", fmt.Sprintf(`{"ConfigRuleName":%q,"ComplianceTypes":["NON_COMPLIANT"],"Limit":100}`, rule(acct, region))},
			} {
				r, _ := http.NewRequest(http.MethodPost, sim.Endpoint+"/", strings.NewReader(c.body))
				r.Header.Set("Content-Type", "application/x-amz-json-1.1")
				r.Header.Set("X-Amz-Target", "StarlingDoveService."+c.op)
				r.Header.Set("X-Amz-Security-Token", creds.SessionToken)
				sum := sha256.Sum256([]byte(c.body))
				if err := signer.SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), "config", region, time.Now()); err != nil {
					return rateResult{}, fmt.Errorf("rate: sign: %w", err)
				}
				calls = append(calls, signedCall{header: r.Header, body: []byte(c.body)})
			}
		}
	}
	if len(calls) == 0 {
		return rateResult{}, fmt.Errorf("rate: no accounts to sign calls for")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	do := func(c signedCall) bool {
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.Endpoint+"/", bytes.NewReader(c.body))
		r.Header = c.header.Clone()
		resp, err := client.Do(r)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// Warm every connection and awssim's per-account-region rule cache
	// before the window opens.
	for _, c := range calls {
		if !do(c) {
			return rateResult{}, fmt.Errorf("rate: a signed Config call was refused (see awssim's log)")
		}
	}
	if err := sim.ResetStats(ctx); err != nil {
		return rateResult{}, err
	}
	var ok, failed, next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if do(calls[int(next.Add(1))%len(calls)]) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	st, err := sim.Stats(ctx)
	if err != nil {
		return rateResult{}, err
	}
	return rateResult{Calls: ok.Load(), Failed: failed.Load(), Elapsed: elapsed, Workers: workers, MaxInFlight: st.MaxInFlight}, ctx.Err()
}
