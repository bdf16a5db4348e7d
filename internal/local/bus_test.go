package local

import (
	"context"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/msg"
)

type memPayloads map[string][]byte

func (m memPayloads) PutPayload(_ context.Context, key string, body []byte) error {
	m[key] = body
	return nil
}

func (m memPayloads) GetPayload(_ context.Context, key string, limit int64) ([]byte, error) {
	if int64(len(m[key])) > limit {
		return nil, events.ErrPayloadTooLarge
	}
	return m[key], nil
}

func TestReadResultHeader(t *testing.T) {
	ctx := context.Background()
	codec := events.Codec{Payloads: memPayloads{}, MaxInline: 600}
	result := func(acct string, status events.Status, findings int) *events.AccountScanned {
		r := &events.AccountScanned{RunID: "01JD0000000000000000000000", AccountID: ident.AccountID(acct), Status: status,
			ScannedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Rules: []events.Rule{}, Errors: []events.ScanError{}}
		for range findings {
			r.Findings = append(r.Findings, events.Finding{Region: "us-east-1", Rule: "r", Compliance: events.NonCompliant, ResourceType: "AWS::S3::Bucket", ResourceID: "b"})
		}
		if status == events.StatusFailed {
			r.Errors = append(r.Errors, events.ScanError{Stage: events.StageAssumeRole, Code: "AccessDenied", Message: "no", Attempts: 1})
		}
		return r
	}
	body := func(ev events.Event) []byte {
		t.Helper()
		m, err := codec.Marshal(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return m.Payload
	}
	run := &events.RunStarted{RunID: "01JD0000000000000000000000", Trigger: events.TriggerScheduled,
		StartedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Deadline: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC),
		Regions: []ident.Region{"us-east-1"}, Accounts: []events.Account{{AccountID: "111111111111", Name: "a", OUPath: "Root"}}}
	tests := []struct {
		name   string
		body   []byte
		want   resultHeader
		wantOK bool
	}{
		{"inline result", body(result("111111111111", events.StatusOK, 0)),
			resultHeader{events.TypeAccountScanned, "01JD0000000000000000000000", "111111111111", events.StatusOK}, true},
		{"failed result", body(result("222222222222", events.StatusFailed, 0)),
			resultHeader{events.TypeAccountScanned, "01JD0000000000000000000000", "222222222222", events.StatusFailed}, true},
		{"claim-check stub: other key order, no status", body(result("333333333333", events.StatusOK, 20)),
			resultHeader{events.TypeAccountScanned, "01JD0000000000000000000000", "333333333333", ""}, true},
		{"another event type", body(run), resultHeader{Type: events.TypeRunStarted, RunID: "01JD0000000000000000000000"}, true},
		{"the header is enough: the rest is the aggregator's to refuse",
			[]byte(`{"type":"AccountScanned","schema_version":1,"run_id":"r","account_id":"a","status":"ok","rules":[nonsense`),
			resultHeader{events.TypeAccountScanned, "r", "a", events.StatusOK}, true},
		{"not JSON", []byte(`nope`), resultHeader{}, false},
		{"not an object", []byte(`["type"]`), resultHeader{}, false},
		{"status not a string", []byte(`{"type":"AccountScanned","status":1}`), resultHeader{Type: events.TypeAccountScanned}, false},
		{"truncated header", []byte(`{"type":"AccountScanned","run_id":`), resultHeader{Type: events.TypeAccountScanned}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readResultHeader(tt.body)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("readResultHeader(%.80s) = %+v, %v; want %+v, %v", tt.body, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

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
		if err := b.Publisher().Publish(msg.TopicResults, m); err != nil {
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
