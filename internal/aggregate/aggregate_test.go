package aggregate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

const wantKey = "reports/2026/11/23/config-compliance-01KMZ8W4Y0RUN.xlsx"

// emitOnce handles msgs with a fresh aggregator, checks once, and returns
// the one uploaded workbook.
func emitOnce(t *testing.T, msgs []*message.Message) (*env, []byte) {
	t.Helper()
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, msgs)
	a.Check(context.Background())
	ups := e.blob.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1", len(ups))
	}
	return e, ups[0].body
}

func TestCompleteRunEmitsOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.aggregator("replica-a")
	msgs := allMessages(t)
	handleAll(t, a, msgs)
	// The last result made the run complete and kicked the loop.
	select {
	case id := <-a.kicks:
		if id != runID {
			t.Fatalf("kicked %s", id)
		}
	default:
		t.Fatal("complete run did not wake the loop")
	}
	if err := a.Emit(ctx, runID); err != nil {
		t.Fatal(err)
	}
	for range 3 { // later checks and emits find it done
		a.Check(ctx)
		if err := a.Emit(ctx, runID); err != nil {
			t.Fatal(err)
		}
	}
	ups := e.blob.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1", len(ups))
	}
	if ups[0].key != wantKey {
		t.Errorf("key %q, want %q", ups[0].key, wantKey)
	}
	st := e.state()
	if !st.Emitted || st.ReportKey != wantKey || st.TicketKey != "SEC-1" {
		t.Errorf("state emitted=%v key=%q ticket=%q", st.Emitted, st.ReportKey, st.TicketKey)
	}
	if !st.GeneratedAt.Equal(e.clock.Now()) {
		t.Errorf("generated at %s, want the claim time %s", st.GeneratedAt, e.clock.Now())
	}
	if n := testutil.ToFloat64(a.metrics.reports); n != 1 {
		t.Errorf("reports_emitted_total %v", n)
	}

	data := ups[0].body
	summary := rows(t, data, report.SheetSummary)
	if got := summary[1][1]; got != string(runID) {
		t.Errorf("Run ID %q", got)
	}
	want := [][]string{
		{"Account ID", "Account Name", "OU Path", "Rules Evaluated", "Compliant Rules", "Non-compliant Rules", "Non-compliant Resources", "Compliance %", "Scan Status"},
		{"012345678901", "sandbox", "Root", "2", "1", "1", "1", "50.0%", "OK"},
		{"111111111111", "payments-prod", "Root/Prod/Payments", "3", "1", "2", "4", "33.3%", "PARTIAL"},
		{"222222222222", "locked-down", "Root/Prod", "", "", "", "", "", "FAILED"},
	}
	checkRows(t, "Summary", summary[9:], want)
	checkRows(t, "Non-compliant Resources", rows(t, data, report.SheetFindings), [][]string{
		{"Account ID", "Account Name", "Region", "Rule Name", "Resource Type", "Resource ID", "Compliance", "Annotation", "Last Evaluated (UTC)", "First Seen (UTC)"},
		{"012345678901", "sandbox", "us-east-1", "s3-public-read", "AWS::S3::Bucket", "logs", "NON_COMPLIANT", "from logs", "2026-11-23 00:00", "2026-11-23 01:05"},
		{"111111111111", "payments-prod", "us-east-1", "custom-tags", "AWS::EC2::Instance", "i-0abc", "NON_COMPLIANT", "from i-0abc", "2026-11-23 00:00", "2026-11-23 01:05"},
		{"111111111111", "payments-prod", "us-east-1", "s3-public-read", "AWS::S3::Bucket", "=cmd|' /C calc'!A0", "NON_COMPLIANT", "from =cmd|' /C calc'!A0", "2026-11-23 00:00", "2026-11-23 01:05"},
		{"111111111111", "payments-prod", "us-east-1", "s3-public-read", "AWS::S3::Bucket", "alpha-bucket", "NON_COMPLIANT", "from alpha-bucket", "2026-11-23 00:00", "2026-11-23 01:05"},
		{"111111111111", "payments-prod", "us-east-1", "s3-public-read", "AWS::S3::Bucket", "zeta-bucket", "NON_COMPLIANT", "from zeta-bucket", "2026-11-23 00:00", "2026-11-23 01:05"},
	})
	checkRows(t, "Errors", rows(t, data, report.SheetErrors), [][]string{
		{"Account ID", "Account Name", "Region", "Stage", "Error Code", "Message", "Attempts"},
		{"111111111111", "payments-prod", "eu-west-1", "config", "ThrottlingException", "Rate exceeded", "5"},
		{"222222222222", "locked-down", "", "assume-role", "AccessDenied", "not authorized to perform sts:AssumeRole", "1"},
	})

	// One ticket, with the workbook attached and the summary filled in.
	tk := e.jira.filed()
	if len(tk) != 1 {
		t.Fatalf("%d tickets, want 1", len(tk))
	}
	if !bytes.Equal(e.jira.attached["SEC-1"], data) {
		t.Error("the attached workbook is not the uploaded one")
	}
	got := tk[0]
	if got.ReportLocation != "s3://report-bucket/"+wantKey || got.ReportKey != wantKey || !got.StartedAt.Equal(t0) {
		t.Errorf("ticket location %q key %q started %s", got.ReportLocation, got.ReportKey, got.StartedAt)
	}
	wantSum := Summary{
		AccountsExpected: 3, AccountsScanned: 2, AccountsFailed: 1, NonCompliantAccounts: 2,
		WorstAccounts: []AccountSummary{
			{AccountID: "111111111111", Name: "payments-prod", NonCompliantRules: 2, NonCompliantResources: 4},
			{AccountID: "012345678901", Name: "sandbox", NonCompliantRules: 1, NonCompliantResources: 1},
		},
		WorstRules: []RuleSummary{
			{Name: "s3-public-read", NonCompliantAccounts: 2, NonCompliantResources: 4},
			{Name: "custom-tags", NonCompliantAccounts: 1, NonCompliantResources: 1},
		},
	}
	if fmt.Sprint(got.Summary) != fmt.Sprint(wantSum) {
		t.Errorf("summary\n got %+v\nwant %+v", got.Summary, wantSum)
	}
}

func checkRows(t *testing.T, sheet string, got, want [][]string) {
	t.Helper()
	// GetRows drops trailing empty cells; pad to compare.
	for i := range got {
		for i < len(want) && len(got[i]) < len(want[i]) {
			got[i] = append(got[i], "")
		}
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("sheet %s:\n got %q\nwant %q", sheet, got, want)
	}
}

func TestDuplicatesChangeNothing(t *testing.T) {
	_, ref := emitOnce(t, allMessages(t))

	// Every message twice, a changed result for an account already
	// recorded, a changed RunStarted: first write wins everywhere.
	msgs := allMessages(t)
	changed := results()[0]
	changed.Status = events.StatusOK
	changed.Errors = nil
	changed.Findings = changed.Findings[:1]
	rs := runStarted()
	rs.Accounts = rs.Accounts[:1]
	var dup []*message.Message
	for _, m := range msgs {
		dup = append(dup, m, m.Copy())
	}
	dup = slices.Insert(dup, 3, mustMsg(t, changed), mustMsg(t, rs))

	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, dup)
	a.Check(context.Background())
	handleAll(t, a, dup) // after emission: late duplicates
	a.Check(context.Background())
	ups := e.blob.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1", len(ups))
	}
	if !bytes.Equal(ups[0].body, ref) {
		t.Error("duplicates changed the workbook")
	}
	if n := testutil.ToFloat64(a.metrics.events.WithLabelValues("AccountScanned", "duplicate")); n != 4+7 {
		t.Errorf("duplicate results counted %v, want 11", n)
	}
	if n := testutil.ToFloat64(a.metrics.events.WithLabelValues("RunStarted", "duplicate")); n != 2+3 {
		t.Errorf("duplicate RunStarted counted %v, want 5", n)
	}
	if len(e.jira.filed()) != 1 {
		t.Errorf("%d tickets", len(e.jira.filed()))
	}
}

func TestResultsBeforeRunStarted(t *testing.T) {
	_, ref := emitOnce(t, allMessages(t))

	msgs := allMessages(t)
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, msgs[1:])
	a.Check(context.Background())
	if n := len(e.blob.uploads()); n != 0 {
		t.Fatalf("%d uploads before RunStarted", n)
	}
	// Held until the RunStarted says which regions cover the run.
	heldN := 0
	for _, err := range e.store.Held(context.Background(), runID) {
		if err != nil {
			t.Fatal(err)
		}
		heldN++
	}
	if heldN != 3 {
		t.Fatalf("%d results held before RunStarted, want 3", heldN)
	}
	handleAll(t, a, msgs[:1])
	select {
	case <-a.kicks:
	default:
		t.Fatal("RunStarted completing the run did not wake the loop")
	}
	a.Check(context.Background())
	ups := e.blob.uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].body, ref) {
		t.Fatalf("%d uploads; same bytes as in order: %v", len(ups), len(ups) == 1 && bytes.Equal(ups[0].body, ref))
	}
}

func TestDeadlineListsMissing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.aggregator("replica-a")
	msgs := allMessages(t)
	handleAll(t, a, msgs[:2]) // RunStarted and 111111111111 only
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 0 {
		t.Fatalf("emitted before the deadline: %d uploads", n)
	}
	e.clock.Add(45 * time.Minute) // now t0+50m, past the deadline
	a.Check(ctx)
	ups := e.blob.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads after the deadline, want 1", len(ups))
	}
	data := ups[0].body
	summary := rows(t, data, report.SheetSummary)
	checkRows(t, "Summary", summary[5:8], [][]string{{"Accounts expected", "3"}, {"Accounts scanned", "1"}, {"Accounts failed or missing", "2"}})
	checkRows(t, "Summary", summary[10:], [][]string{
		{"012345678901", "sandbox", "Root", "", "", "", "", "", "MISSING"},
		{"111111111111", "payments-prod", "Root/Prod/Payments", "3", "1", "2", "4", "33.3%", "PARTIAL"},
		{"222222222222", "locked-down", "Root/Prod", "", "", "", "", "", "MISSING"},
	})
	checkRows(t, "Errors", rows(t, data, report.SheetErrors)[1:], [][]string{
		{"012345678901", "sandbox", "", "missing", "NoResult", "no result before the deadline", "0"},
		{"111111111111", "payments-prod", "eu-west-1", "config", "ThrottlingException", "Rate exceeded", "5"},
		{"222222222222", "locked-down", "", "missing", "NoResult", "no result before the deadline", "0"},
	})
	tk := e.jira.filed()
	if len(tk) != 1 || tk[0].AccountsMissing != 2 {
		t.Fatalf("tickets %d, missing %v", len(tk), tk)
	}

	// A result after the report changes nothing and is counted as late.
	handleAll(t, a, msgs[2:])
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 1 {
		t.Errorf("%d uploads after late results", n)
	}
	if n := testutil.ToFloat64(a.metrics.events.WithLabelValues("AccountScanned", "late")); n != 2 {
		t.Errorf("late results counted %v, want 2", n)
	}
}

// TestTwoReplicasRace runs two aggregators over one store file, each
// through its own connection as two pods would, each receiving every
// message (as after a redelivery storm), with their loops running:
// exactly one upload and one ticket.
func TestTwoReplicasRace(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shared.sqlite")
			raceReplicas(t, openStore(t, path), openStore(t, path))
		})
	}
}

func raceReplicas(t *testing.T, sa, sb store.Store) {
	e := newEnv(t)
	e.store = sa
	as := []*Aggregator{e.aggregator("replica-a"), e.aggregator("replica-b", func(_ *Config, d *Deps) { d.Store = sb })}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, a := range as {
		wg.Go(func() { _ = a.Run(ctx) })
	}
	var hw sync.WaitGroup
	for i, a := range as {
		msgs := allMessages(t)
		if i == 1 {
			slices.Reverse(msgs)
		}
		hw.Go(func() {
			for _, m := range msgs {
				if err := a.Handle(m); err != nil {
					t.Error(err)
				}
			}
		})
	}
	hw.Wait()
	waitFor(t, func() bool { return e.state().TicketKey != "" })
	for _, a := range as { // a few more rounds of both loops
		a.Check(ctx)
	}
	cancel()
	wg.Wait()
	if n := len(e.blob.uploads()); n != 1 {
		t.Errorf("%d uploads, want exactly 1", n)
	}
	if n := len(e.jira.filed()); n != 1 {
		t.Errorf("%d tickets, want exactly 1", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTakeoverAfterCrash: replica A uploads and dies before the emitted
// mark; until its lease lapses B stays away; then B takes over and uploads
// the very same bytes, and A can no longer mark the run.
func TestTakeoverAfterCrash(t *testing.T) {
	takeoverAfterCrash(t, newTestStore(t))
}

func takeoverAfterCrash(t *testing.T, s store.Store) {
	ctx := context.Background()
	e := newEnv(t)
	e.store = s
	e.blob.failPut = 1
	a := e.aggregator("replica-a")
	b := e.aggregator("replica-b")
	handleAll(t, a, allMessages(t))
	if err := a.Emit(ctx, runID); err == nil {
		t.Fatal("emit with a failing upload returned nil")
	}
	claimedAt := e.clock.Now()
	e.clock.Add(30 * time.Second) // A's lease (1m) is live
	b.Check(ctx)
	if n := len(e.blob.uploads()); n != 1 {
		t.Fatalf("B emitted under A's live lease: %d uploads", n)
	}
	e.clock.Add(31 * time.Second) // lapsed
	b.Check(ctx)
	ups := e.blob.uploads()
	if len(ups) != 2 {
		t.Fatalf("%d uploads, want A's and B's", len(ups))
	}
	if ups[0].key != ups[1].key || !bytes.Equal(ups[0].body, ups[1].body) {
		t.Error("the takeover rendered different bytes")
	}
	st := e.state()
	if !st.Emitted || st.ClaimOwner != "replica-b" || !st.GeneratedAt.Equal(claimedAt) {
		t.Errorf("emitted=%v owner=%q generated=%s (want the first claim's %s)", st.Emitted, st.ClaimOwner, st.GeneratedAt, claimedAt)
	}
	if err := e.store.MarkEmitted(ctx, runID, "replica-a", wantKey, "", e.clock.Now()); !errors.Is(err, store.ErrLeaseLost) && !errors.Is(err, store.ErrEmitted) {
		t.Errorf("A marking after the takeover: %v", err)
	}
	if n := len(e.jira.filed()); n != 1 {
		t.Errorf("%d tickets", n)
	}
	if n := testutil.ToFloat64(a.metrics.emitFailures.WithLabelValues("upload")); n != 1 {
		t.Errorf("upload failures on A: %v", n)
	}
}

// TestTakeoverMidRender: A dies while rendering (its renderer fails after
// writing part of the file); B takes over and the result matches a clean
// render.
func TestTakeoverMidRender(t *testing.T) {
	_, ref := emitOnce(t, allMessages(t))
	ctx := context.Background()
	e := newEnv(t)
	crash := func(ctx context.Context, out report.Output, run report.Run, accts []report.Account, errs []report.ErrorRow, fs report.Findings, base *report.Baseline) (report.ChangeCounts, error) {
		_, _ = out.Workbook.Write([]byte("PK\x03\x04 half a zip"))
		return report.ChangeCounts{}, errors.New("killed mid-render")
	}
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Renderer = crash })
	b := e.aggregator("replica-b")
	handleAll(t, a, allMessages(t))
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 0 {
		t.Fatalf("a failed render was uploaded (%d)", n)
	}
	e.clock.Add(2 * time.Minute)
	b.Check(ctx)
	// ref was rendered with GeneratedAt = t0+5m, the same first-claim time.
	ups := e.blob.uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].body, ref) {
		t.Fatalf("%d uploads; equal to a clean render: %v", len(ups), len(ups) == 1 && bytes.Equal(ups[0].body, ref))
	}
}

func TestJiraDownThenRecovers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.jira.failFile = 2
	e.jira.failFind = 1
	a := e.aggregator("replica-a", func(c *Config, _ *Deps) { c.CheckInterval = time.Second; c.BackoffMax = 4 * time.Second })
	handleAll(t, a, allMessages(t))
	a.Check(ctx) // emits; the search fails
	if n := len(e.blob.uploads()); n != 1 {
		t.Fatalf("report not uploaded while Jira is down: %d", n)
	}
	st := e.state()
	if !st.Emitted || st.TicketKey != "" {
		t.Fatalf("emitted=%v ticket=%q", st.Emitted, st.TicketKey)
	}
	a.Check(ctx) // within the backoff (1s): nothing
	if got := testutil.ToFloat64(a.metrics.ticketFailures); got != 1 {
		t.Fatalf("ticket failures %v, want 1 (no retry inside the backoff)", got)
	}
	if got := testutil.ToFloat64(a.metrics.unticketed); got != 1 {
		t.Errorf("unticketed runs %v while Jira is down, want 1", got)
	}
	e.clock.Add(time.Second)
	a.Check(ctx) // file fails (1)
	e.clock.Add(time.Second)
	a.Check(ctx) // backoff now 2s: nothing
	if got := testutil.ToFloat64(a.metrics.ticketFailures); got != 2 {
		t.Fatalf("ticket failures %v, want 2", got)
	}
	e.clock.Add(time.Second)
	a.Check(ctx) // file fails (2)
	e.clock.Add(4 * time.Second)
	a.Check(ctx) // files
	a.Check(ctx)
	if got := testutil.ToFloat64(a.metrics.ticketFailures); got != 3 {
		t.Errorf("ticket failures %v, want 3", got)
	}
	if got := testutil.ToFloat64(a.metrics.unticketed); got != 0 {
		t.Errorf("unticketed runs %v once filed, want 0", got)
	}
	if n := len(e.jira.filed()); n != 1 {
		t.Fatalf("%d tickets, want 1", n)
	}
	if st := e.state(); st.TicketKey != "SEC-1" {
		t.Errorf("ticket key %q", st.TicketKey)
	}
	if n := len(e.blob.uploads()); n != 1 {
		t.Errorf("%d uploads", n)
	}
}

// TestCrashAfterFiling: the ticket is filed but its key not stored; the
// retry finds it by the run label and stores it, filing nothing new.
func TestCrashAfterFiling(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	flaky := &flakyTicketStore{Store: e.store, fail: 1}
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Store = flaky })
	handleAll(t, a, allMessages(t))
	a.Check(ctx)
	if n := len(e.jira.filed()); n != 1 || e.state().TicketKey != "" {
		t.Fatalf("%d tickets, key %q: want one filed and none stored", n, e.state().TicketKey)
	}
	// A restarted replica (no memory of the failure) retries at once.
	e.clock.Add(time.Second)
	a2 := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Store = flaky })
	a2.Check(ctx)
	if n := len(e.jira.filed()); n != 1 {
		t.Errorf("%d tickets, want 1", n)
	}
	if st := e.state(); st.TicketKey != "SEC-1" {
		t.Errorf("ticket key %q", st.TicketKey)
	}
	if n := testutil.ToFloat64(a2.metrics.tickets.WithLabelValues("found")); n != 1 {
		t.Errorf("tickets found %v", n)
	}
}

// TestOtherReplicaWaitsForTicket: a replica that did not emit leaves the
// ticket to the emitter for TicketTakeover, then files it itself.
func TestOtherReplicaWaitsForTicket(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.jira.failFind = 1
	a := e.aggregator("replica-a")
	b := e.aggregator("replica-b")
	handleAll(t, a, allMessages(t))
	a.Check(ctx) // emitted, ticket failed; A then dies
	b.Check(ctx)
	if n := len(e.jira.filed()); n != 0 {
		t.Fatalf("B filed within the takeover wait")
	}
	e.clock.Add(2*time.Minute + time.Second) // TicketTakeover = 2*Lease
	b.Check(ctx)
	if n := len(e.jira.filed()); n != 1 || e.state().TicketKey != "SEC-1" {
		t.Fatalf("%d tickets, key %q", n, e.state().TicketKey)
	}
}

// TestRestartWithNoMessages: state is in the store; a new aggregator's loop
// completes the run without any message.
func TestRestartWithNoMessages(t *testing.T) {
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, allMessages(t))
	<-a.kicks // the first replica dies before its loop runs
	b := e.aggregator("replica-b")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	waitFor(t, func() bool { return e.state().TicketKey != "" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(e.blob.uploads()); n != 1 {
		t.Errorf("%d uploads", n)
	}
}

func TestHandlePoisonAndTransient(t *testing.T) {
	e := newEnv(t)
	a := e.aggregator("replica-a")
	scan, err := events.Codec{}.Marshal(context.Background(), &events.ScanRequested{AccountID: "111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  *message.Message
		want events.Reason
	}{
		{"not json", message.NewMessage("1", []byte("{not json")), events.ReasonMalformed},
		{"unknown type", message.NewMessage("2", []byte(`{"type":"Nope","schema_version":1}`)), events.ReasonUnknownType},
		{"future version", message.NewMessage("3", []byte(`{"type":"RunStarted","schema_version":2}`)), events.ReasonUnknownType},
		{"scan request on the results topic", scan, events.ReasonUnknownType},
		{"invalid account", message.NewMessage("4", []byte(`{"type":"AccountScanned","schema_version":1,"run_id":"r","account_id":"12"}`)), events.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Handle(tc.msg)
			if got := events.ReasonOf(err); got != tc.want {
				t.Errorf("reason %q (err %v), want %q", got, err, tc.want)
			}
		})
	}
	// A store failure is not poison: it is retried.
	broken := newTestStore(t)
	broken.Close()
	b := e.aggregator("replica-b", func(_ *Config, d *Deps) { d.Store = broken })
	err = b.Handle(allMessages(t)[1])
	if err == nil || events.ReasonOf(err) != "" {
		t.Errorf("store failure: %v (reason %q), want a plain error", err, events.ReasonOf(err))
	}
}

func TestStrayResultIgnored(t *testing.T) {
	_, ref := emitOnce(t, allMessages(t))
	stray := results()[1]
	stray.AccountID = "999999999999"
	msgs := append(allMessages(t), mustMsg(t, stray))
	e, data := emitOnce(t, msgs)
	if !bytes.Equal(data, ref) {
		t.Error("a stray result changed the workbook")
	}
	_ = e
}

func TestReportKey(t *testing.T) {
	rs := runStarted()
	rs.StartedAt = time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("HKT", -8*3600)) // 2027-01-01 07:30 UTC
	for prefix, want := range map[string]string{
		"":              "2027/01/01/config-compliance-01KMZ8W4Y0RUN.xlsx",
		"reports":       "reports/2027/01/01/config-compliance-01KMZ8W4Y0RUN.xlsx",
		"a/b":           "a/b/2027/01/01/config-compliance-01KMZ8W4Y0RUN.xlsx",
		"weekly/report": "weekly/report/2027/01/01/config-compliance-01KMZ8W4Y0RUN.xlsx",
	} {
		if got := ReportKey(prefix, rs); got != want {
			t.Errorf("ReportKey(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults", Config{Owner: "pod-1"}, nil},
		{"everything wrong", Config{Lease: time.Millisecond, CheckInterval: -1, ReportPrefix: "/abs/"},
			[]string{"Owner", "Lease", "CheckInterval", "ReportPrefix"}},
		{"backoff under interval", Config{Owner: "x", CheckInterval: time.Minute, BackoffMax: time.Second}, []string{"BackoffMax"}},
		{"negative ticket settings", Config{Owner: "x", TicketBudget: -time.Second, TicketWorkers: -1}, []string{"TicketBudget", "TicketWorkers -1"}},
		{"negative ticket queue", Config{Owner: "x", TicketQueue: -1}, []string{"TicketQueue -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.setDefaults()
			err := c.Validate()
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("unexpected: %v", err)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %s", err, w)
				}
			}
		})
	}
	if _, err := New(Config{Owner: "x"}, Deps{}); err == nil || !strings.Contains(err.Error(), "Store") || !strings.Contains(err.Error(), "Blob") {
		t.Errorf("New without deps: %v", err)
	}
}

// TestLeaseRenewedDuringLongRender: a render longer than the lease keeps
// the run (renewals every Lease/3); when another replica has taken the run
// anyway (renewal too late), the render is cancelled with ErrLeaseLost and
// nothing is uploaded.
func TestLeaseRenewedDuringLongRender(t *testing.T) {
	ctx := context.Background()
	const lease = 300 * time.Millisecond
	t.Run("renewed", func(t *testing.T) {
		e := newEnv(t)
		var stolen error
		slow := func(ctx context.Context, out report.Output, run report.Run, accts []report.Account, errs []report.ErrorRow, fs report.Findings, base *report.Baseline) (report.ChangeCounts, error) {
			// 400ms of fake time, past the 300ms lease; 800ms of real time,
			// so that only a renewal missing for 600ms could let it lapse.
			for range 8 {
				e.clock.Add(50 * time.Millisecond)
				time.Sleep(100 * time.Millisecond)
			}
			_, stolen = e.store.Claim(ctx, runID, "replica-b", e.clock.Now(), lease)
			return report.RenderRun(ctx, out, run, accts, errs, fs, base)
		}
		a := e.aggregator("replica-a", func(c *Config, d *Deps) { c.Lease = lease; d.Renderer = slow })
		handleAll(t, a, allMessages(t))
		if err := a.Emit(ctx, runID); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(stolen, store.ErrClaimed) {
			t.Errorf("another replica claimed mid-render: %v (the lease was not renewed)", stolen)
		}
		if n := len(e.blob.uploads()); n != 1 || !e.state().Emitted {
			t.Errorf("%d uploads, emitted %v", n, e.state().Emitted)
		}
	})
	t.Run("lost", func(t *testing.T) {
		e := newEnv(t)
		stall := func(ctx context.Context, out report.Output, run report.Run, accts []report.Account, errs []report.ErrorRow, fs report.Findings, base *report.Baseline) (report.ChangeCounts, error) {
			e.clock.Add(time.Hour) // this replica stalls (GC, node pressure) past its lease
			if _, err := e.store.Claim(ctx, runID, "replica-b", e.clock.Now(), lease); err != nil {
				return report.ChangeCounts{}, fmt.Errorf("takeover: %w", err)
			}
			select {
			case <-ctx.Done():
				return report.ChangeCounts{}, ctx.Err()
			case <-time.After(10 * time.Second):
				return report.ChangeCounts{}, errors.New("render not cancelled after the lease was lost")
			}
		}
		a := e.aggregator("replica-a", func(c *Config, d *Deps) { c.Lease = lease; d.Renderer = stall })
		handleAll(t, a, allMessages(t))
		err := a.Emit(ctx, runID)
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("emit: %v, want ErrLeaseLost", err)
		}
		if n := len(e.blob.uploads()); n != 0 {
			t.Errorf("%d uploads after losing the lease", n)
		}
	})
}

func TestRerenderEmittedRun(t *testing.T) {
	ctx := context.Background()
	e, ref := emitOnce(t, allMessages(t))
	a := e.aggregator("local")
	if _, err := a.Rerender(ctx, "unknown-run"); err == nil {
		t.Error("re-render of an unknown run succeeded")
	}
	e.clock.Add(24 * time.Hour) // a later day: Generated at must not move
	key, err := a.Rerender(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	ups := e.blob.uploads()
	if key != wantKey || len(ups) != 2 || !bytes.Equal(ups[1].body, ref) {
		t.Errorf("key %q, %d uploads, same bytes %v", key, len(ups), len(ups) == 2 && bytes.Equal(ups[1].body, ref))
	}
	if n := len(e.jira.filed()); n != 1 {
		t.Errorf("re-render filed a ticket (%d)", n)
	}
}

// TestInconsistentResultStillReports: what the renderer would refuse is
// left out and counted, so that one odd result never blocks a run's report.
func TestInconsistentResultStillReports(t *testing.T) {
	odd := results()
	r := odd[0] // PARTIAL, eu-west-1 failed
	r.Rules = append(r.Rules,
		events.Rule{Region: "ap-south-1", Name: "unconfigured-region", Compliance: events.Compliant},                                // dropped
		events.Rule{Region: "eu-west-1", Name: "in-failed-region", Compliance: events.NonCompliant},                                 // dropped
		events.Rule{Region: "us-east-1", Name: "s3-public-read", Owner: "AWS", SourceIdentifier: "X", Compliance: events.Compliant}, // duplicate: dropped
	)
	r.Findings = append(r.Findings,
		finding("eu-west-1", "in-failed-region", "AWS::S3::Bucket", "f1", events.NonCompliant), // dropped
		finding("us-east-1", "no-such-rule", "AWS::S3::Bucket", "f2", events.NonCompliant),     // dropped
		finding("us-east-1", "s3-public-read", "AWS::S3::Bucket", "ok", events.Compliant),      // not a row
	)
	r.Errors = append(r.Errors, events.ScanError{Region: "ap-south-1", Stage: "config", Code: "X", Attempts: 1})      // dropped
	odd[2].Rules = []events.Rule{{Region: "us-east-1", Name: "rule-of-failed-account", Compliance: events.Compliant}} // dropped
	msgs := []*message.Message{mustMsg(t, runStarted())}
	for _, res := range odd {
		msgs = append(msgs, mustMsg(t, res))
	}
	_, ref := emitOnce(t, allMessages(t))
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, msgs)
	a.Check(context.Background())
	ups := e.blob.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads: the odd result blocked the report", len(ups))
	}
	if !bytes.Equal(ups[0].body, ref) {
		t.Error("the left-out parts changed the workbook")
	}
	for what, want := range map[string]float64{"rule": 4, "finding": 2, "error": 1} {
		if got := testutil.ToFloat64(a.metrics.dropped.WithLabelValues(what)); got != want {
			t.Errorf("dropped %s: %v, want %v", what, got, want)
		}
	}
}

// TestFailedEmissionBacksOff: an upload failing again and again is retried
// on a doubling backoff, not at every tick; the run emits once it works.
func TestFailedEmissionBacksOff(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.blob.failPut = 2
	a := e.aggregator("replica-a", func(c *Config, _ *Deps) { c.CheckInterval = time.Second; c.BackoffMax = time.Minute })
	handleAll(t, a, allMessages(t))
	<-a.kicks
	attempts := func() int { return len(e.blob.uploads()) }
	a.Check(ctx) // fails (1); next in 1s
	a.Check(ctx)
	if n := attempts(); n != 1 {
		t.Fatalf("%d attempts, want 1 within the backoff", n)
	}
	e.clock.Add(time.Second)
	a.Check(ctx) // fails (2); next in 2s
	e.clock.Add(time.Second)
	a.Check(ctx)
	if n := attempts(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
	e.clock.Add(time.Second)
	a.Check(ctx) // succeeds
	if n := attempts(); n != 3 || !e.state().Emitted {
		t.Fatalf("%d attempts, emitted %v", n, e.state().Emitted)
	}
}

func TestInvalidForStoreIsPoison(t *testing.T) {
	e := newEnv(t)
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Store = refusingStore{d.Store} })
	err := a.Handle(allMessages(t)[0])
	if events.ReasonOf(err) != events.ReasonMalformed {
		t.Errorf("err %v, want a malformed poison", err)
	}
}

type refusingStore struct{ store.Store }

func (refusingStore) RecordRun(context.Context, *events.RunStarted) (bool, error) {
	return false, fmt.Errorf("%w: run id too long for a key", store.ErrInvalid)
}
