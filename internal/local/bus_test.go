package local

import (
	"context"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

func TestTallyCountsDistinctResults(t *testing.T) {
	ctx := context.Background()
	codec := events.Codec{}
	b := newBus()
	t.Cleanup(func() { b.Close() })
	publish := func(acct string, status events.Status) {
		t.Helper()
		r := &events.AccountScanned{RunID: "01JD0000000000000000000000", AccountID: ident.AccountID(acct), Status: status,
			ScannedAt: time.Now(), Rules: []events.Rule{}, Findings: []events.Finding{}, Errors: []events.ScanError{}}
		if status == events.StatusFailed {
			r.Errors = append(r.Errors, events.ScanError{Stage: events.StageAssumeRole, Code: "AccessDenied", Message: "no", Attempts: 1})
		}
		m, err := codec.Marshal(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Publisher().Publish(events.TopicResults, m); err != nil {
			t.Fatal(err)
		}
	}
	publish("111111111111", events.StatusOK)
	publish("222222222222", events.StatusFailed)
	publish("222222222222", events.StatusOK) // a duplicate: the first stays
	done, failed := b.tally.counts("01JD0000000000000000000000")
	if done != 2 || failed != 1 {
		t.Errorf("counts = %d done, %d failed; want 2, 1", done, failed)
	}
}
