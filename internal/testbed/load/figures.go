package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

// ramp is the time from the first sample above zero replicas to the first
// at the run's peak: what the Autoscaler's rules needed to get there.
func ramp(samples []Sample) time.Duration {
	var peak int32
	for _, s := range samples {
		peak = max(peak, s.Replicas)
	}
	var from time.Duration = -1
	for _, s := range samples {
		if s.Replicas > 0 && from < 0 {
			from = s.At
		}
		if s.Replicas == peak && from >= 0 {
			return s.At - from
		}
	}
	return 0
}

// duplicates reads the aggregator's configreport_aggregator_events_total
// with outcome="duplicate" (results it already had: redeliveries absorbed)
// from its /metrics; an absent series is an error, not zero.
func duplicates(ctx context.Context, url string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("aggregator metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return sumMetric(b, "configreport_aggregator_events_total", `outcome="duplicate"`)
}

// logLines decodes each JSON log line of the file at path as a T and
// calls each with it, until each returns false; lines that are not JSON
// are skipped.
func logLines[T any](path string, each func(T) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var l T
		if json.Unmarshal(sc.Bytes(), &l) == nil && !each(l) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// sumMetric sums the samples of a metric in Prometheus text format whose
// labels contain label; an absent metric is an error (a renamed series must
// not read as zero).
func sumMetric(text []byte, name, label string) (int64, error) {
	var sum float64
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		seen = true
		if !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	if !seen {
		return 0, fmt.Errorf("metric %s not exposed", name)
	}
	return int64(sum), nil
}

// scanLog is what the scanners' logs say about redelivery.
type scanLog struct {
	Rescans  int // scans beyond one per account
	Nacked   int // "message nacked for redelivery"
	Released int // abandoned at shutdown and released to the queue at once (msg.Settle)
	Deleted  int // finished after the subscription closed and deleted by msg.Settle
}

// scannerLogs counts, over every scanner's log, scans beyond one per
// account, messages nacked for redelivery, and messages settled at
// shutdown. The scanner logs "account scanned" when a scan ends, finished
// or abandoned (internal/scan logs it in a defer), so the first count is
// the deliveries that reached a scan beyond the first: the redeliveries,
// less those whose scanner was SIGKILLed mid-scan (it logs nothing).
func scannerLogs(logs string) (scanLog, error) {
	var out scanLog
	paths, err := filepath.Glob(filepath.Join(logs, "scanner-*.log"))
	if err != nil {
		return out, err
	}
	scans := map[string]int{}
	total := 0
	for _, p := range paths {
		err := logLines(p, func(l struct {
			Msg       string `json:"msg"`
			AccountID string `json:"account_id"`
			RunID     string `json:"run_id"`
		}) bool {
			switch l.Msg {
			case "account scanned":
				scans[l.RunID+"/"+l.AccountID]++
				total++
			case "message nacked for redelivery":
				out.Nacked++
			case "message abandoned while stopping, released to the queue":
				out.Released++
			case "message handled while stopping, deleted":
				out.Deleted++
			}
			return true
		})
		if err != nil {
			return out, err
		}
	}
	out.Rescans = total - len(scans)
	return out, nil
}

// judge counts the Summary table's rows (reported, lost, duplicate rows)
// and runs reportcheck against the org's ground truth.
func judge(res *Result, org *awssim.Org, regions []string) error {
	f, err := excelize.OpenFile(res.Workbook)
	if err != nil {
		return fmt.Errorf("open workbook: %w", err)
	}
	rows, err := f.GetRows("Summary")
	f.Close()
	if err != nil {
		return fmt.Errorf("workbook Summary: %w", err)
	}
	expected := map[string]bool{}
	for _, a := range org.Accounts {
		if a.Status == awssim.StatusActive {
			expected[a.ID] = true
		}
	}
	seen := map[string]int{}
	// REPORT_FORMAT.md: the table's header is row 10; column A the
	// account id, column I the scan status.
	for i := 10; i < len(rows); i++ {
		r := rows[i]
		if len(r) == 0 || r[0] == "" {
			continue
		}
		seen[r[0]]++
		if seen[r[0]] > 1 {
			res.DuplicateRows++
			continue
		}
		if expected[r[0]] && len(r) > 8 && r[8] != "MISSING" {
			res.Reported++
		}
	}
	res.Lost = res.Expected - res.Reported
	var st reportcheck.Stats
	st, res.CheckErr = reportcheck.Check(res.Workbook, reportcheck.Expect{Org: org, Regions: regions, RunID: res.RunID, Trigger: "scheduled"})
	res.ErrorRows, res.Findings = st.Errors, st.Findings
	return nil
}

// busiestConfigCalls is the most Config calls one account-region needs,
// from the ground truth and the scan's paging: one
// DescribeConfigurationRecorderStatus, DescribeConfigRules and
// DescribeComplianceByConfigRule in pages of 25, and for each
// NON_COMPLIANT rule GetComplianceDetailsByConfigRule in pages of 100.
func busiestConfigCalls(org *awssim.Org, regions []string) int64 {
	pages := func(n, size int) int64 { return int64(max(1, (n+size-1)/size)) }
	var busiest int64
	for _, a := range org.Accounts {
		if a.Status != awssim.StatusActive {
			continue
		}
		for _, region := range regions {
			rules := org.Rules(a.ID, region)
			n := 1 + 2*pages(len(rules), 25)
			for _, r := range rules {
				if r.Compliance() == awssim.NonCompliant {
					n += pages(r.NonCompliantCount(), 100)
				}
			}
			busiest = max(busiest, n)
		}
	}
	return busiest
}

// limitTerms are the three bounds on the fastest any client could go
// (docs/BENCHMARKS.md): calls × mean latency ÷ C, calls ÷ R, and the
// busiest account-region's Config calls ÷ the throttle rate (0 when a
// term does not apply).
func limitTerms(calls int64, latency time.Duration, c int, r float64, busiest int64, throttle float64) [3]time.Duration {
	var t [3]time.Duration
	if c > 0 {
		t[0] = time.Duration(float64(calls) * float64(latency) / float64(c))
	}
	if r > 0 {
		t[1] = time.Duration(float64(calls) / r * float64(time.Second))
	}
	if throttle > 0 {
		t[2] = time.Duration(float64(busiest) / throttle * float64(time.Second))
	}
	return t
}

var limitNames = [3]string{"calls×latency÷C", "calls÷R", "busiest account-region÷throttle"}

func pickLimit(t [3]time.Duration) (time.Duration, string) {
	best := 0
	for i := range t {
		if t[i] > t[best] {
			best = i
		}
	}
	return t[best], limitNames[best]
}

// measureRate is R: awssim's own throughput at zero latency on this
// machine, now, measured (awssim.MeasureRate) on a second awssim with the
// same org and no latency, throttling or faults.
func measureRate(ctx context.Context, logs, bin string, cfg Config, org *awssim.Org) (float64, error) {
	args := []string{"-accounts", strconv.Itoa(cfg.Accounts), "-seed", strconv.FormatInt(cfg.Seed, 10), "-regions", strings.Join(cfg.Regions, ",")}
	sim, url, err := harness.StartSim(ctx, logs, "awssim-rate", bin, args, time.Minute)
	if err != nil {
		return 0, err
	}
	defer sim.Terminate(10 * time.Second)
	r, err := awssim.MeasureRate(ctx, awssim.RateConfig{Endpoint: url, Org: org, Regions: cfg.Regions, Workers: cfg.RateWorkers, Window: cfg.RateDuration})
	if err != nil {
		return 0, fmt.Errorf("%w (see %s)", err, sim.Log)
	}
	return math.Round(r.PerSecond()), nil
}
