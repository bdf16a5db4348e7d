package scan

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// scanAll scans every ACTIVE account of the sim's org concurrently, as a
// scanner handling many messages at once does.
func scanAll(t testing.TB, e *simEnv, regions []ident.Region) map[ident.AccountID]*events.AccountScanned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	out := map[ident.AccountID]*events.AccountScanned{}
	var wg sync.WaitGroup
	for _, id := range scannable(e.sim.Org()) {
		wg.Go(func() {
			res := e.scanner.ScanAccount(ctx, events.ScanRequested{RunID: "run-1", AccountID: id, Regions: regions})
			mu.Lock()
			out[id] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func TestScanAgainstGroundTruth(t *testing.T) {
	regions := []ident.Region{"us-east-1", "ap-east-1"}
	tests := []struct {
		name  string
		sim   awssim.Config
		opts  envOpts
		exact bool // no transient faults: call counts are exact
		check func(t *testing.T, st awssim.Stats)
	}{
		{name: "clean org", sim: awssim.Config{}, opts: envOpts{concurrency: 8}, exact: true},
		{name: "denied accounts and failing regions", sim: awssim.Config{Deny: 2, FailRegions: 3}, opts: envOpts{concurrency: 8}, exact: true},
		{name: "disabled regions and recorders not recording", sim: awssim.Config{Deny: 1, FailRegions: 1, DisabledRegions: 2, NotRecording: 3},
			opts: envOpts{concurrency: 8}, exact: true,
			check: func(t *testing.T, st awssim.Stats) {
				if st.Calls["DescribeRegions"] == nil || st.Calls["DescribeConfigurationRecorderStatus"] == nil {
					t.Error("no DescribeRegions or recorder status calls")
				}
			}},
		{name: "recorders and disabled regions under transient faults", sim: awssim.Config{ErrorRate: 0.2, DisabledRegions: 2, NotRecording: 2},
			opts: envOpts{concurrency: 8}},
		{name: "throttling absorbed by adaptive retry", sim: awssim.Config{ThrottleRPS: 2, Deny: 1, FailRegions: 1}, opts: envOpts{concurrency: 8},
			check: func(t *testing.T, st awssim.Stats) {
				if st.Throttled == 0 {
					t.Error("awssim throttled nothing: the test does not exercise throttling")
				}
			}},
		{name: "error rate absorbed", sim: awssim.Config{ErrorRate: 0.2, Deny: 1, FailRegions: 2}, opts: envOpts{concurrency: 8},
			check: func(t *testing.T, st awssim.Stats) {
				if st.Errors == 0 {
					t.Error("awssim failed no call: the test does not exercise transient faults")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.sim
			cfg.Org = generated(t, 8, 11)
			e := newEnv(t, cfg, tt.opts)
			results := scanAll(t, e, regions)
			if len(results) != len(scannable(e.sim.Org())) {
				t.Fatalf("%d results for %d accounts", len(results), len(scannable(e.sim.Org())))
			}
			skipped, notRecording := 0, 0
			for _, res := range results {
				checkResult(t, e.sim, regions, res, tt.exact)
				for _, c := range res.Coverage {
					if c.Read == events.ReadSkipped {
						skipped++
					}
				}
				for _, se := range res.Errors {
					if se.Stage == events.StageRecorder {
						notRecording++
					}
				}
			}
			// The picks are exercised: every one shows.
			if skipped != tt.sim.DisabledRegions || notRecording != tt.sim.NotRecording {
				t.Errorf("%d regions skipped, %d recorder errors; awssim picked %d and %d", skipped, notRecording, tt.sim.DisabledRegions, tt.sim.NotRecording)
			}
			st := e.sim.Stats()
			if st.MaxInFlight > int64(tt.opts.concurrency) {
				t.Errorf("max in flight %d > concurrency %d", st.MaxInFlight, tt.opts.concurrency)
			}
			if tt.check != nil {
				tt.check(t, st)
			}
			t.Logf("calls %d, throttled %d, errors %d, max in flight %d", st.Total, st.Throttled, st.Errors, st.MaxInFlight)
		})
	}
}

// TestOrgFile scans an explicit organisation: custom rules, a rule never
// evaluated, NOT_APPLICABLE results, more rules than one page of
// DescribeConfigRules (25) and more results than one page of details (100),
// the management account, and regions the account has no rules in.
func TestOrgFile(t *testing.T) {
	org := orgFile(t)
	e := newEnv(t, awssim.Config{Org: org}, envOpts{concurrency: 4})
	regions := []ident.Region{"us-east-1", "eu-west-1", "ap-east-1"}
	results := scanAll(t, e, regions)
	for _, res := range results {
		checkResult(t, e.sim, regions, res, true)
	}
	big := results["222222222222"]
	if big == nil || big.Status != events.StatusOK {
		t.Fatalf("payments account: %+v", big)
	}
	byName := map[string]events.Rule{}
	for _, r := range big.Rules {
		byName[string(r.Region)+"/"+r.Name] = r
	}
	if r := byName["us-east-1/never-evaluated"]; r.Compliance != events.InsufficientData {
		t.Errorf("rule without compliance: %+v, want INSUFFICIENT_DATA", r)
	}
	if r := byName["us-east-1/custom-tagging"]; r.Owner != "CUSTOM_LAMBDA" || r.Compliance != events.NonCompliant {
		t.Errorf("custom rule: %+v", r)
	}
	if r := byName["us-east-1/many-buckets"]; r.NoncompliantCount != 250 {
		t.Errorf("rule with 250 NON_COMPLIANT results counted %d", r.NoncompliantCount)
	}
	if n := e.sim.Stats().Calls["GetComplianceDetailsByConfigRule"]["222222222222"]; n != 3+1 {
		t.Errorf("%d GetComplianceDetailsByConfigRule calls, want 4 (3 pages of 100 for 250 results, 1 for the custom rule)", n)
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, conc := range []int{1, 3} {
		cfg := awssim.Config{Org: generated(t, 16, 5), Latency: 4 * time.Millisecond}
		e := newEnv(t, cfg, envOpts{concurrency: conc})
		scanAll(t, e, nil)
		st := e.sim.Stats()
		if st.MaxInFlight > int64(conc) {
			t.Errorf("concurrency %d: awssim saw %d calls in flight", conc, st.MaxInFlight)
		}
		if st.MaxInFlight < int64(conc) {
			t.Errorf("concurrency %d: awssim saw at most %d calls in flight: the pool is not used fully", conc, st.MaxInFlight)
		}
	}
}

// TestSessionRefresh makes sessions outlive nothing: they last 2 s, the
// scan of each account-region is slow (latency) and runs through several
// sessions; the credentials cache must assume the role again before
// expiry, and no call may fail with an expired token.
func TestSessionRefresh(t *testing.T) {
	cfg := awssim.Config{Org: generated(t, 3, 9), Latency: 150 * time.Millisecond, SessionTTL: 2 * time.Second}
	e := newEnv(t, cfg, envOpts{concurrency: 2, expiryWindow: 500 * time.Millisecond})
	regions := []ident.Region{"us-east-1", "ap-east-1"}
	results := scanAll(t, e, regions)
	assumes := int64(0)
	for id, res := range results {
		checkResult(t, e.sim, regions, res, true)
		assumes += e.sim.Stats().Calls["AssumeRole"][string(id)]
	}
	if assumes <= int64(len(results)) {
		t.Errorf("%d AssumeRole calls for %d accounts: no session was refreshed", assumes, len(results))
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsCarryNoSecrets scans with every kind of failure logged, at debug
// level, and checks that no key, secret or session token awssim issued (nor
// the hub's secret) appears in the logs, while the logs do say what failed.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, awssim.Config{Org: generated(t, 6, 4), Deny: 1, FailRegions: 1}, envOpts{concurrency: 4})
	e.scanner.log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	scanAll(t, e, nil)
	logs := buf.String()
	for _, want := range []string{`"msg":"account scanned"`, `"code":"AccessDenied"`, `"code":"UnrecognizedClientException"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	sessions := e.sim.Sessions()
	if len(sessions) == 0 {
		t.Fatal("awssim issued no session")
	}
	for _, s := range sessions {
		for _, secret := range []string{s.SecretAccessKey, s.SessionToken} {
			if strings.Contains(logs, secret) {
				t.Fatalf("a session secret of %s/%s is in the logs", s.Account, s.Role)
			}
		}
	}
	if strings.Contains(logs, "hubsecret") {
		t.Fatal("the hub's secret key is in the logs")
	}
}
