package benchlocal

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

func TestMedian(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3 * s}, 3 * s},
		{[]time.Duration{9 * s, 1 * s, 4 * s}, 4 * s},
		{[]time.Duration{4 * s, 1 * s, 2 * s, 9 * s}, 3 * s},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := median([]int64{5, 1, 3}); got != 3 {
		t.Errorf("median of int64s = %d, want 3", got)
	}
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		calls    int64
		latency  time.Duration
		c        int
		r        float64
		want     time.Duration
		wantTerm string
	}{
		{"latency bound", 9000, 20 * time.Millisecond, 64, 10000, 2812500 * time.Microsecond, "calls×latency÷C"},
		{"throughput bound", 9000, 20 * time.Millisecond, 64, 2000, 4500 * time.Millisecond, "calls÷R"},
		{"no R measured", 100, 10 * time.Millisecond, 10, 0, 100 * time.Millisecond, "calls×latency÷C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, term := limit(tc.calls, tc.latency, tc.c, tc.r)
			if got != tc.want || term != tc.wantTerm {
				t.Errorf("limit = %s (%s), want %s (%s)", got, term, tc.want, tc.wantTerm)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	s := time.Second
	peer := row{Name: "peer", C: 20, Wall: 100 * s, CPU: 60 * s}
	for _, tc := range []struct {
		name      string
		low, high row
		wantMet   [5]bool
	}{
		{"all met",
			row{Wall: 50 * s, CPU: 6 * s},
			row{C: 64, Wall: 12 * s, Limit: 10 * s, LatencyLimit: 10 * s, MaxInFlight: 64, Runs: make([]sample, 3)},
			[5]bool{true, true, true, true, true}},
		{"all missed",
			row{Wall: 51 * s, CPU: 6100 * time.Millisecond},
			row{C: 64, Wall: 13 * s, Limit: 10 * s, LatencyLimit: 10 * s, MaxInFlight: 65, Runs: make([]sample, 3)},
			[5]bool{false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := targets(tc.low, peer, tc.high)
			if len(vs) != len(tc.wantMet) {
				t.Fatalf("%d targets, want %d", len(vs), len(tc.wantMet))
			}
			for i, v := range vs {
				if v.Met != tc.wantMet[i] {
					t.Errorf("%s: met %v, want %v (%s)", v.Name, v.Met, tc.wantMet[i], v.Measured)
				}
			}
			var out bytes.Buffer
			printTable(&out, []row{tc.low, peer, tc.high}, vs)
			if !strings.Contains(out.String(), "| target | measured | bound | met |") {
				t.Errorf("table without targets:\n%s", out.String())
			}
		})
	}
}

// Local mode alone (-peer=false): issue 16's target is its wall against
// its own latency limit, calls × latency ÷ C, at most 1.25×, even when
// awssim's throughput makes the limit itself larger; the verdict shows the
// calls and the latency limit.
func TestLocalTargets(t *testing.T) {
	ms := time.Millisecond
	// 6,400 calls × 20 ms ÷ 64 = 2 s.
	for _, tc := range []struct {
		name          string
		wall, limit   time.Duration
		maxInFlight   int64
		wantMet       [3]bool
		wantLatencyOf string
	}{
		{"at 1.25x of the latency limit", 2500 * ms, 2 * time.Second, 64, [3]bool{false, true, true}, "1.25× (2.50 s vs 6400 calls × 20ms ÷ 64 = 2.00 s)"},
		{"over 1.25x", 2520 * ms, 2 * time.Second, 64, [3]bool{false, false, true}, "1.26× (2.52 s vs 6400 calls × 20ms ÷ 64 = 2.00 s)"},
		{"throughput limit larger: still against the latency one", 2600 * ms, 2400 * ms, 65, [3]bool{true, false, false}, "1.30× (2.60 s vs 6400 calls × 20ms ÷ 64 = 2.00 s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := summarise("local -concurrency 64", 64, []sample{{Wall: tc.wall, Calls: 6400, MaxInFlight: tc.maxInFlight}}, 20*ms, 6400/tc.limit.Seconds())
			if r.LatencyLimit != 2*time.Second {
				t.Fatalf("latency limit %s, want 2 s", r.LatencyLimit)
			}
			vs := localTargets(r)
			if len(vs) != len(tc.wantMet) {
				t.Fatalf("%d targets, want %d", len(vs), len(tc.wantMet))
			}
			for i, v := range vs {
				if v.Met != tc.wantMet[i] {
					t.Errorf("%s: met %v, want %v (%s)", v.Name, v.Met, tc.wantMet[i], v.Measured)
				}
			}
			if vs[1].Measured != tc.wantLatencyOf || vs[1].Bound != "≤ 1.25×" {
				t.Errorf("latency target measured %q bound %q, want %q ≤ 1.25×", vs[1].Measured, vs[1].Bound, tc.wantLatencyOf)
			}
		})
	}
}

func TestLastLine(t *testing.T) {
	if got := lastLine("a\nout/x.xlsx\n\n"); got != "out/x.xlsx" {
		t.Errorf("lastLine = %q", got)
	}
}

func TestCheckPeer(t *testing.T) {
	tr := truth{Active: []string{"111111111111", "222222222222"}, Findings: 7}
	good := peerSummary{Scanned: []string{"222222222222", "111111111111"}, Findings: 7}
	if err := checkPeer(good, tr); err != nil {
		t.Errorf("good summary: %v", err)
	}
	missing := good
	missing.Scanned = []string{"111111111111"}
	short := good
	short.Findings = 6
	failed := good
	failed.Errors = append(failed.Errors, struct{ Account, Region, Error string }{"111111111111", "us-east-1", "boom"})
	for name, s := range map[string]peerSummary{"missing account": missing, "short findings": short, "errors": failed} {
		if err := checkPeer(s, tr); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Without the peer, neither python nor the peer's script is needed.
func TestConfigValidateNoPeer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		noPeer  bool
		wantErr []string
	}{
		{"with the peer", false, []string{"python", "peer"}},
		{"local mode alone", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{AwssimBin: bin, LocalBin: bin, Python: filepath.Join(dir, "nopython"), PeerPy: filepath.Join(dir, "nopeer.py"), Runs: 1, NoPeer: tc.noPeer}
			c.setDefaults()
			err := c.Validate()
			if (err != nil) != (len(tc.wantErr) > 0) {
				t.Fatalf("Validate() = %v, want errors %v", err, tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	c.AwssimBin = "/nonexistent/awssim"
	c.Runs = -1
	c.Trace = "x"
	c.setDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"awssim", "runs", "trace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// inProcessSim serves a generated org over loopback, as the awssim binary
// does, for the pieces of the harness that talk to it.
func inProcessSim(t *testing.T, accounts int, latency time.Duration) (*simProc, truth) {
	t.Helper()
	regions := []string{"us-east-1", "ap-east-1"}
	tr, err := groundTruth(accounts, 1, regions)
	if err != nil {
		t.Fatal(err)
	}
	s, err := awssim.New(awssim.Config{Org: tr.org, Latency: latency, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &simProc{Endpoint: srv.URL, client: &http.Client{Timeout: 10 * time.Second}}, tr
}

func TestMeasureRate(t *testing.T) {
	sim, tr := inProcessSim(t, 5, 0)
	r, err := measureRate(context.Background(), sim, tr.org, []string{"us-east-1", "ap-east-1"}, 4, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls == 0 || r.Failed != 0 {
		t.Errorf("rate: %d calls, %d failed", r.Calls, r.Failed)
	}
	if r.MaxInFlight < 1 || r.MaxInFlight > 4 {
		t.Errorf("max_in_flight %d with 4 workers", r.MaxInFlight)
	}
	if r.PerSecond() <= 0 {
		t.Errorf("rate %f", r.PerSecond())
	}
}

// TestPeer runs bench/peer/peer.py against a small org and checks its
// summary against the org: the peer must do the same job as local mode.
func TestPeer(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import boto3").Run(); err != nil {
		t.Skip("Debian's python3-boto3 is not installed (make bench-local installs it)")
	}
	sim, tr := inProcessSim(t, 6, 0)
	summary := filepath.Join(t.TempDir(), "peer.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "../../../bench/peer/peer.py", "--threads", "3", "--regions", "us-east-1,ap-east-1",
		"--endpoint", sim.Endpoint, "--summary", summary)
	cmd.Env = harness.SimClientEnv(os.Environ(), sim.Endpoint)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
	ps, err := readPeerSummary(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPeer(ps, tr); err != nil {
		t.Error(err)
	}
	st, err := sim.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.OpCalls("AssumeRole"); got != int64(len(tr.Active)) {
		t.Errorf("peer assumed a role %d times, want once per ACTIVE account (%d)", got, len(tr.Active))
	}
}

func TestTimelinePrint(t *testing.T) {
	tl := &timeline{samples: []tick{{at: 0}, {at: time.Second, org: 2, sts: 3, cfg: 45, total: 50}}}
	var out bytes.Buffer
	tl.print(&out, 20*time.Millisecond)
	if !strings.Contains(out.String(), "| 1.00 | 2 | 3 | 45 | 1.0 |") {
		t.Errorf("timeline:\n%s", out.String())
	}
}
