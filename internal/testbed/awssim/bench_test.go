package awssim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Throughput benchmarks: awssim must never be what limits a scan benchmark.
// They print req/s; figures and commands are in docs/BENCHMARKS.md.

func benchSim(b *testing.B, accounts int) (*Sim, *httptest.Server) {
	b.Helper()
	o, err := Generate(GenConfig{Accounts: accounts, Seed: 1, Regions: []string{"us-east-1", "eu-west-1", "ap-southeast-2", "ap-east-1"}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Org: o, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	return s, srv
}

// presigned is one Config request signed once with a session awssim issued
// and replayed (within the 15 minutes a signature stays valid), which keeps
// the client's share of the CPU small.
type presigned struct {
	header http.Header
	body   []byte
}

func presign(b *testing.B, s *Sim, srvURL string, n int) []presigned {
	b.Helper()
	org := s.Org()
	var reqs []presigned
	signer := v4.NewSigner()
	for _, a := range org.Accounts {
		if len(reqs) >= n {
			break
		}
		if a.Status != StatusActive {
			continue
		}
		ss := s.issue(a.ID, RoleRead, "bench", time.Hour)
		creds := aws.Credentials{AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token}
		for _, region := range a.Regions {
			rules := org.Rules(a.ID, region)
			calls := []struct{ op, body string }{
				{"DescribeConfigRules", `{}`},
				{"DescribeComplianceByConfigRule", `{}`},
				{"GetComplianceDetailsByConfigRule", fmt.Sprintf(`{"ConfigRuleName":%q,"ComplianceTypes":["NON_COMPLIANT"],"Limit":100}`, rules[0].Name)},
			}
			for _, c := range calls {
				reqs = append(reqs, signConfig(b, signer, creds, srvURL, region, c.op, c.body))
			}
		}
	}
	return reqs
}

// signConfig signs one Config call (op, JSON body) with a session's
// credentials, as the SDK would send it.
func signConfig(b *testing.B, signer *v4.Signer, creds aws.Credentials, srvURL, region, op, body string) presigned {
	b.Helper()
	r, _ := http.NewRequest(http.MethodPost, srvURL+"/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "StarlingDoveService."+op)
	r.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	if err := signer.SignHTTP(context.Background(), creds, r, hexSHA256([]byte(body)), "config", region, time.Now()); err != nil {
		b.Fatal(err)
	}
	return presigned{header: r.Header, body: []byte(body)}
}

// cpuMeter measures the CPU time this process spends (client and server,
// since both run here): on a shared machine wall-clock req/s depends on the
// neighbours' load, CPU per request does not.
type cpuMeter struct{ start time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuMeter {
	b.ResetTimer()
	return &cpuMeter{start: cpuTime()}
}

// report prints wall-clock req/s, the CPU per request, and the req/s that
// CPU cost allows on all the machine's cores.
func (m *cpuMeter) report(b *testing.B) {
	cpu := cpuTime() - m.start
	per := float64(cpu.Microseconds()) / float64(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(per, "cpu-µs/req")
	b.ReportMetric(float64(runtime.NumCPU())*1e6/per, "req/s@allcores")
}

// BenchmarkServeRawHTTP replays pre-signed Config requests over keep-alive
// connections from parallel clients: awssim's own throughput, SigV4
// verification included.
func BenchmarkServeRawHTTP(b *testing.B) {
	for _, conns := range []int{16, 1000} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			s, srv := benchSim(b, 5000)
			reqs := presign(b, s, srv.URL, 500)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
			defer client.CloseIdleConnections()
			var next, failed atomic.Int64
			b.SetParallelism(max(conns/runtime.GOMAXPROCS(0), 1))
			m := startCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p := reqs[int(next.Add(1))%len(reqs)]
					r, _ := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(p.body))
					r.Header = p.header.Clone()
					resp, err := client.Do(r)
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Add(1)
					}
				}
			})
			m.report(b)
			if failed.Load() > 0 {
				b.Errorf("%d of %d calls failed", failed.Load(), b.N)
			}
			b.ReportMetric(float64(s.Stats().MaxInFlight), "max_in_flight")
		})
	}
}

// BenchmarkServeSDK drives awssim with the real SDK client, as a scan does:
// both the clients and awssim share the machine's two cores.
func BenchmarkServeSDK(b *testing.B) {
	s, srv := benchSim(b, 5000)
	org := s.Org()
	type target struct {
		client *configservice.Client
		rule   string
	}
	var targets []target
	for _, a := range org.Accounts[1:51] {
		if a.Status != StatusActive {
			continue
		}
		ss := s.issue(a.ID, RoleRead, "bench", time.Hour)
		cfg := aws.Config{Region: "us-east-1", Retryer: noRetries,
			Credentials: static(aws.Credentials{AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token})}
		c := configservice.NewFromConfig(cfg, func(o *configservice.Options) { o.BaseEndpoint = aws.String(srv.URL) })
		targets = append(targets, target{c, org.Rules(a.ID, "us-east-1")[0].Name})
	}
	var next atomic.Int64
	b.SetParallelism(8)
	m := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(next.Add(1))
			t := targets[i%len(targets)]
			var err error
			if i%2 == 0 {
				_, err = t.client.DescribeComplianceByConfigRule(ctx, &configservice.DescribeComplianceByConfigRuleInput{})
			} else {
				_, err = t.client.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: &t.rule, Limit: 100})
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	m.report(b)
}

// BenchmarkHandler calls ServeHTTP directly: the handler's cost per call
// without any network.
func BenchmarkHandler(b *testing.B) {
	s, srv := benchSim(b, 5000)
	serveDirect(b, s, srv.URL, presign(b, s, srv.URL, 500))
}

// BenchmarkServeExternal replays pre-signed Config requests against an
// awssim running in its own process (AWSSIM_BENCH_URL, e.g.
// http://127.0.0.1:4566), so that the server's CPU can be told from the
// client's: with AWSSIM_BENCH_PID set it reads the server's CPU time from
// /proc and reports server-cpu-µs/req. Skipped without AWSSIM_BENCH_URL.
func BenchmarkServeExternal(b *testing.B) {
	url := os.Getenv("AWSSIM_BENCH_URL")
	if url == "" {
		b.Skip("AWSSIM_BENCH_URL not set")
	}
	ctx := context.Background()
	hub := aws.Config{Region: "us-east-1", Retryer: noRetries, Credentials: static(aws.Credentials{AccessKeyID: "AKIDHUB", SecretAccessKey: "hubsecret"})}
	orgs := organizations.NewFromConfig(hub, func(o *organizations.Options) { o.BaseEndpoint = aws.String(url) })
	stsc := sts.NewFromConfig(hub, func(o *sts.Options) { o.BaseEndpoint = aws.String(url) })
	var accounts []string
	for p := organizations.NewListAccountsPaginator(orgs, &organizations.ListAccountsInput{}); p.HasMorePages() && len(accounts) < 40; {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range page.Accounts {
			if a.Status == "ACTIVE" {
				accounts = append(accounts, aws.ToString(a.Id))
			}
		}
	}
	signer := v4.NewSigner()
	var reqs []presigned
	for _, id := range accounts {
		out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + id + ":role/" + RoleRead), RoleSessionName: aws.String("bench")})
		if err != nil {
			b.Fatal(err)
		}
		creds := aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey), SessionToken: aws.ToString(out.Credentials.SessionToken)}
		cfg := hub.Copy()
		cfg.Credentials = static(creds)
		rules, err := configservice.NewFromConfig(cfg, func(o *configservice.Options) { o.BaseEndpoint = aws.String(url) }).DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
		if err != nil || len(rules.ConfigRules) == 0 {
			b.Fatalf("rules of %s: %v", id, err)
		}
		for _, c := range []struct{ op, body string }{
			{"DescribeConfigRules", `{}`},
			{"DescribeComplianceByConfigRule", `{}`},
			{"GetComplianceDetailsByConfigRule", fmt.Sprintf(`{"ConfigRuleName":%q,"ComplianceTypes":["NON_COMPLIANT"],"Limit":100}`, aws.ToString(rules.ConfigRules[0].ConfigRuleName))},
		} {
			r, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", "StarlingDoveService."+c.op)
			r.Header.Set("X-Amz-Security-Token", creds.SessionToken)
			if err := signer.SignHTTP(ctx, creds, r, hexSHA256([]byte(c.body)), "config", "us-east-1", time.Now()); err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, presigned{header: r.Header, body: []byte(c.body)})
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var next, failed atomic.Int64
	serverStart := procCPU(b)
	b.SetParallelism(16)
	m := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := reqs[int(next.Add(1))%len(reqs)]
			r, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(p.body))
			r.Header = p.header.Clone()
			resp, err := client.Do(r)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
			}
		}
	})
	m.report(b)
	if serverStart >= 0 {
		per := float64((procCPU(b) - serverStart).Microseconds()) / float64(b.N)
		b.ReportMetric(per, "server-cpu-µs/req")
		b.ReportMetric(float64(runtime.NumCPU())*1e6/per, "server-req/s@allcores")
	}
	if failed.Load() > 0 {
		b.Errorf("%d of %d calls failed", failed.Load(), b.N)
	}
}

// procCPU is the CPU time of process AWSSIM_BENCH_PID from /proc, or -1.
func procCPU(b *testing.B) time.Duration {
	pid := os.Getenv("AWSSIM_BENCH_PID")
	if pid == "" {
		return -1
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}

// BenchmarkHandlerScanOrder calls ServeHTTP with a scan's Config calls in
// the order a paced fleet makes them: a thousand account-regions in
// progress at once, one call of each in turn (at one call per second per
// account-region, as -throttle-rps 1 admits), over 4,000 account-regions,
// more than the rule cache holds. Each account-region is asked
// DescribeConfigRules, DescribeComplianceByConfigRule,
// DescribeConfigurationRecorderStatus and GetComplianceDetailsByConfigRule
// for each NON_COMPLIANT rule. BenchmarkHandler replays 500 calls of 42
// account-regions, which never leave the cache.
func BenchmarkHandlerScanOrder(b *testing.B) {
	s, srv := benchSim(b, 5000)
	serveDirect(b, s, srv.URL, presignScanOrder(b, s, srv.URL, 4000, 1000))
}

// serveDirect replays reqs through s.ServeHTTP, round robin, from
// parallel goroutines, reporting CPU per request.
func serveDirect(b *testing.B, s *Sim, srvURL string, reqs []presigned) {
	host := strings.TrimPrefix(srvURL, "http://")
	var next atomic.Int64
	m := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := reqs[int(next.Add(1))%len(reqs)]
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(p.body))
			r.Host = host
			r.Header = p.header.Clone()
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Errorf("%d %s", w.Code, w.Body)
				return
			}
		}
	})
	m.report(b)
}

// presignScanOrder signs the Config calls of the first n account-regions
// (ACTIVE accounts, their regions in turn), interleaved as inFlight
// account-regions scanned at once would make them.
func presignScanOrder(b *testing.B, s *Sim, srvURL string, n, inFlight int) []presigned {
	b.Helper()
	org := s.Org()
	signer := v4.NewSigner()
	var queues [][]presigned // per account-region, its calls in order
	for _, a := range org.Accounts {
		if len(queues) >= n {
			break
		}
		if a.Status != StatusActive {
			continue
		}
		ss := s.issue(a.ID, RoleRead, "bench", time.Hour)
		creds := aws.Credentials{AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token}
		for _, region := range a.Regions {
			calls := []struct{ op, body string }{
				{"DescribeConfigRules", `{}`},
				{"DescribeComplianceByConfigRule", `{}`},
				{"DescribeConfigurationRecorderStatus", `{}`},
			}
			for _, r := range org.Rules(a.ID, region) {
				if r.Compliance() == NonCompliant {
					calls = append(calls, struct{ op, body string }{"GetComplianceDetailsByConfigRule", fmt.Sprintf(`{"ConfigRuleName":%q,"ComplianceTypes":["NON_COMPLIANT"],"Limit":100}`, r.Name)})
				}
			}
			var q []presigned
			for _, c := range calls {
				q = append(q, signConfig(b, signer, creds, srvURL, region, c.op, c.body))
			}
			queues = append(queues, q)
		}
	}
	// Round robin over a window of inFlight account-regions; one that is
	// done makes room for the next.
	var out []presigned
	window, nextQ := []int{}, 0
	for len(window) > 0 || nextQ < len(queues) {
		for len(window) < inFlight && nextQ < len(queues) {
			window = append(window, nextQ)
			nextQ++
		}
		kept := window[:0]
		for _, qi := range window {
			out = append(out, queues[qi][0])
			if queues[qi] = queues[qi][1:]; len(queues[qi]) > 0 {
				kept = append(kept, qi)
			}
		}
		window = kept
	}
	return out
}
