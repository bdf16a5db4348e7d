package aggregate

import (
	"context"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// runMessages is allMessages for another run id.
func runMessages(t testing.TB, id ident.RunID) []*message.Message {
	rs := runStarted()
	rs.RunID = id
	msgs := []*message.Message{mustMsg(t, rs)}
	for _, r := range results() {
		r.RunID = id
		msgs = append(msgs, mustMsg(t, r))
	}
	return msgs
}

func (e *env) run(id ident.RunID) store.RunState {
	e.t.Helper()
	st, err := e.store.Run(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) uploaded(id ident.RunID) bool {
	return slices.ContainsFunc(e.blob.uploads(), func(u upload) bool { return path.Base(u.key) == report.FileName(string(id)) })
}

// runLoop runs a's loop until the returned stop is called; stop fails the
// test when the loop (and its ticket workers) does not return promptly.
func runLoop(t *testing.T, a *Aggregator) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of its context's end: shutdown hangs on a ticket")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestEmissionDoesNotWaitForJira: Jira holds the first run's ticket (its
// search does not answer); a second run completes meanwhile and is
// emitted (uploaded, marked) without waiting. With one worker, the second
// run's ticket waits in the queue, once, however many passes of the loop
// hand it over; released, Jira gets both tickets; the loop then stops
// promptly.
func TestEmissionDoesNotWaitForJira(t *testing.T) {
	e := newEnv(t)
	e.jira.findGate = make(chan struct{})
	a := e.aggregator("replica-a", func(c *Config, _ *Deps) { c.TicketWorkers = 1 })
	stop := runLoop(t, a)

	handleAll(t, a, runMessages(t, "run-1"))
	waitFor(t, func() bool { return e.jira.finding.Load() == 1 }) // run-1's ticket is in Jira's hands
	if st := e.run("run-1"); !st.Emitted || !e.uploaded("run-1") {
		t.Fatalf("run-1: emitted %v, uploaded %v", st.Emitted, e.uploaded("run-1"))
	}

	handleAll(t, a, runMessages(t, "run-2"))
	waitFor(t, func() bool { return e.run("run-2").Emitted })
	if !e.uploaded("run-2") {
		t.Fatal("run-2 marked emitted without its upload")
	}
	// More passes of the loop (ticker 10ms) and by hand: run-2's ticket is
	// queued once, run-1's still in Jira's hands.
	for range 5 {
		a.Check(context.Background())
	}
	time.Sleep(50 * time.Millisecond)
	if n, f := e.jira.finding.Load(), e.jira.files.Load(); n != 1 || f != 0 {
		t.Fatalf("while Jira holds run-1: %d searches, %d filings; want 1 (run-1's), 0", n, f)
	}
	a.tickets.mu.Lock()
	queued, busy := len(a.tickets.jobs), len(a.tickets.busy)
	a.tickets.mu.Unlock()
	if queued != 1 || busy != 2 {
		t.Errorf("%d queued, %d queued or in progress; want 1 (run-2), 2", queued, busy)
	}

	close(e.jira.findGate)
	waitFor(t, func() bool { return e.run("run-1").TicketKey != "" && e.run("run-2").TicketKey != "" })
	stop()
	if n := e.jira.files.Load(); n != 2 {
		t.Errorf("%d tickets filed, want 2", n)
	}
	if n := testutil.ToFloat64(a.metrics.ticketFailures); n != 0 {
		t.Errorf("%v ticket failures, want 0", n)
	}
}

// TestShutdownWhileJiraHangs: Jira never answers; the loop still stops
// promptly, and the run stays unticketed for the next start.
func TestShutdownWhileJiraHangs(t *testing.T) {
	e := newEnv(t)
	e.jira.findGate = make(chan struct{}) // never released
	a := e.aggregator("replica-a")
	stop := runLoop(t, a)
	handleAll(t, a, allMessages(t))
	waitFor(t, func() bool { return e.jira.finding.Load() == 1 })
	stop()
	if st := e.state(); !st.Emitted || st.TicketKey != "" {
		t.Errorf("emitted %v, ticket %q; want emitted and unticketed", st.Emitted, st.TicketKey)
	}
	if n := testutil.ToFloat64(a.metrics.ticketFailures); n != 0 {
		t.Errorf("%v ticket failures counted for a try cut short by shutdown, want 0", n)
	}
	// Handed over after the workers stopped: filed inline, not lost in a
	// queue nobody reads.
	e.jira.findGate = nil
	a.Check(context.Background())
	if st := e.state(); st.TicketKey != "SEC-1" {
		t.Errorf("after the loop stopped, Check stored ticket %q, want SEC-1", st.TicketKey)
	}
}

// TestTicketBudget: a try at the ticket lasts TicketBudget at most, then
// counts as a failure naming the budget, and the run is retried on its
// backoff.
func TestTicketBudget(t *testing.T) {
	e := newEnv(t)
	e.jira.findGate = make(chan struct{}) // Jira never answers
	var logs logBuffer
	a := e.aggregator("replica-a", func(c *Config, d *Deps) {
		c.TicketBudget = 50 * time.Millisecond
		d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	handleAll(t, a, allMessages(t))
	done := make(chan struct{})
	go func() {
		a.Check(context.Background()) // no workers: the ticket is tried inline
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(e.jira.findGate)
		<-done
		t.Fatal("a try at the ticket outlived its 50ms budget")
	}
	if n := testutil.ToFloat64(a.metrics.ticketFailures); n != 1 {
		t.Errorf("%v ticket failures, want 1", n)
	}
	a.mu.Lock()
	r, backedOff := a.backoff[runID]
	a.mu.Unlock()
	if !backedOff || r.failures != 1 {
		t.Errorf("backoff %+v (%v), want one failure", r, backedOff)
	}
	if st := e.state(); !st.Emitted || st.TicketKey != "" {
		t.Errorf("emitted %v, ticket %q", st.Emitted, st.TicketKey)
	}
	if !strings.Contains(logs.String(), "ticket budget of 50ms spent") {
		t.Errorf("the failure does not name the budget:\n%s", logs.String())
	}
}

// TestTicketQueueBounded: with one worker busy and a queue of one, a third
// run's ticket is not queued (the queue is full) but handed over again by
// a later pass; in the end every run has its one ticket.
func TestTicketQueueBounded(t *testing.T) {
	e := newEnv(t)
	e.jira.findGate = make(chan struct{})
	a := e.aggregator("replica-a", func(c *Config, _ *Deps) { c.TicketWorkers, c.TicketQueue = 1, 1 })
	stop := runLoop(t, a)
	ids := []ident.RunID{"run-1", "run-2", "run-3"}
	for _, id := range ids {
		handleAll(t, a, runMessages(t, id))
		waitFor(t, func() bool { return e.run(id).Emitted })
	}
	occupancy := func() (int, int) {
		a.tickets.mu.Lock()
		defer a.tickets.mu.Unlock()
		return len(a.tickets.jobs), len(a.tickets.busy)
	}
	waitFor(t, func() bool { q, b := occupancy(); return q == 1 && b == 2 })
	for range 5 { // more passes: the third run still finds the queue full
		a.Check(context.Background())
	}
	if q, b := occupancy(); q != 1 || b != 2 || e.jira.finding.Load() != 1 {
		t.Errorf("%d queued, %d queued or in progress, %d in Jira; want 1, 2 (the third left for a later pass), 1", q, b, e.jira.finding.Load())
	}
	close(e.jira.findGate)
	waitFor(t, func() bool {
		return !slices.ContainsFunc(ids, func(id ident.RunID) bool { return e.run(id).TicketKey == "" })
	})
	stop()
	if n := e.jira.files.Load(); n != 3 {
		t.Errorf("%d tickets filed, want 3", n)
	}
}
