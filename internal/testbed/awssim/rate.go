// This file is awssim's client side for the harnesses. MeasureRate
// measures R, awssim's own throughput at zero latency on this
// machine, now: a term of the limit the local-mode benchmark
// (internal/testbed/benchlocal) and the load harness (internal/testbed/load)
// report. FetchStats and ResetStats are the harnesses' one client of
// awssim's counters (/_sim/stats).
//
// MeasureRate signs the Config calls a scan makes once, with read-role
// sessions awssim issued, and replays them over keep-alive connections from
// many goroutines. Replaying (no re-signing, no SDK deserialisation) keeps
// the client's CPU small, so on a machine shared by client and server the
// figure is close to what awssim alone can answer: the method of
// BenchmarkServeRawHTTP. A SigV4 signature is valid for 15 minutes, far
// longer than a window.

package awssim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// rateReadRole is the role a scan assumes in each account.
const rateReadRole = "system-config-report-generator-read-role"

// rateMaxAccounts bounds the sessions made: the calls cycle over them.
const rateMaxAccounts = 10

// RateConfig says what to measure against.
type RateConfig struct {
	Endpoint string // awssim's base URL, serving nobody else
	Org      *Org   // the org it serves (its ACTIVE accounts and their rules)
	Regions  []string
	Workers  int           // goroutines replaying calls (default 64)
	Window   time.Duration // how long the window lasts (default 5s)
	// BeforeWindow runs after every connection is warm and before the
	// window opens (benchlocal resets awssim's stats there). Optional.
	BeforeWindow func(context.Context) error
}

// RateResult is one measurement.
type RateResult struct {
	Calls   int64         // answered 200 during the window
	Failed  int64         // any other outcome
	Elapsed time.Duration // the window
	Workers int
}

// PerSecond is R.
func (r RateResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

type signedCall struct {
	header http.Header
	body   []byte
}

// MeasureRate signs the calls, warms awssim (every call once: connections,
// its per-account-region caches) and replays them for the window. A call
// refused during warm-up is an error (a broken setup); during the window
// it is counted in Failed, for the caller to judge.
func MeasureRate(ctx context.Context, cfg RateConfig) (RateResult, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Window <= 0 {
		cfg.Window = 5 * time.Second
	}
	if cfg.Org == nil || len(cfg.Regions) == 0 {
		return RateResult{}, errors.New("rate: an org and at least one region are required")
	}
	calls, err := signRateCalls(ctx, cfg)
	if err != nil {
		return RateResult{}, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Workers, MaxConnsPerHost: cfg.Workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	do := func(c signedCall) bool {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Endpoint+"/", bytes.NewReader(c.body))
		if err != nil {
			return false
		}
		r.Header = c.header.Clone()
		resp, err := client.Do(r)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for _, c := range calls {
		if !do(c) {
			return RateResult{}, fmt.Errorf("rate: a signed Config call (%s) was refused during warm-up (see awssim's log)", c.header.Get("X-Amz-Target"))
		}
	}
	if cfg.BeforeWindow != nil {
		if err := cfg.BeforeWindow(ctx); err != nil {
			return RateResult{}, err
		}
	}
	var ok, failed, next atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if do(calls[int(next.Add(1)-1)%len(calls)]) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	select {
	case <-time.After(cfg.Window):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	res := RateResult{Calls: ok.Load(), Failed: failed.Load(), Elapsed: time.Since(start), Workers: cfg.Workers}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Calls == 0 {
		return res, errors.New("rate: no call answered during the window")
	}
	return res, nil
}

// signRateCalls assumes the read role in up to rateMaxAccounts ACTIVE accounts (as any
// hub key: awssim accepts a non-ASIA key as the hub) and signs, per account
// and region, the three Config calls of a scan.
func signRateCalls(ctx context.Context, cfg RateConfig) ([]signedCall, error) {
	hub := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")}
	stsc := sts.NewFromConfig(hub, func(o *sts.Options) { o.BaseEndpoint = aws.String(cfg.Endpoint) })
	signer := v4.NewSigner()
	var calls []signedCall
	accounts := 0
	for _, a := range cfg.Org.Accounts {
		if a.Status != StatusActive {
			continue
		}
		if accounts == rateMaxAccounts {
			break
		}
		accounts++
		out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String("arn:aws:iam::" + a.ID + ":role/" + rateReadRole),
			RoleSessionName: aws.String("measure-rate"),
		})
		if err != nil {
			return nil, fmt.Errorf("rate: assume the read role in %s: %w", a.ID, err)
		}
		creds := aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId),
			SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey), SessionToken: aws.ToString(out.Credentials.SessionToken)}
		for _, region := range cfg.Regions {
			rule := "none"
			if rules := cfg.Org.Rules(a.ID, region); len(rules) > 0 {
				rule = rules[0].Name
			}
			for _, c := range []struct{ op, body string }{
				{"DescribeConfigRules", `{}`},
				{"DescribeComplianceByConfigRule", `{}`},
				{"GetComplianceDetailsByConfigRule", fmt.Sprintf(`{"ConfigRuleName":%q,"ComplianceTypes":["NON_COMPLIANT"],"Limit":100}`, rule)},
			} {
				r, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Endpoint+"/", strings.NewReader(c.body))
				if err != nil {
					return nil, err
				}
				r.Header.Set("Content-Type", "application/x-amz-json-1.1")
				r.Header.Set("X-Amz-Target", "StarlingDoveService."+c.op)
				r.Header.Set("X-Amz-Security-Token", creds.SessionToken)
				sum := sha256.Sum256([]byte(c.body))
				if err := signer.SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), "config", region, time.Now()); err != nil {
					return nil, fmt.Errorf("rate: sign: %w", err)
				}
				calls = append(calls, signedCall{header: r.Header, body: []byte(c.body)})
			}
		}
	}
	if len(calls) == 0 {
		return nil, errors.New("rate: no ACTIVE account to sign calls for")
	}
	return calls, nil
}

// FetchStats reads awssim's counters (GET /_sim/stats).
func FetchStats(ctx context.Context, c *http.Client, endpoint string) (Stats, error) {
	var s Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/_sim/stats", nil)
	if err != nil {
		return s, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, fmt.Errorf("awssim stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("awssim stats: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("awssim stats: %w", err)
	}
	return s, nil
}

// ResetStats zeroes awssim's counters (POST /_sim/stats/reset).
func ResetStats(ctx context.Context, c *http.Client, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/_sim/stats/reset", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("awssim stats reset: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("awssim stats reset: HTTP %d", resp.StatusCode)
	}
	return nil
}
