package events

import (
	"context"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
)

func TestPeek(t *testing.T) {
	ctx := context.Background()
	codec := Codec{Payloads: &memPayloads{}, MaxInline: 600}
	result := func(acct string, status Status, findings int) *AccountScanned {
		r := &AccountScanned{RunID: "01JD0000000000000000000000", AccountID: ident.AccountID(acct), Status: status,
			ScannedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Rules: []Rule{}, Errors: []ScanError{}}
		for range findings {
			r.Findings = append(r.Findings, Finding{Region: "us-east-1", Rule: "r", Compliance: NonCompliant, ResourceType: "AWS::S3::Bucket", ResourceID: "b"})
		}
		if status == StatusFailed {
			r.Errors = append(r.Errors, ScanError{Stage: StageAssumeRole, Code: "AccessDenied", Message: "no", Attempts: 1})
		}
		return r
	}
	body := func(ev Event) []byte {
		t.Helper()
		m, err := codec.Marshal(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return m.Payload
	}
	run := &RunStarted{RunID: "01JD0000000000000000000000", Trigger: TriggerScheduled,
		StartedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Deadline: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC),
		Regions: []ident.Region{"us-east-1"}, Accounts: []Account{{AccountID: "111111111111", Name: "a", OUPath: "Root"}}}
	// peeked is a Peeked as strings, "-" for nil.
	type peeked struct{ typ, version, run, acct, status string }
	str := func(p Peeked) peeked {
		s := func(v *string) string {
			if v == nil {
				return "-"
			}
			return *v
		}
		out := peeked{"-", "-", s(p.RunID), s(p.AccountID), "-"}
		if p.Type != nil {
			out.typ = string(*p.Type)
		}
		if p.SchemaVersion != nil {
			out.version = "1"
			if *p.SchemaVersion != 1 {
				out.version = "other"
			}
		}
		if p.Status != nil {
			out.status = string(*p.Status)
		}
		return out
	}
	result4 := []string{PeekType, PeekRunID, PeekAccountID, PeekStatus}
	header := []string{PeekType, PeekSchemaVersion}
	tests := []struct {
		name    string
		body    []byte
		fields  []string
		want    peeked
		wantErr bool
	}{
		{"inline result", body(result("111111111111", StatusOK, 0)), result4,
			peeked{"AccountScanned", "-", "01JD0000000000000000000000", "111111111111", "ok"}, false},
		{"failed result", body(result("222222222222", StatusFailed, 0)), result4,
			peeked{"AccountScanned", "-", "01JD0000000000000000000000", "222222222222", "failed"}, false},
		{"claim-check stub: other key order, no status", body(result("333333333333", StatusOK, 20)), result4,
			peeked{"AccountScanned", "-", "01JD0000000000000000000000", "333333333333", "-"}, false},
		{"another event type", body(run), result4, peeked{"RunStarted", "-", "01JD0000000000000000000000", "-", "-"}, false},
		{"the header is enough: the rest is the consumer's to refuse",
			[]byte(`{"type":"AccountScanned","schema_version":1,"run_id":"r","account_id":"a","status":"ok","rules":[nonsense`), result4,
			peeked{"AccountScanned", "-", "r", "a", "ok"}, false},
		{"only the fields named", body(result("111111111111", StatusOK, 0)), header,
			peeked{"AccountScanned", "1", "-", "-", "-"}, false},
		{"stops once found", []byte(`{"schema_version":1,"type":"RunStarted",nonsense`), header, peeked{"RunStarted", "1", "-", "-", "-"}, false},
		{"the first of a field given twice", []byte(`{"type":"RunStarted","type":"AccountScanned"}`), header, peeked{"RunStarted", "-", "-", "-", "-"}, false},
		{"null is not found", []byte(`{"type":null,"schema_version":1}`), header, peeked{"-", "1", "-", "-", "-"}, false},
		{"not JSON", []byte(`nope`), result4, peeked{}, true},
		{"not an object", []byte(`["type"]`), result4, peeked{}, true},
		{"status not a string", []byte(`{"type":"AccountScanned","status":1}`), result4, peeked{}, true},
		{"truncated header", []byte(`{"type":"AccountScanned","run_id":`), result4, peeked{}, true},
		{"unknown field", []byte(`{}`), []string{"rules"}, peeked{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Peek(tt.body, tt.fields...)
			if (err != nil) != tt.wantErr || (err == nil && str(got) != tt.want) {
				t.Errorf("Peek(%.80s) = %+v, %v; want %+v, error %v", tt.body, str(got), err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestPeekHeader: the header of the bodies the codec writes is read from
// their first bytes (the fast path), and whatever peekHeader reads agrees
// with Peek; any other spelling is left to Peek.
func TestPeekHeader(t *testing.T) {
	codecBody := func(ev Event) string {
		t.Helper()
		m, err := Codec{}.Marshal(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return string(m.Payload)
	}
	tests := []struct {
		name string
		body string
		fast bool
	}{
		{"codec's AccountScanned", codecBody(benchResult()), true},
		{"codec's RunStarted", codecBody(&RunStarted{RunID: "01JD0000000000000000000000", Trigger: TriggerScheduled,
			StartedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Deadline: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC),
			Regions: []ident.Region{"us-east-1"}, Accounts: []Account{{AccountID: "111111111111", Name: "a", OUPath: "Root"}}}), true},
		{"header only", `{"type":"AccountScanned","schema_version":1}`, true},
		{"other version", `{"type":"AccountScanned","schema_version":27,"run_id":"r"}`, true},
		{"version 0", `{"type":"AccountScanned","schema_version":0,"run_id":"r"}`, true},
		{"leading zero", `{"type":"AccountScanned","schema_version":01,"run_id":"r"}`, false},
		{"version too long", `{"type":"AccountScanned","schema_version":1234567890,"run_id":"r"}`, false},
		{"fractional version", `{"type":"AccountScanned","schema_version":1.5,"run_id":"r"}`, false},
		{"negative version", `{"type":"AccountScanned","schema_version":-1,"run_id":"r"}`, false},
		{"version ends the body", `{"type":"AccountScanned","schema_version":1`, false},
		{"escaped type", `{"type":"Account\u0053canned","schema_version":1,"run_id":"r"}`, false},
		{"empty type", `{"type":"","schema_version":1}`, false},
		{"spaces", `{ "type": "AccountScanned", "schema_version": 1 }`, false},
		{"other order", `{"schema_version":1,"type":"AccountScanned"}`, false},
		{"claim-check stub", `{"account_id":"111111111111","payload_ref":"p/r/a/x.json","run_id":"r","schema_version":1,"type":"AccountScanned"}`, false},
		{"hand-written, no header", `{"run_id":"r","account_id":"111111111111"}`, false},
		{"not an object", `["type"]`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := peekHeader([]byte(tt.body))
			if ok != tt.fast {
				t.Fatalf("fast path %v, want %v", ok, tt.fast)
			}
			if !ok {
				return
			}
			want, err := Peek([]byte(tt.body), PeekType, PeekSchemaVersion)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if want.Type == nil || want.SchemaVersion == nil || *got.Type != *want.Type || *got.SchemaVersion != *want.SchemaVersion {
				t.Errorf("peekHeader %v/%v, Peek %v/%v", *got.Type, *got.SchemaVersion, want.Type, want.SchemaVersion)
			}
		})
	}
}
