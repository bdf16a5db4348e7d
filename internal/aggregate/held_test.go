package aggregate

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// rendered is what a capturing Renderer was given, by run.
type rendered struct {
	accounts []report.Account
	errs     []report.ErrorRow
	findings []report.Finding
}

func capture(into map[string]*rendered) Renderer {
	return func(ctx context.Context, out report.Output, run report.Run, accounts []report.Account, errs []report.ErrorRow, findings report.Findings, base *report.Baseline) (report.ChangeCounts, error) {
		r := &rendered{accounts: accounts, errs: errs}
		for f, err := range findings {
			if err != nil {
				return report.ChangeCounts{}, err
			}
			r.findings = append(r.findings, f)
		}
		into[run.RunID] = r
		return report.RenderRun(ctx, out, run, accounts, errs, func(yield func(report.Finding, error) bool) {
			for _, f := range r.findings {
				if !yield(f, nil) {
					return
				}
			}
		}, base)
	}
}

func statusOfAccount(r *rendered, id string) report.Status {
	for _, a := range r.accounts {
		if a.ID == id {
			return a.Status
		}
	}
	return ""
}

func resultMsgs(t testing.TB, rs ...*events.AccountScanned) []*message.Message {
	var out []*message.Message
	for _, r := range rs {
		out = append(out, mustMsg(t, r))
	}
	return out
}

// TestHeldCountsOnlyAtDeadline: a result that covers one region of two is
// held; it never makes the run complete, and at the deadline it counts,
// PARTIAL, with a NotScanned row for the other region and the findings of
// the region it covered (merged in account order with the recorded ones).
func TestHeldCountsOnlyAtDeadline(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	got := map[string]*rendered{}
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Renderer = capture(got) })
	res := results()
	res[1].Coverage = res[1].Coverage[:1] // 012345678901: us-east-1 only
	handleAll(t, a, append([]*message.Message{mustMsg(t, runStarted())}, resultMsgs(t, res...)...))
	if kicked(a) {
		t.Fatal("a held result made the run complete")
	}
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 0 {
		t.Fatalf("%d uploads before the deadline with a result held", n)
	}
	if st := e.state(); st.Results != 2 {
		t.Fatalf("Results = %d, want 2 (the held one does not count)", st.Results)
	}
	if n := testutil.ToFloat64(a.metrics.held.WithLabelValues("uncovered")); n != 1 {
		t.Errorf("held{uncovered} = %v, want 1", n)
	}
	e.clock.Add(45 * time.Minute)
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 1 {
		t.Fatalf("%d uploads after the deadline, want 1", n)
	}
	r := got[string(runID)]
	if s := statusOfAccount(r, "012345678901"); s != report.StatusPartial {
		t.Errorf("held account status = %s, want PARTIAL", s)
	}
	want := report.ErrorRow{AccountID: "012345678901", Region: "eu-west-1", Stage: events.StageConfig,
		Code: events.CodeNotScanned, Message: messageNotScanned}
	if !slices.Contains(r.errs, want) {
		t.Errorf("no NotScanned row for the uncovered region in %+v", r.errs)
	}
	var ids []string
	for _, f := range r.findings {
		ids = append(ids, f.AccountID+"/"+f.ResourceID)
	}
	if !slices.Contains(ids, "012345678901/logs") || len(ids) != 5 {
		t.Errorf("findings = %v, want the held account's us-east-1 one and the 4 of 111111111111", ids)
	}
	if n := testutil.ToFloat64(a.metrics.heldCounted); n != 1 {
		t.Errorf("held results counted = %v, want 1", n)
	}
}

// TestHeldWithoutCoverageAtDeadline: results with no coverage at all (a
// scanner from before coverage) are all held, and all count at the
// deadline: no account is MISSING.
func TestHeldWithoutCoverageAtDeadline(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	got := map[string]*rendered{}
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Renderer = capture(got) })
	handleAll(t, a, append([]*message.Message{mustMsg(t, runStarted())}, resultMsgs(t, resultsUncovered()...)...))
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 0 {
		t.Fatalf("%d uploads before the deadline", n)
	}
	e.clock.Add(45 * time.Minute)
	a.Check(ctx)
	r := got[string(runID)]
	if r == nil {
		t.Fatal("not emitted at the deadline")
	}
	for id, want := range map[string]report.Status{"111111111111": report.StatusPartial, "012345678901": report.StatusPartial, "222222222222": report.StatusFailed} {
		if s := statusOfAccount(r, id); s != want {
			t.Errorf("%s status = %s, want %s", id, s, want)
		}
	}
	notScanned := 0
	for _, row := range r.errs {
		if row.Code == events.CodeNotScanned {
			notScanned++
		}
	}
	// 2 regions x 3 accounts, less 111111111111's eu-west-1, which has
	// its own config row.
	if notScanned != 5 {
		t.Errorf("%d NotScanned rows, want 5: %+v", notScanned, r.errs)
	}
	if len(r.findings) != 0 {
		t.Errorf("%d findings from regions no result covered", len(r.findings))
	}
}

// TestCoveringReplacesHeld: a one-region "ok" result sent first (a
// ScanRequested with the live run's id and one region) does not win:
// the covering result replaces it and the report is the one without it.
func TestCoveringReplacesHeld(t *testing.T) {
	_, ref := emitOnce(t, allMessages(t))
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprintf("before RunStarted %v", early), func(t *testing.T) {
			e := newEnv(t)
			a := e.aggregator("replica-a")
			forged := &events.AccountScanned{RunID: runID, AccountID: "111111111111", Status: events.StatusOK,
				ScannedAt: t0, Coverage: coverage(events.ReadYes)[:1]}
			msgs := allMessages(t)
			seq := append([]*message.Message{msgs[0], mustMsg(t, forged)}, msgs[1:]...)
			if early {
				seq = append([]*message.Message{mustMsg(t, forged)}, msgs...)
			}
			handleAll(t, a, seq)
			a.Check(context.Background())
			ups := e.blob.uploads()
			if len(ups) != 1 || !bytes.Equal(ups[0].body, ref) {
				t.Fatalf("%d uploads; same bytes as without the forged result: %v", len(ups), len(ups) == 1 && bytes.Equal(ups[0].body, ref))
			}
		})
	}
}

// TestSecondRunStartedChangesNothing: a second, different RunStarted for
// the live run, with fewer accounts and a deadline already passed, neither
// completes the run early nor changes its report.
func TestSecondRunStartedChangesNothing(t *testing.T) {
	ctx := context.Background()
	_, ref := emitOnce(t, allMessages(t))
	e := newEnv(t)
	a := e.aggregator("replica-a")
	msgs := allMessages(t)
	handleAll(t, a, msgs[:3]) // RunStarted, two results of three
	forged := runStarted()
	forged.Accounts = forged.Accounts[:2]
	forged.Deadline = t0.Add(time.Minute)
	handleAll(t, a, []*message.Message{mustMsg(t, forged)})
	if kicked(a) {
		t.Fatal("the second RunStarted made the run complete")
	}
	a.Check(ctx)
	if n := len(e.blob.uploads()); n != 0 {
		t.Fatalf("%d uploads after a second RunStarted with fewer accounts", n)
	}
	if st := e.state(); len(st.Started.Accounts) != 3 || !st.Started.Deadline.Equal(t0.Add(45*time.Minute)) {
		t.Fatalf("the stored RunStarted changed: %d accounts, deadline %s", len(st.Started.Accounts), st.Started.Deadline)
	}
	handleAll(t, a, msgs[3:])
	a.Check(ctx)
	ups := e.blob.uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].body, ref) {
		t.Fatalf("%d uploads; same bytes as without the second RunStarted: %v", len(ups), len(ups) == 1 && bytes.Equal(ups[0].body, ref))
	}
}

// pendingSpy records the limits Pending was called with.
type pendingSpy struct {
	store.Store
	limits []int
}

func (s *pendingSpy) Pending(ctx context.Context, limit int) ([]store.RunState, error) {
	s.limits = append(s.limits, limit)
	return s.Store.Pending(ctx, limit)
}

// TestPendingBoundedPerPass: with more pending runs than MaxPending, a
// flood of far deadlines whose ids sort first, the loop still loads and
// emits the complete run whose deadline is nearest.
func TestPendingBoundedPerPass(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	spy := &pendingSpy{Store: e.store}
	a := e.aggregator("replica-a", func(c *Config, d *Deps) { c.MaxPending = 5; d.Store = spy })
	for i := range 20 {
		flood := runStarted()
		flood.RunID = ident.RunID(fmt.Sprintf("00flood-%02d", i))
		flood.Deadline = t0.Add(events.MaxRunLength)
		if _, err := e.store.RecordRun(ctx, flood); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.RecordRun(ctx, runStarted()); err != nil {
		t.Fatal(err)
	}
	for _, r := range results() {
		if _, err := e.store.RecordResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	a.Check(ctx)
	if !slices.Equal(spy.limits, []int{5}) {
		t.Errorf("Pending limits = %v, want [5]", spy.limits)
	}
	if ups := e.blob.uploads(); len(ups) != 1 {
		t.Fatalf("%d uploads, want the real run's one", len(ups))
	}
	if st := e.state(); !st.Emitted {
		t.Fatal("the real run was not emitted behind the flood")
	}
}

func adhocRun(id ident.RunID, startedAt time.Time) *events.RunStarted {
	r := runStarted()
	r.RunID, r.Trigger = id, events.TriggerAdhoc
	r.StartedAt, r.Deadline = startedAt, startedAt.Add(45*time.Minute)
	r.Accounts = r.Accounts[1:2] // 012345678901
	return r
}

// TestAdhocJoin: a second ad-hoc request for an account whose ad-hoc run
// has no result yet joins it: one report, one ticket, and the joined run's
// result (whether before or after its RunStarted) counts for the open run.
func TestAdhocJoin(t *testing.T) {
	for _, resultFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("result before RunStarted %v", resultFirst), func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			a := e.aggregator("replica-a")
			first, second := adhocRun("adhoc-1", t0), adhocRun("adhoc-2", t0.Add(time.Minute))
			res := results()[1]
			res.RunID = "adhoc-2"
			msgs := []*message.Message{mustMsg(t, first), mustMsg(t, second), mustMsg(t, res)}
			if resultFirst {
				msgs = []*message.Message{mustMsg(t, first), mustMsg(t, res), mustMsg(t, second)}
			}
			handleAll(t, a, msgs)
			if n := testutil.ToFloat64(a.metrics.adhocJoined); n != 1 {
				t.Errorf("joined ad-hoc runs = %v, want 1", n)
			}
			select {
			case id := <-a.kicks:
				if id != "adhoc-1" {
					t.Errorf("kicked %s, want adhoc-1", id)
				}
			default:
				t.Error("the joined run's result did not complete the open run")
			}
			a.Check(ctx)
			e.clock.Add(2 * time.Hour) // both deadlines passed
			a.Check(ctx)
			ups := e.blob.uploads()
			if len(ups) != 1 || !bytes.Contains([]byte(ups[0].key), []byte("adhoc-1")) {
				t.Fatalf("uploads = %d (%v), want adhoc-1's only", len(ups), ups)
			}
			st, err := e.store.Run(ctx, "adhoc-1")
			if err != nil || st.Results != 1 {
				t.Fatalf("adhoc-1: %d results, %v; want 1", st.Results, err)
			}
			if n := len(e.jira.filed()); n != 1 {
				t.Errorf("%d tickets, want 1", n)
			}
		})
	}
}

func TestConvertUncovered(t *testing.T) {
	regionSet := map[ident.Region]bool{"us-east-1": true, "eu-west-1": true}
	rule := func(r ident.Region) events.Rule {
		return events.Rule{Region: r, Name: "s3-public-read", Owner: "AWS", Compliance: events.NonCompliant}
	}
	notScanned := func(r ident.Region) report.ErrorRow {
		return report.ErrorRow{AccountID: "111111111111", Region: string(r), Stage: events.StageConfig,
			Code: events.CodeNotScanned, Message: messageNotScanned, Attempts: 0}
	}
	tests := []struct {
		name      string
		status    events.Status
		errs      []events.ScanError
		uncovered []ident.Region
		wantState report.Status
		wantErrs  []report.ErrorRow
		wantRules int
	}{
		{"covering result", events.StatusOK, nil, nil, report.StatusOK, nil, 2},
		{"one region uncovered: PARTIAL, its rules left out", events.StatusOK, nil, []ident.Region{"eu-west-1"},
			report.StatusPartial, []report.ErrorRow{notScanned("eu-west-1")}, 1},
		{"nothing covered", events.StatusOK, nil, []ident.Region{"us-east-1", "eu-west-1"},
			report.StatusPartial, []report.ErrorRow{notScanned("us-east-1"), notScanned("eu-west-1")}, 0},
		{"failed stays FAILED", events.StatusFailed, []events.ScanError{{Stage: events.StageAssumeRole, Code: "AccessDenied", Attempts: 1}},
			[]ident.Region{"eu-west-1"}, report.StatusFailed,
			[]report.ErrorRow{{AccountID: "111111111111", Stage: events.StageAssumeRole, Code: "AccessDenied", Attempts: 1}, notScanned("eu-west-1")}, 0},
		{"Truncated from the scanner flows through as a normal error", events.StatusPartial,
			[]events.ScanError{{Region: "eu-west-1", Stage: events.StageConfig, Code: events.CodeTruncated, Message: "findings cap", Attempts: 1}}, nil,
			report.StatusPartial, []report.ErrorRow{{AccountID: "111111111111", Region: "eu-west-1", Stage: events.StageConfig, Code: events.CodeTruncated, Message: "findings cap", Attempts: 1}}, 1},
		{"a config row there already: no second row", events.StatusPartial,
			[]events.ScanError{{Region: "eu-west-1", Stage: events.StageConfig, Code: "Throttling", Attempts: 5}}, []ident.Region{"eu-west-1"},
			report.StatusPartial, []report.ErrorRow{{AccountID: "111111111111", Region: "eu-west-1", Stage: events.StageConfig, Code: "Throttling", Attempts: 5}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &events.AccountScanned{RunID: runID, AccountID: "111111111111", Status: tt.status, Errors: tt.errs,
				Rules: []events.Rule{rule("us-east-1"), rule("eu-west-1")}}
			c := convert(res, events.Account{}, regionSet, tt.uncovered)
			if c.account.Status != tt.wantState {
				t.Errorf("status = %s, want %s", c.account.Status, tt.wantState)
			}
			if !slices.Equal(c.errs, tt.wantErrs) {
				t.Errorf("errors = %+v\nwant %+v", c.errs, tt.wantErrs)
			}
			if len(c.account.Rules) != tt.wantRules {
				t.Errorf("%d rules, want %d", len(c.account.Rules), tt.wantRules)
			}
		})
	}
}

// blockingPending holds every Pending call after the first until release
// is closed: a pass over a flood of pending runs that outlasts the check
// interval.
type blockingPending struct {
	store.Store
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (s *blockingPending) Pending(ctx context.Context, limit int) ([]store.RunState, error) {
	if s.calls.Add(1) == 2 {
		close(s.entered)
	}
	if s.calls.Load() >= 2 {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Store.Pending(ctx, limit)
}

// TestKickDuringSlowPass: a run that completes while the loop's pass is
// still going (a flood of pending runs makes a pass outlast the check
// interval) is emitted at once, not after the pass (chaos scenario 12).
func TestKickDuringSlowPass(t *testing.T) {
	e := newEnv(t)
	slow := &blockingPending{Store: e.store, entered: make(chan struct{}), release: make(chan struct{})}
	a := e.aggregator("replica-a", func(c *Config, d *Deps) { d.Store = slow })
	msgs := allMessages(t)
	last := msgs[len(msgs)-1]
	handleAll(t, a, msgs[:len(msgs)-1])

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		close(slow.release)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-slow.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop's second pass never started")
	}
	handleAll(t, a, []*message.Message{last}) // completes the run: a kick
	deadline := time.Now().Add(10 * time.Second)
	for len(e.blob.uploads()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the completed run was not emitted while the loop's pass was still going")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
