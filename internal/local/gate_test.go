package local

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// The bus keeps back the results of the run being opened until Release
// (its RunStarted recorded), and only those: other runs' results and the
// RunStarted itself go through; past its budget it lets everything go.
func TestGateKeepsResultsUntilRelease(t *testing.T) {
	const gated, other ident.RunID = "01JD0000000000000000000001", "01JD0000000000000000000002"
	type pub struct {
		run   ident.RunID
		acct  ident.AccountID
		start bool // a RunStarted, not a result
	}
	for _, tc := range []struct {
		name        string
		gate        bool
		budget      int
		pubs        []pub
		wantBefore  []string // delivered before Release, in order ("start" for a RunStarted)
		wantRelease []string // delivered by Release
	}{
		{name: "no gate", pubs: []pub{{run: gated, acct: "111111111111"}},
			wantBefore: []string{"111111111111"}},
		{name: "gated run kept, others through", gate: true,
			pubs:        []pub{{run: gated, acct: "111111111111"}, {run: other, acct: "222222222222"}, {run: gated, start: true}, {run: gated, acct: "333333333333"}},
			wantBefore:  []string{"222222222222", "start"},
			wantRelease: []string{"111111111111", "333333333333"}},
		{name: "over budget: let go", gate: true, budget: 1,
			pubs:       []pub{{run: gated, acct: "111111111111"}, {run: gated, acct: "333333333333"}},
			wantBefore: []string{"111111111111", "333333333333"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b := newBus()
			defer b.Close()
			if tc.budget > 0 {
				b.gate.budget = tc.budget
			}
			if tc.gate {
				b.Gate(gated)
			}
			msgs, err := b.Subscriber().Subscribe(ctx, events.TopicResults)
			if err != nil {
				t.Fatal(err)
			}
			codec := events.Codec{}
			for _, p := range tc.pubs {
				var ev events.Event = &events.AccountScanned{RunID: p.run, AccountID: p.acct, Status: events.StatusOK,
					ScannedAt: time.Now(), Rules: []events.Rule{}, Findings: []events.Finding{}, Errors: []events.ScanError{}}
				if p.start {
					ev = &events.RunStarted{RunID: p.run, Trigger: events.TriggerScheduled, StartedAt: time.Now(), Deadline: time.Now().Add(time.Hour),
						Regions: []ident.Region{"us-east-1"}, Accounts: []events.Account{{AccountID: "111111111111"}}}
				}
				m, err := codec.Marshal(ctx, ev)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Publisher().Publish(events.TopicResults, m); err != nil {
					t.Fatal(err)
				}
			}
			// Publish is synchronous: what the queue holds (waiting, or
			// taken by the subscription) is all that went through.
			if waiting, inFlight := b.q.Depth(events.TopicResults); waiting+inFlight != len(tc.wantBefore) {
				t.Fatalf("%d messages went through before Release, want %v", waiting+inFlight, tc.wantBefore)
			}
			if got := drain(t, msgs, len(tc.wantBefore)); !equal(got, tc.wantBefore) {
				t.Fatalf("before Release: %v, want %v", got, tc.wantBefore)
			}
			if kept := len(b.gate.kept); kept != len(tc.wantRelease) {
				t.Fatalf("%d results kept back, want %v", kept, tc.wantRelease)
			}
			if err := b.Release(gated); err != nil {
				t.Fatal(err)
			}
			if got := drain(t, msgs, len(tc.wantRelease)); !equal(got, tc.wantRelease) {
				t.Fatalf("after Release: %v, want %v", got, tc.wantRelease)
			}
			want := 0
			for _, p := range tc.pubs {
				if p.run == gated && !p.start {
					want++
				}
			}
			if done, _ := b.tally.counts(string(gated)); done != want {
				t.Errorf("progress counts %d results of the gated run, want %d (kept back or not)", done, want)
			}
		})
	}
}

// drain takes n messages, acking each, and names them.
func drain(t *testing.T, msgs <-chan *message.Message, n int) []string {
	t.Helper()
	var out []string
	for range n {
		m := <-msgs
		h, err := events.Peek(m.Payload, events.PeekType, events.PeekAccountID)
		if err != nil {
			t.Fatal(err)
		}
		if *h.Type == events.TypeRunStarted {
			out = append(out, "start")
		} else {
			out = append(out, *h.AccountID)
		}
		m.Ack()
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
