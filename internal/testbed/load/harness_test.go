package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func TestSumMetric(t *testing.T) {
	text := `# HELP configreport_aggregator_events_total Events handled.
# TYPE configreport_aggregator_events_total counter
configreport_aggregator_events_total{outcome="duplicate",type="AccountScanned"} 3
configreport_aggregator_events_total{outcome="duplicate",type="RunStarted"} 1
configreport_aggregator_events_total{outcome="recorded",type="AccountScanned"} 981
configreport_aggregator_events_total_other{outcome="duplicate"} 100
`
	n, err := sumMetric([]byte(text), "configreport_aggregator_events_total", `outcome="duplicate"`)
	if err != nil || n != 4 {
		t.Fatalf("duplicates = %d, %v; want 4", n, err)
	}
	if _, err := sumMetric([]byte("go_goroutines 12\n"), "configreport_aggregator_events_total", `outcome="duplicate"`); err == nil {
		t.Fatal("an absent series read as zero")
	}
}

func TestGoawsDepth(t *testing.T) {
	tests := []struct {
		attrs   map[string]string
		want    Depth
		wantErr bool
	}{
		// goaws counts in-flight messages in ApproximateNumberOfMessages.
		{map[string]string{"ApproximateNumberOfMessages": "300", "ApproximateNumberOfMessagesNotVisible": "120"}, Depth{Visible: 180, NotVisible: 120}, false},
		{map[string]string{"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "2"}, Depth{Delayed: 2}, false},
		{map[string]string{"ApproximateNumberOfMessagesNotVisible": "1"}, Depth{NotVisible: 1}, true},
		{map[string]string{"ApproximateNumberOfMessages": "x"}, Depth{}, true},
	}
	for _, tt := range tests {
		got, err := goawsDepth(tt.attrs)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("goawsDepth(%v) = %+v, %v; want %+v, error %v", tt.attrs, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRamp(t *testing.T) {
	s := func(sec float64, r int32) Sample {
		return Sample{At: time.Duration(sec * float64(time.Second)), Replicas: r}
	}
	if got := ramp([]Sample{s(0, 0), s(1, 0), s(2, 11), s(3, 22), s(4, 30), s(9, 30), s(10, 0)}); got != 2*time.Second {
		t.Fatalf("ramp = %s, want 2s", got)
	}
	if got := ramp([]Sample{s(0, 0)}); got != 0 {
		t.Fatalf("ramp of an idle run = %s", got)
	}
}

func TestLimit(t *testing.T) {
	tests := []struct {
		name  string
		terms [3]time.Duration
		want  time.Duration
		term  string
	}{
		// 10,000 calls × 20 ms ÷ 480 = 416.7 ms; ÷ 2,500/s = 4 s; 12 calls ÷ 2/s = 6 s.
		{"throttle bound", limitTerms(10000, 20*time.Millisecond, 480, 2500, 12, 2), 6 * time.Second, "busiest account-region÷throttle"},
		{"R bound, no throttle", limitTerms(10000, 20*time.Millisecond, 480, 2500, 12, 0), 4 * time.Second, "calls÷R"},
		{"latency bound", limitTerms(10000, 200*time.Millisecond, 16, 2500, 12, 0), 125 * time.Second, "calls×latency÷C"},
	}
	for _, tt := range tests {
		got, term := pickLimit(tt.terms)
		if got.Round(time.Millisecond) != tt.want || term != tt.term {
			t.Errorf("%s: %s (%s), want %s (%s); terms %v", tt.name, got, term, tt.want, tt.term, tt.terms)
		}
	}
}

func TestBusiestConfigCalls(t *testing.T) {
	rule := func(name string, nc int) string {
		res := `{"resource_type":"AWS::S3::Bucket","resource_id":"b-` + name + `","compliance":"COMPLIANT","recorded_at":"2026-11-20T08:00:00Z"}`
		if nc > 0 {
			var rs []string
			for i := range nc {
				rs = append(rs, fmt.Sprintf(`{"resource_type":"AWS::S3::Bucket","resource_id":"%s-%d","compliance":"NON_COMPLIANT","recorded_at":"2026-11-20T08:00:00Z"}`, name, i))
			}
			res = strings.Join(rs, ",")
		}
		return `{"name":"` + name + `","source_identifier":"S3_BUCKET_VERSIONING_ENABLED","results":[` + res + `]}`
	}
	var rules []string
	for i := range 30 { // 30 rules: 2 pages each of the two listings
		nc := 0
		if i == 0 {
			nc = 150 // 2 pages of details
		} else if i == 1 {
			nc = 1
		}
		rules = append(rules, rule(fmt.Sprintf("rule-%d", i), nc))
	}
	org, err := awssim.ParseOrg([]byte(`{"management_account_id":"111111111111","ous":[],"accounts":[
		{"id":"111111111111","name":"mgmt","ou_path":"Root","status":"ACTIVE","regions":{}},
		{"id":"222222222222","name":"busy","ou_path":"Root","status":"ACTIVE","regions":{"us-east-1":{"rules":[` + strings.Join(rules, ",") + `]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// 1 recorder status, 2 + 2 listing pages, 2 + 1 detail pages.
	if got := busiestConfigCalls(org, []string{"us-east-1", "eu-west-1"}); got != 8 {
		t.Fatalf("busiest = %d, want 8", got)
	}
}

func TestScannerLogs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("scanner-1.log", `{"msg":"account scanned","run_id":"r","account_id":"1"}
{"msg":"account scanned","run_id":"r","account_id":"2"}
not json
{"msg":"message nacked for redelivery","run_id":"r"}
{"msg":"message abandoned while stopping, released to the queue"}
`)
	write("scanner-2.log", `{"msg":"account scanned","run_id":"r","account_id":"2"}
{"msg":"account scanned","run_id":"r","account_id":"3"}
{"msg":"message handled while stopping, deleted"}
{"msg":"message handled while stopping, deleted"}
`)
	write("aggregator.log", `{"msg":"account scanned","run_id":"r","account_id":"9"}`)
	got, err := scannerLogs(dir)
	if want := (scanLog{Rescans: 1, Nacked: 1, Released: 1, Deleted: 2}); err != nil || got != want {
		t.Fatalf("scannerLogs = %+v, %v; want %+v", got, err, want)
	}
}

func TestInvariants(t *testing.T) {
	good := Result{Expected: 10, Reported: 10, Reports: 1, FindingsFiles: 1, MaxReplica: 3, Samples: []Sample{{Replicas: 3}, {Replicas: 0}}}
	if err := good.Invariants(); err != nil {
		t.Fatalf("good run: %v", err)
	}
	bad := Result{Expected: 10, Reported: 9, Lost: 1, DuplicateRows: 1, Reports: 2, MaxReplica: 1, DLQ: 1,
		CheckErr: errors.New("row 3 differs"), Samples: []Sample{{Replicas: 1}}}
	err := bad.Invariants()
	for _, want := range []string{"1 lost", "1 duplicate rows", "2 report objects", "0 findings files", "row 3 differs", "never scaled past 1", "back to zero", "scan DLQ"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invariants %v: no %q", err, want)
		}
	}
}

// The fleet starts and stops real processes: SIGTERM to one that exits on
// it, SIGKILL after the grace period to one that ignores it, SIGKILL at
// once in the sigkill scenario.
func TestFleet(t *testing.T) {
	logs := t.TempDir()
	mk := func(script string) func(string) (*proc, error) {
		return func(name string) (*proc, error) {
			return startProc(logs, name, "/bin/sh", nil, "-c", script)
		}
	}
	// 3 scanners, down to 1, then all stopped: 3 stops.
	tests := []struct {
		name                     string
		script                   string
		atOnce                   bool
		terms, kills, graceKills int
	}{
		{"sigterm obeyed", "exec sleep 30", false, 3, 0, 0},
		{"sigterm ignored", `trap "" TERM; while :; do sleep 0.05; done`, false, 3, 0, 3},
		{"sigkill at once", "exec sleep 30", true, 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fleet{start: mk(tt.script), grace: 300 * time.Millisecond, killAtOnce: tt.atOnce, log: slog.New(slog.DiscardHandler)}
			if err := f.Scale(3); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the trap is set
			f.sampleRSS()
			if err := f.Scale(1); err != nil {
				t.Fatal(err)
			}
			if err := f.stopAll(); err != nil {
				t.Fatal(err)
			}
			if f.Terms != tt.terms || f.Kills != tt.kills || f.GraceKills != tt.graceKills {
				t.Fatalf("terms %d kills %d grace kills %d; want %d %d %d", f.Terms, f.Kills, f.GraceKills, tt.terms, tt.kills, tt.graceKills)
			}
			if peak, n := f.peak(); n != 3 || peak <= 0 {
				t.Fatalf("peak %d over %d scanners", peak, n)
			}
		})
	}
	// A scanner that dies by itself fails the next Scale.
	f := &fleet{start: mk("exit 3"), grace: time.Second, log: slog.New(slog.DiscardHandler)}
	if err := f.Scale(1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := f.Scale(1); err == nil || !strings.Contains(err.Error(), "exited by itself") {
		t.Fatalf("crash not reported: %v", err)
	}

	// One crashed, two alive: stopping all still stops the two (a failed
	// run must leave no scanner behind) and reports the crash.
	n := 0
	f = &fleet{grace: time.Second, log: slog.New(slog.DiscardHandler), start: func(name string) (*proc, error) {
		n++
		if n == 1 {
			return mk("exit 3")(name)
		}
		return mk("exec sleep 30")(name)
	}}
	if err := f.Scale(3); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := f.stopAll(); err == nil || !strings.Contains(err.Error(), "exited by itself") {
		t.Fatalf("stopAll with a crashed scanner: %v", err)
	}
	for _, p := range f.all {
		if !p.Exited() {
			t.Errorf("%s still running after stopAll", p.Name)
		}
	}
}

// judge counts the Summary table: a row per expected account not MISSING
// is reported; a second row for an account is a duplicate; an expected
// account without a row, or MISSING, is lost.
func TestJudgeCounts(t *testing.T) {
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 5, Seed: 3, Regions: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, a := range org.Accounts {
		if a.Status == awssim.StatusActive {
			active = append(active, a.ID)
		}
	}
	if len(active) < 3 {
		t.Fatalf("need 3 ACTIVE accounts, org has %d", len(active))
	}
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", "Summary"); err != nil {
		t.Fatal(err)
	}
	row := 10
	set := func(id, status string) {
		row++
		if err := f.SetSheetRow("Summary", fmt.Sprintf("A%d", row), &[]any{id, "n", "Root", 1, 1, 0, 0, 1.0, status}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetSheetRow("Summary", "A10", &[]any{"Account ID", "Account Name", "OU Path", "Rules Evaluated", "Compliant Rules", "Non-compliant Rules", "Non-compliant Resources", "Compliance %", "Scan Status"}); err != nil {
		t.Fatal(err)
	}
	// Every ACTIVE account but the last; the first twice; the second MISSING.
	for i, id := range active[:len(active)-1] {
		status := "OK"
		if i == 1 {
			status = "MISSING"
		}
		set(id, status)
	}
	set(active[0], "OK")
	path := filepath.Join(t.TempDir(), "report.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	res := &Result{Workbook: path, Expected: len(active), RunID: "r"}
	if err := judge(res, org, []string{"us-east-1"}); err != nil {
		t.Fatal(err)
	}
	if res.Reported != len(active)-2 || res.Lost != 2 || res.DuplicateRows != 1 {
		t.Fatalf("reported %d lost %d duplicate rows %d; want %d, 2, 1", res.Reported, res.Lost, res.DuplicateRows, len(active)-2)
	}
	if res.CheckErr == nil {
		t.Fatal("reportcheck accepted a workbook with a MISSING, a missing and a duplicated account")
	}
}

func TestParseCPUStat(t *testing.T) {
	b := []byte("cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1\n")
	s, err := parseCPUStat(b)
	if err != nil {
		t.Fatal(err)
	}
	// busy: user 100 + nice 5 + system 50 + irq 3 + softirq 2 + steal 0; guest (7) is in user already.
	if s.busy != 160 || s.total != 980 {
		t.Errorf("busy %d total %d, want 160 980", s.busy, s.total)
	}
	m := machineCPU(cpuStat{busy: 100, total: 1000}, cpuStat{busy: 300, total: 1400}, 2)
	if m.Busy != 2*time.Second || m.Share != 0.5 || m.Floor() != time.Second {
		t.Errorf("machineCPU = %+v floor %s, want 2s busy, 0.5 share, 1s floor", m, m.Floor())
	}
	for _, bad := range []string{"", "intr 1\n", "cpu  1 2 x 4 5\n"} {
		if _, err := parseCPUStat([]byte(bad)); err == nil {
			t.Errorf("parseCPUStat(%q) accepted", bad)
		}
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// Fields 14 (utime) and 15 (stime) of /proc/PID/stat, in ticks of 10 ms.
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0 500 1000 200\n"
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
	}{
		{"plain name", "4242 (awssim)" + tail, 18010 * time.Millisecond},
		{"name with spaces and parentheses", "4242 (a (b) c)" + tail, 18010 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStatCPU([]byte(tc.stat))
			if err != nil || got != tc.want {
				t.Errorf("parseProcStatCPU = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "4242 awssim S 1", "4242 (awssim) S 1 2 3", "4242 (awssim) S 1 2 3 0 -1 4 100 0 0 0 x 567 0\n", "4242 (awssim) S 1 2 3 0 -1 4 100 0 0 0 -1 567 0\n"} {
		if _, err := parseProcStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseProcStatCPU(%q) accepted", bad)
		}
	}
	if d, err := procCPUTime(os.Getpid()); err != nil || d < 0 {
		t.Errorf("procCPUTime(self) = %s, %v", d, err)
	}
}

func TestProfileRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("seconds") != "1" {
			http.Error(w, "seconds", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("profile-bytes"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	agg, scanner := running(t, "aggregator"), running(t, "scanner-1")
	agg.Health, scanner.Health = addr, "127.0.0.1:1"
	fl := &fleet{running: []*proc{scanner}}
	out := t.TempDir()
	cfg := Config{Out: out, ProfileAt: time.Millisecond, ProfileFor: time.Second}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	paths := profileRun(context.Background(), cfg, time.Now(), agg, fl, log)
	// The aggregator answers; the scanner's port is closed: left out, not fatal.
	if len(paths) != 1 || paths[0] != filepath.Join(out, "aggregator.pprof") {
		t.Fatalf("profiles %v, want the aggregator's only", paths)
	}
	if b, err := os.ReadFile(paths[0]); err != nil || string(b) != "profile-bytes" {
		t.Errorf("profile %q, %v", b, err)
	}
}

func TestListenAddr(t *testing.T) {
	dir := t.TempDir()
	// The service's log as it would be, before the process appends to it.
	if err := os.WriteFile(filepath.Join(dir, "svc.log"), []byte(`{"msg":"starting"}
not json
{"msg":"health server listening","addr":"127.0.0.1:41234"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := startProc(dir, "svc", "/bin/sh", nil, "-c", "exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if addr, err := listenAddr(context.Background(), p, time.Second); err != nil || addr != "127.0.0.1:41234" {
		t.Fatalf("listenAddr = %q, %v", addr, err)
	}
	// A process that exits without the line fails at once, not at the timeout.
	quiet, err := startProc(dir, "quiet", "/bin/sh", nil, "-c", "exit 0")
	if err != nil {
		t.Fatal(err)
	}
	if err := quiet.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := listenAddr(context.Background(), quiet, time.Minute); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("exited process: %v after %s", err, time.Since(start))
	}
}

// running starts a process that sleeps until the test's end.
func running(t *testing.T, name string) *proc {
	t.Helper()
	p, err := startProc(t.TempDir(), name, "/bin/sh", nil, "-c", "exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestConfigValidateSimProcs(t *testing.T) {
	for _, tc := range []struct {
		procs int
		bad   bool
	}{{0, false}, {1, false}, {2, false}, {-1, true}} {
		cfg := Config{SQS: "x", SNS: "x", S3: "x", DynamoDB: "x", SimProcs: tc.procs}
		cfg.setDefaults()
		err := cfg.Validate()
		if got := err != nil && strings.Contains(err.Error(), "awssim procs"); got != tc.bad {
			t.Errorf("SimProcs %d: Validate() = %v, want refused: %v", tc.procs, err, tc.bad)
		}
	}
}
