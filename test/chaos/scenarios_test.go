//go:build chaos

package chaos_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/chaos"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/faultproxy"
	testharness "github.com/cybsecops/configreport/internal/testbed/harness"
)

// matrix is the chaos suite, in the numbering of issue 11.
func matrix() []scenario {
	return []scenario{
		{n: 1, name: "scanner-kill", sim: simOpts{latency: 30 * time.Millisecond, disabledRegions: 3, notRecording: 2}, run: scannerKill},
		{n: 2, name: "aggregator-crash-points", run: aggregatorCrash},
		{n: 3, name: "two-aggregators", quick: true, run: twoAggregators},
		{n: 4, name: "duplicates-and-replays", quick: true, run: duplicates},
		// A throttled scan takes seconds per account: the queue's visibility
		// is the production one (CloudFormation: 300 s), or every slow scan
		// would be redelivered by the suite's own short timeout.
		{n: 5, name: "throttling-and-errors", sim: simOpts{throttleRPS: 1, errorRate: 0.05}, visibility: 300 * time.Second, run: throttling},
		// With the opt-in region, which some accounts never enabled (skipped,
		// no error), and recorders missing or stopped (recorder errors).
		{n: 6, name: "permanent-errors", sim: simOpts{deny: 3, failRegions: 4, disabledRegions: 3, notRecording: 2}, quick: true, run: permanentErrors},
		{n: 7, name: "s3-dynamodb-jira-outages", run: outages},
		{n: 8, name: "poison-messages", quick: true, run: poison},
		{n: 9, name: "deadline-missing", sim: simOpts{latency: 40 * time.Millisecond}, run: deadline},
		// Throttled to one Config call per 2 s per account and region, so
		// that most account scans outlive half a session (when the
		// credentials are renewed) and many a whole one; the production
		// visibility, as in 5.
		{n: 10, name: "session-expiry", sim: simOpts{sessionTTL: 5 * time.Second, latency: 100 * time.Millisecond, throttleRPS: 0.5},
			visibility: 300 * time.Second, run: sessions},
		// Issue 15's attacks (attacks_test.go): each runs a control of
		// the same choreography without the attack first.
		{n: 11, name: "scan-request-attacks", run: regionAttack},
		{n: 12, name: "runstarted-forgery-and-flood", run: runStartedAttack},
		{n: 13, name: "slow-jira-adhoc-runs", run: slowJira},
	}
}

const reportTimeout = 5 * time.Minute

// startPipeline starts aggs aggregator replicas and scans scanners.
func (h *harness) startPipeline(aggs, scans int) {
	for i := 1; i <= aggs; i++ {
		h.startAggregator(fmt.Sprintf("aggregator-%d", i))
	}
	for i := 1; i <= scans; i++ {
		h.startService(fmt.Sprintf("scanner-%d", i), "scanner")
	}
}

// holdAfter is the environment of a scanner that scans exactly n accounts
// and then holds every later request until it is killed (a hold point,
// internal/chaos; the binaries under test are built with -tags chaos).
func holdAfter(n int) []string {
	return []string{chaos.EnvHold + "=" + chaos.BeforeScan, chaos.EnvHoldAfter + "=" + strconv.Itoa(n)}
}

// startHeldScanners starts two scanners that together scan exactly a third
// of the active accounts (at least one each) and then hold, and returns
// that number: "a third scanned, the rest not" is then a count, not a race
// between the scanners and the kill.
func (h *harness) startHeldScanners() int {
	per := max(len(h.activeAccounts())/6, 1)
	h.startService("scanner-1", "scanner", holdAfter(per)...)
	h.startService("scanner-2", "scanner", holdAfter(per)...)
	return 2 * per
}

// killHeld waits until the held scanners have published their n results,
// kills every scanner, and fails the scenario when more than n accounts
// were scanned (the hold did not hold) or the report is already out.
func (h *harness) killHeld(n int, timeout time.Duration) {
	h.t.Helper()
	h.waitScanned(n, timeout)
	for _, p := range h.procs {
		if strings.HasPrefix(p.Name, "scanner") && !p.Exited() {
			p.Kill()
		}
	}
	time.Sleep(3 * time.Second) // the last results reach the tap and the aggregators
	if _, got := h.scanned(); len(got) != n || len(h.reportKeys()) > 0 {
		h.t.Fatalf("%d accounts scanned (report out: %v) when the scanners holding after %d scans died: the hold point did not hold", len(got), len(h.reportKeys()) > 0, n)
	}
}

// finishRun waits for the report and the ticket and checks the invariants.
func (h *harness) finishRun() []byte {
	report := h.waitReport(reportTimeout)
	h.waitTicket(time.Minute)
	h.verify(report)
	return report
}

// 1. kill -9 of a scanner mid-message, three times in a run, restarting it
// each time: its messages come back after the visibility timeout. The org
// has the opt-in region, left disabled in a few accounts, and recorders
// missing or stopped: a redelivered scan skips and reports them as the
// first would have.
func scannerKill(h *harness) {
	h.startAggregator("aggregator-1")
	h.startService("scanner-1", "scanner")
	h.startService("scanner-2", "scanner")
	go h.trigger()
	for i := 1; i <= 3; i++ {
		var held float64
		err := testharness.Poll(h.ctx, 2*time.Minute, 10*time.Millisecond, func() (bool, error) {
			held = testharness.Gauge(h.health["scanner-2"]+"/metrics", "configreport_messages_in_flight")
			return held >= 1, nil
		})
		if err != nil {
			h.t.Fatalf("kill %d: scanner-2 never held a message", i)
		}
		p := h.procs[len(h.procs)-1]
		p.Kill()
		h.fault("SIGKILL scanner-2 holding %.0f message(s)", held)
		if i < 3 {
			h.startService("scanner-2", "scanner")
		}
	}
	h.startService("scanner-2", "scanner")
	h.finishRun()
}

// 2. kill -9 of the aggregator mid-run, then a crash at each crash point:
// each time another replica takes the lease; one report, one ticket.
func aggregatorCrash(h *harness) {
	crashAt := func(point string) string { return chaos.EnvCrash + "=" + point }
	a1 := h.startAggregator("aggregator-1", crashAt(chaos.MidRender))
	h.startService("scanner-1", "scanner")
	h.startService("scanner-2", "scanner")
	h.trigger()
	h.waitScanned(len(h.activeAccounts())/3, 2*time.Minute)
	a1.Kill()
	h.fault("SIGKILL aggregator-1 mid-run")

	// Each replica dies at its crash point; the next one takes over once
	// the lease of the dead one has lapsed.
	for i, point := range []string{chaos.MidRender, chaos.AfterUpload, chaos.AfterTicketFiled} {
		name := fmt.Sprintf("aggregator-%d", i+2)
		p := h.startAggregator(name, crashAt(point))
		_ = p.Wait(reportTimeout) // its exit status is checked next
		if !p.KilledBySignal() {
			h.t.Fatalf("%s did not die by SIGKILL at %s (exited=%v: %v); last lines:\n%s", name, point, p.Exited(), p.Err(), testharness.Tail(p.Log, 20))
		}
		b, _ := os.ReadFile(p.Log)
		if !strings.Contains(string(b), "chaos: crash point "+point) {
			h.t.Fatalf("%s died, but not at %s:\n%s", name, point, testharness.Tail(p.Log, 20))
		}
		h.fault("%s crashed at %s", name, point)
	}
	h.startAggregator("aggregator-5")
	// The ticket was filed before the last crash: the survivor must find it
	// by its label and store it, not file a second one.
	err := testharness.Poll(h.ctx, 2*time.Minute, 250*time.Millisecond, func() (bool, error) {
		b, _ := os.ReadFile(h.procs[len(h.procs)-1].Log)
		return strings.Contains(string(b), `"ticket stored"`), nil
	})
	if err != nil {
		h.problem("aggregator-5 never stored the ticket filed before the crash")
	}
	b, _ := os.ReadFile(h.procs[len(h.procs)-1].Log)
	if !strings.Contains(string(b), `"how":"found"`) {
		h.problem(`aggregator-5 stored a ticket it did not find by label (no "how":"found" in its log)`)
	}
	h.finishRun()
}

// 3. Two aggregator replicas throughout: exactly one emits.
func twoAggregators(h *harness) {
	h.startPipeline(2, 2)
	h.trigger()
	h.finishRun()
	emitted := 0
	for _, name := range []string{"aggregator-1", "aggregator-2"} {
		b, _ := os.ReadFile(h.logs + "/" + name + ".log")
		emitted += strings.Count(string(b), `"msg":"report emitted"`)
	}
	h.fault("2 replicas racing for the claim")
	if emitted != 1 {
		h.problem(`%d "report emitted" lines across the two replicas, want 1`, emitted)
	}
}

// 4. Every message delivered twice (the trigger runs twice with the same
// run id, so every ScanRequested and RunStarted is doubled and every
// account scanned twice; every message on the results topic is published
// again at once); for some accounts a second, different AccountScanned
// once their first result is recorded; after the report, every result
// replayed. The different results are injected while the run cannot
// complete (every scanner killed, exactly a third of the accounts scanned:
// the scanners hold after their share) and the scanners come back only
// once the aggregators have consumed them, so they reach the store after
// the first results whatever the queue's order: first-write-wins must keep
// the first. The report is the ground truth, and does not change with the
// replays.
func duplicates(h *harness) {
	h.startAggregator("aggregator-1")
	h.startAggregator("aggregator-2")
	third := h.startHeldScanners()
	seen := map[string]bool{}
	copies := 0
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		next := 0
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			h.tapMu.Lock()
			batch := append([]tapped(nil), h.tap[next:]...)
			next = len(h.tap)
			h.tapMu.Unlock()
			for _, m := range batch {
				if !seen[m.body] {
					seen[m.body] = true
					h.publish(m.body, m.attrs)
					copies++
				}
			}
		}
	}()
	h.trigger()
	active := h.activeAccounts()
	h.killHeld(third, 3*time.Minute)
	h.fault("SIGKILL every scanner with %d of %d accounts scanned (each holding after %d)", third, len(active), third/2)

	results, _ := h.scanned()
	altered := map[string]bool{}
	for _, m := range results {
		var ev map[string]any
		if json.Unmarshal([]byte(m.body), &ev) != nil {
			continue
		}
		acct, _ := ev["account_id"].(string)
		if len(altered) >= 5 || altered[acct] || acct == h.org.ManagementAccountID {
			continue
		}
		altered[acct] = true
		ev["status"] = "failed"
		ev["rules"], ev["findings"] = []any{}, []any{}
		ev["errors"] = []any{map[string]any{"region": h.regions[0], "stage": "config", "code": "ChaosAltered", "message": "a second, different result", "attempts": 1}}
		ev["scanned_at"] = time.Now().UTC().Format(time.RFC3339)
		b, _ := json.Marshal(ev)
		h.publish(string(b), m.attrs)
	}
	h.fault("%d different second results while the run waits for its scanners", len(altered))
	// The aggregators have consumed everything (the copies of the altered
	// results too) before the run can complete.
	time.Sleep(2 * time.Second)
	err := testharness.Poll(h.ctx, time.Minute, 500*time.Millisecond, func() (bool, error) {
		a, err := h.sqs.GetQueueAttributes(h.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(h.res.ResultsQueue),
			AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		if err != nil {
			return false, err
		}
		return a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0", nil
	})
	if err != nil {
		h.t.Fatalf("the aggregators did not drain their queue: %v", err)
	}
	h.startService("scanner-1", "scanner")
	h.startService("scanner-2", "scanner")
	report := h.waitReport(reportTimeout)
	h.waitTicket(time.Minute)
	// The trigger again, for the same run: every RunStarted and
	// ScanRequested delivered twice, every account scanned twice.
	h.trigger()
	err = testharness.Poll(h.ctx, 5*time.Minute, 200*time.Millisecond, func() (bool, error) {
		results, _ := h.scanned()
		per := map[string]map[string]bool{}
		for _, m := range results {
			if strings.Contains(m.body, "ChaosAltered") {
				continue
			}
			var ev struct {
				Account string `json:"account_id"`
			}
			_ = json.Unmarshal([]byte(m.body), &ev)
			if per[ev.Account] == nil {
				per[ev.Account] = map[string]bool{}
			}
			per[ev.Account][m.body] = true
		}
		for _, a := range active {
			if len(per[a]) < 2 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		h.problem("the second trigger's scans did not all come back: %v", err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	h.fault("the trigger run twice for one run id (every RunStarted and ScanRequested twice, every account scanned twice)")
	h.fault("%d messages published again at once", copies)
	// Replay every result after the emission.
	results, _ = h.scanned()
	for _, m := range results {
		h.publish(m.body, m.attrs)
	}
	h.fault("%d results replayed after the report", len(results))
	time.Sleep(8 * time.Second)
	if after := h.waitReport(time.Second); sha(after) != sha(report) {
		h.problem("the report changed after the replay (%s -> %s)", sha(report), sha(after))
	}
	h.verify(report)
}

// 6. Denied accounts and failing regions: permanent errors are not
// retried. Each is tried once: the report's error rows say attempts 1
// (reportcheck), and awssim counted the calls. Beside them, opt-in regions
// never enabled (skipped: Coverage `no`/`skipped`, no Errors row, no
// PARTIAL, no Config call there) and recorders missing or stopped, with
// issue 16's call counts.
func permanentErrors(h *harness) {
	h.startPipeline(1, 2)
	h.trigger()
	h.finishRun()
	st := h.simStats()
	denied := h.org.DeniedAccounts()
	failing := h.org.FailingRegions()
	h.fault("%d accounts deny AssumeRole, %d regions fail, %d opt-in regions never enabled, recorder missing in %d regions and stopped in %d",
		len(denied), len(failing), len(h.org.DisabledRegions()), len(h.org.NoRecorderRegions()), len(h.org.StoppedRecorderRegions()))
	// A healthy account's DescribeConfigRules count: one page per region.
	healthy := -1
	isOdd := map[string]bool{}
	for _, a := range denied {
		isOdd[a] = true
	}
	for _, f := range failing {
		isOdd[f.AccountID] = true
	}
	for _, a := range h.activeAccounts() {
		if !isOdd[a] && a != h.org.ManagementAccountID {
			healthy = int(st.Calls["DescribeConfigRules"][a])
			break
		}
	}
	for _, a := range denied {
		if n := st.Calls["AssumeRole"][a]; n < 1 || n > int64(len(h.regions)) {
			h.problem("denied account %s: %d AssumeRole calls, want 1 per region at most (not retried)", a, n)
		}
		if n := st.Calls["DescribeConfigRules"][a]; n != 0 {
			h.problem("denied account %s: %d Config calls", a, n)
		}
	}
	// A failing region's first call, the recorder status, is refused once
	// (not retried) and the region goes no further: its account makes one
	// recorder status call per region and reads the rules of the others.
	checked := map[string]bool{}
	for _, f := range failing {
		if checked[f.AccountID] {
			continue
		}
		checked[f.AccountID] = true
		var want int64
		for _, r := range h.regions {
			if !h.org.RegionFails(f.AccountID, r) {
				want += int64(max(1, (len(h.org.Rules(f.AccountID, r))+24)/25))
			}
		}
		if n := st.Calls["DescribeConfigRules"][f.AccountID]; n != want {
			h.problem("account %s with failing region %s: %d DescribeConfigRules calls, want %d (none in the failing region)", f.AccountID, f.Region, n, want)
		}
		if n := st.Calls["DescribeConfigurationRecorderStatus"][f.AccountID]; n != int64(len(h.regions)) {
			h.problem("account %s with failing region %s: %d recorder status calls, want one per region (the refused one not retried)", f.AccountID, f.Region, n)
		}
	}
	h.checkCoverageCalls(st)
	h.t.Logf("awssim: %d calls, %d errors, %d throttled; healthy account: %d DescribeConfigRules", st.Total, st.Errors, st.Throttled, healthy)
}

// checkCoverageCalls checks issue 16's call targets on a run without
// retries or redeliveries: one ListTagsForResource per account of the run,
// one DescribeRegions per account scanned (not the denied ones), one
// recorder status per region scanned, and no Config call at all in a
// region the account never enabled (skipped, not an error).
func (h *harness) checkCoverageCalls(st awssim.Stats) {
	active := h.activeAccounts()
	if n := st.OpCalls("ListTagsForResource"); n != int64(len(active)) {
		h.problem("%d ListTagsForResource calls for %d accounts, want one each", n, len(active))
	}
	if len(h.org.DisabledRegions()) == 0 {
		h.problem("no opt-in region left disabled: the scenario does not check the skipped regions")
	}
	for _, a := range active {
		acct, _ := h.org.Account(a)
		var want struct{ regions, recorder, rules int64 }
		if !acct.Denied {
			want.regions = 1
			for _, r := range h.regions {
				if h.org.OptInStatus(a, r) == awssim.NotOptedIn {
					continue
				}
				want.recorder++
				if !h.org.RegionFails(a, r) {
					want.rules += int64(max(1, (len(h.org.Rules(a, r))+24)/25))
				}
			}
		}
		for op, w := range map[string]int64{"DescribeRegions": want.regions, "DescribeConfigurationRecorderStatus": want.recorder, "DescribeConfigRules": want.rules} {
			if n := st.Calls[op][a]; n != w {
				h.problem("account %s (denied %v, regions disabled %v): %d %s calls, want %d", a, acct.Denied, acct.DisabledRegions, n, op, w)
			}
		}
	}
}

// 8. Bad messages on both queues: each lands on the poison queue with its
// reason, and the run goes on.
func poison(h *harness) {
	h.startPipeline(1, 2)
	acct := h.activeAccounts()[1]
	big := `{"chaos":"chaos-bad-5","type":"ScanRequested","schema_version":1,"account_id":"` + acct + `","pad":"` + strings.Repeat("x", 300*1024) + `"}`
	bad := []struct {
		queue, marker, reason, body string
	}{
		{h.res.ScanQueue, "chaos-bad-1", "malformed", `{"chaos":"chaos-bad-1", "account_id": 12345`},
		{h.res.ScanQueue, "chaos-bad-2", "unknown-type", `{"chaos":"chaos-bad-2","type":"ScanEverything","schema_version":1}`},
		{h.res.ScanQueue, "chaos-bad-3", "unknown-type", `{"chaos":"chaos-bad-3","type":"ScanRequested","schema_version":9,"account_id":"` + acct + `"}`},
		// No ScanRequested carries a claim check (the contract gives them
		// to RunStarted and AccountScanned only): a missing payload is a
		// results-queue fault (chaos-bad-8); a RunStarted's on the scan
		// queue is an unexpected type there.
		{h.res.ResultsQueue, "chaos-bad-4", "missing-payload", `{"chaos":"chaos-bad-4","type":"RunStarted","schema_version":1,"run_id":"chaos-poison-run","payload_ref":"` + testharness.PayloadPrefix + `/chaos-poison-run/run/chaos-bad-4.json"}`},
		{h.res.ScanQueue, "chaos-bad-5", "too-large", big},
		{h.res.ResultsQueue, "chaos-bad-6", "malformed", `["chaos-bad-6"`},
		{h.res.ResultsQueue, "chaos-bad-7", "unknown-type", `{"chaos":"chaos-bad-7","type":"AccountAudited","schema_version":1}`},
		{h.res.ResultsQueue, "chaos-bad-8", "missing-payload", `{"chaos":"chaos-bad-8","type":"AccountScanned","schema_version":1,"run_id":"chaos-poison","account_id":"` + acct + `","payload_ref":"` + testharness.PayloadPrefix + `/chaos-poison/` + acct + `/chaos-bad-8.json"}`},
	}
	for _, b := range bad {
		if _, err := h.sqs.SendMessage(h.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(b.queue), MessageBody: aws.String(b.body)}); err != nil {
			h.t.Fatalf("send %s (%d bytes): %v", b.marker, len(b.body), err)
		}
		h.expected[b.marker] = b.reason
		h.fault("%s (%s) on %s", b.marker, b.reason, map[bool]string{true: "scan queue", false: "results queue"}[b.queue == h.res.ScanQueue])
	}
	h.trigger()
	h.finishRun()
	h.r.Faults = []string{fmt.Sprintf("%d bad messages: malformed, unknown type, unknown version, 300 KiB (scan queue); malformed, unknown type, 2 missing claim-check payloads (results queue)", len(bad))}
}

// 9. The deadline passes with accounts unscanned (every scanner killed
// once they have scanned a third of them and hold):
// they are MISSING, the report is emitted once, and their late results,
// when the scanners come back, make no second report.
func deadline(h *harness) {
	h.startPipeline(2, 0)
	third := h.startHeldScanners()
	active := h.activeAccounts()
	h.trigger("DEADLINE=40s")
	h.killHeld(third, 2*time.Minute)
	h.fault("SIGKILL every scanner before the deadline, %d of %d accounts scanned", third, len(active))
	_, got := h.scanned()
	for _, a := range active {
		if !got[a] {
			h.missing[a] = true
		}
	}
	if len(h.missing) == 0 {
		h.t.Fatal("every account was scanned before the scanners were killed: nothing to miss")
	}
	h.t.Logf("%d of %d accounts unscanned at the kill", len(h.missing), len(active))
	report := h.waitReport(reportTimeout)
	h.waitTicket(time.Minute)
	// The scanners come back: the late results are recorded, no second
	// report.
	h.startService("scanner-1", "scanner")
	h.startService("scanner-2", "scanner")
	h.waitScanned(len(active), 5*time.Minute)
	time.Sleep(5 * time.Second)
	h.fault("%d late results after the deadline", len(h.missing))
	if after := h.waitReport(time.Second); sha(after) != sha(report) {
		h.problem("the report changed after the late results")
	}
	h.verify(report)
	h.r.RecoverSeconds = 0 // the deadline, not a recovery, ends this run
}

// 10. Sessions expiring mid-run (-session-ttl 5s, 100 ms per call, Config
// throttled to one call per 2 s per account and region): the credentials
// are renewed, by construction for most accounts, and nothing fails.
func sessions(h *harness) {
	// Throttling is per (account, region): many accounts at once keep the
	// run short while each account's scan is slow.
	h.extraEnv = append(h.extraEnv, "CONSUMERS=32", "CONCURRENCY=64")
	h.startPipeline(1, 2)
	h.trigger()
	h.finishRun()
	resp, err := httpGetJSON(h.direct.Sim + "/_sim/sessions")
	if err != nil {
		h.t.Fatal(err)
	}
	perRole := map[string]int{}
	for _, s := range resp.Sessions {
		perRole[s.Account+"/"+s.Role]++
	}
	renewals, renewedRead := 0, 0
	for role, n := range perRole {
		renewals += n - 1
		if n > 1 && strings.HasSuffix(role, "/"+awssim.RoleRead) {
			renewedRead++
		}
	}
	// What the scenario guarantees, whatever the timing: an account whose
	// scan must outlive half its session (when awsconf renews credentials)
	// has its read role assumed at least twice; one whose scan must outlive
	// the whole session would otherwise have been refused ExpiredToken.
	ttl := h.sc.sim.sessionTTL
	var mustRenew, mustOutlive int
	var notRenewed []string
	active := h.activeAccounts()
	for _, a := range active {
		span := h.minScanSpan(a)
		if span > ttl {
			mustOutlive++
		}
		if span > ttl/2 {
			mustRenew++
			if n := perRole[a+"/"+awssim.RoleRead]; n < 2 {
				notRenewed = append(notRenewed, fmt.Sprintf("%s (%d session, scan at least %s)", a, n, span.Round(10*time.Millisecond)))
			}
		}
	}
	h.fault("%d sessions issued with a %s life, %d renewals; %d of %d read roles renewed (%d by construction: their scan outlives half a session, %d a whole one)",
		len(resp.Sessions), ttl, renewals, renewedRead, len(active), mustRenew, mustOutlive)
	if len(notRenewed) > 0 {
		h.problem("%d accounts whose scan outlived half a session have one read-role session: %s", len(notRenewed), strings.Join(notRenewed, ", "))
	}
	// The guarantee must cover most of the org, or the scenario proves
	// little: it depends on the org (the seed) and the switches, not on
	// timing.
	if mustRenew*2 < len(active) || mustOutlive == 0 {
		h.problem("only %d of %d accounts must renew (%d outlive a session): slow the scans down (-throttle-rps)", mustRenew, len(active), mustOutlive)
	}
	// What must never show is a call refused for an expired token.
	files, _ := filepath.Glob(filepath.Join(h.logs, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if n := strings.Count(string(b), "ExpiredToken"); n > 0 {
			h.problem("%s: %d calls refused with ExpiredToken", filepath.Base(f), n)
		}
	}
	// Throttles are expected (and retried); any other refusal is not, and
	// an expired token is one.
	if st := h.simStats(); st.Errors != st.Throttled {
		h.problem("awssim answered %d errors besides %d throttles in a run with no other fault", st.Errors-st.Throttled, st.Throttled)
	}
}

// minScanSpan is the least time from the moment a scanner has the read
// role's credentials of account to the signing of its last Config call in
// its slowest region, for any timing: the Config calls of an (account,
// region) are sequential, and awssim's token bucket (rate r, burst
// max(r, 1), starting full when the first call arrives) admits the k-th of
// them no earlier than (k-burst)/r after the first. Each call is checked
// after awssim's latency, 0.8 to 1.2 times -latency, and a further
// allowance covers the loopback and awssim's work before the check. k is
// counted low: one page of rules, one of compliance, one of details per
// NON_COMPLIANT rule (more results or rules only add pages).
func (h *harness) minScanSpan(account string) time.Duration {
	const allowance = 500 * time.Millisecond
	r := h.sc.sim.throttleRPS
	if r <= 0 {
		return 0
	}
	burst := max(r, 1)
	var most time.Duration
	for _, region := range h.regions {
		k := 2
		for _, rule := range h.org.Rules(account, region) {
			if rule.Compliance() == awssim.NonCompliant {
				k += (rule.NonCompliantCount() + 99) / 100
			}
		}
		span := time.Duration((float64(k)-burst)/r*float64(time.Second)) - h.sc.sim.latency*4/10 - allowance
		most = max(most, span)
	}
	return most
}

// 5. Throttling (one Config call a second per account-region) plus 5%
// server errors: the scanners pace to the admitted rate (internal/awsconf)
// and retry what is still refused, no region gives up (the report has no
// error row that the org does not have). Paced clients are rarely refused
// (1-2% of Config calls here, where unpaced ones met 30-50%), so the
// scenario wants throttles to have happened, not a share of them.
// minThrottled is how many throttled answers show that scenario 5's
// throttle bit: a paced fleet still meets some while it learns the rate
// (9-17 of ~2,400 Config calls in runs of the scenario), each retried.
const minThrottled = 1

func throttling(h *harness) {
	// Throttling is per (account, region): more accounts at once, not more
	// calls per account, keep the run short.
	h.extraEnv = append(h.extraEnv, "CONSUMERS=16", "CONCURRENCY=32")
	h.startPipeline(1, 2)
	h.trigger()
	h.finishRun()
	st := h.simStats()
	calls := st.ConfigCalls()
	h.fault("%d of %d Config calls throttled; %d error answers in all (throttles and the 5%% InternalFailure/ServiceUnavailable)", st.Throttled, calls, st.Errors)
	if calls == 0 || st.Throttled < minThrottled {
		h.problem("only %d of %d Config calls throttled, the scenario wants at least %d: the throttle did not bite", st.Throttled, calls, minThrottled)
	}
	if st.Errors <= st.Throttled {
		h.problem("no server error injected besides the throttles")
	}
}

// 7. S3 and DynamoDB unreachable for a window each (the fault proxy cuts
// and refuses connections), Jira down until the report is out: the report
// is uploaded anyway, the ticket failure counted and logged, then retried.
func outages(h *harness) {
	s3p, err := faultproxy.New(strings.TrimPrefix(h.direct.S3, "http://"), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { s3p.Close() })
	ddbp, err := faultproxy.New(strings.TrimPrefix(h.direct.DynamoDB, "http://"), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { ddbp.Close() })
	h.ep.S3, h.ep.DynamoDB = s3p.URL(), ddbp.URL()
	h.jira.SetDown(true)
	h.fault("Jira answering 503 from the start")
	h.startPipeline(2, 2)
	active := len(h.activeAccounts())
	h.trigger()
	h.waitScanned(active/2, 3*time.Minute)
	ddbp.Down(6 * time.Second)
	h.fault("DynamoDB unreachable for 6 s mid-run")
	h.waitScanned(active, 5*time.Minute)
	s3p.Down(6 * time.Second)
	h.fault("S3 unreachable for 6 s as the report is due")
	report := h.waitReport(reportTimeout)
	// The report is out: the replica that emitted it has tried Jira by now.
	err = testharness.Poll(h.ctx, 20*time.Second, 250*time.Millisecond, func() (bool, error) {
		n := 0.0
		for _, name := range []string{"aggregator-1", "aggregator-2"} {
			n += testharness.Gauge(h.health[name]+"/metrics", "configreport_aggregator_ticket_failures_total")
		}
		return n >= 1, nil
	})
	if err != nil {
		h.problem("no ticket failure counted (configreport_aggregator_ticket_failures_total on /metrics) while Jira was down")
	}
	logged := 0
	for _, name := range []string{"aggregator-1", "aggregator-2"} {
		b, _ := os.ReadFile(filepath.Join(h.logs, name+".log"))
		logged += strings.Count(string(b), "ticket not filed")
	}
	if logged == 0 {
		h.problem("no ticket failure logged while Jira was down")
	}
	h.jira.SetDown(false)
	h.fault("Jira back after %d failed requests", h.jira.Failed())
	h.waitTicket(3 * time.Minute)
	s, d := s3p.Stats(), ddbp.Stats()
	h.t.Logf("fault proxy: S3 %+v, DynamoDB %+v", s, d)
	h.verify(report)
}
