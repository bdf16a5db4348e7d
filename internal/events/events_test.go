package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
)

type memPayloads struct {
	mu   sync.Mutex
	objs map[string][]byte
	fail error
	gets int
}

func (m *memPayloads) PutPayload(_ context.Context, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objs == nil {
		m.objs = map[string][]byte{}
	}
	m.objs[key] = append([]byte(nil), body...)
	return nil
}

func (m *memPayloads) GetPayload(_ context.Context, key string, limit int64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.fail != nil {
		return nil, m.fail
	}
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, ErrPayloadNotFound)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("get %s: %w", key, ErrPayloadTooLarge)
	}
	return b, nil
}

var t0 = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

func sampleResult() *AccountScanned {
	return &AccountScanned{
		RunID: "01JRUN", AccountID: "012345678901", Status: StatusPartial,
		ScannedAt: t0.Add(time.Minute), DurationMS: 1234,
		Rules: []Rule{{Region: "us-east-1", Name: "s3-bucket-public-read-prohibited", Owner: "AWS",
			SourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", Compliance: NonCompliant, NoncompliantCount: 1}},
		Findings: []Finding{{Region: "us-east-1", Rule: "s3-bucket-public-read-prohibited", ResourceType: "AWS::S3::Bucket",
			ResourceID: "logs", Compliance: NonCompliant, Annotation: "=cmd|' /C calc'!A0", RecordedAt: t0}},
		Errors: []ScanError{{Region: "ap-east-1", Stage: StageConfig, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid", Attempts: 1}},
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("HKT", 8*3600)
	evs := []Event{
		&RunStarted{RunID: "01JRUN", Trigger: TriggerScheduled, StartedAt: t0.In(loc), Deadline: t0.Add(45 * time.Minute),
			Regions: []ident.Region{"us-east-1", "ap-east-1"}, Accounts: []Account{{"012345678901", "payments", "Root/Prod"}}},
		&ScanRequested{RunID: "01JRUN", AccountID: "012345678901", Regions: []ident.Region{"us-east-1"}},
		sampleResult(),
	}
	for _, ev := range evs {
		msg, err := Codec{}.Marshal(ctx, ev)
		if err != nil {
			t.Fatalf("Marshal %T: %v", ev, err)
		}
		if got := msg.Metadata.Get(MetaEventType); got != string(ev.EventType()) {
			t.Errorf("metadata event_type = %q", got)
		}
		if msg.Metadata.Get(MetaSchemaVersion) != "1" {
			t.Errorf("metadata schema_version = %q", msg.Metadata.Get(MetaSchemaVersion))
		}
		run, acct := ev.Keys()
		if msg.Metadata.Get(MetaRunID) != string(run) || msg.Metadata.Get(MetaAccountID) != string(acct) {
			t.Errorf("metadata ids = %v", msg.Metadata)
		}
		if strings.Contains(string(msg.Payload), "+08:00") {
			t.Errorf("timestamps not UTC: %s", msg.Payload)
		}
		back, err := Codec{}.Unmarshal(ctx, msg)
		if err != nil {
			t.Fatalf("Unmarshal %T: %v", ev, err)
		}
		a, _ := json.Marshal(ev)
		b, _ := json.Marshal(back)
		if string(a) != string(b) {
			t.Errorf("round trip differs:\n%s\n%s", a, b)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	scanQueue := Codec{DefaultType: TypeScanRequested}
	results := Codec{}
	tests := []struct {
		name   string
		codec  Codec
		body   string
		reason Reason
		want   string // substring of the error
	}{
		{"ad-hoc hand-written", scanQueue, `{"account_id": "123456789012"}`, "", ""},
		{"ad-hoc with a region twice", scanQueue, `{"account_id": "123456789012", "regions": ["us-east-1", "us-east-1"]}`, "", ""},
		{"ad-hoc on results topic", results, `{"account_id": "123456789012"}`, ReasonUnknownType, "neither type nor schema_version"},
		{"not json", scanQueue, `{"account_id": `, ReasonMalformed, "not a JSON object"},
		{"array", scanQueue, `[1]`, ReasonMalformed, "not a JSON object"},
		{"trailing", scanQueue, `{"account_id": "123456789012"} {}`, ReasonMalformed, "not a JSON object"},
		{"bad account", scanQueue, `{"account_id": "12345"}`, ReasonMalformed, "account_id"},
		{"account number", scanQueue, `{"account_id": 123456789012}`, ReasonMalformed, "decode ScanRequested"},
		{"unknown type", results, `{"type": "AccountDeleted", "schema_version": 1}`, ReasonUnknownType, "AccountDeleted"},
		{"unknown version", results, `{"type": "AccountScanned", "schema_version": 2}`, ReasonUnknownType, "schema_version 2"},
		{"type without version", results, `{"type": "AccountScanned"}`, ReasonMalformed, "without the other"},
		{"bad status", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"great","scanned_at":"2026-11-23T01:00:00Z"}`, ReasonMalformed, "status"},
		{"bad run id", results, `{"type":"AccountScanned","schema_version":1,"run_id":"a/b","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z"}`, ReasonMalformed, "run id"},
		{"bad region in finding", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z","findings":[{"region":"mars-1","rule":"r","resource_type":"t","resource_id":"i","compliance":"NON_COMPLIANT"}]}`, ReasonMalformed, "findings[0].region"},
		{"deadline before start", results, `{"type":"RunStarted","schema_version":1,"run_id":"r1","trigger":"scheduled","started_at":"2026-11-23T01:00:00Z","deadline":"2026-11-23T00:00:00Z","regions":["us-east-1"],"accounts":[]}`, ReasonMalformed, "deadline"},
		{"duplicate account", results, `{"type":"RunStarted","schema_version":1,"run_id":"r1","trigger":"adhoc","started_at":"2026-11-23T01:00:00Z","deadline":"2026-11-23T02:00:00Z","regions":["us-east-1"],"accounts":[{"account_id":"123456789012"},{"account_id":"123456789012"}]}`, ReasonMalformed, "listed twice"},
		{"deadline past the longest run", results, `{"type":"RunStarted","schema_version":1,"run_id":"r1","trigger":"scheduled","started_at":"2026-11-23T01:00:00Z","deadline":"9999-12-31T00:00:00Z","regions":["us-east-1"],"accounts":[]}`, ReasonMalformed, "more than 168h0m0s after started_at"},
		{"coverage region twice", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z","coverage":[{"region":"us-east-1","read":"yes"},{"region":"us-east-1","read":"yes"}]}`, ReasonMalformed, "coverage[1]: region \"us-east-1\" listed twice"},
		{"coverage unknown read", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z","coverage":[{"region":"us-east-1","read":"maybe"}]}`, ReasonMalformed, "coverage[0].read"},
		{"coverage unknown recorder", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z","coverage":[{"region":"us-east-1","read":"yes","recorder":"paused"}]}`, ReasonMalformed, "coverage[0].recorder"},
		{"coverage negative rules", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z","coverage":[{"region":"us-east-1","read":"yes","rules":-1}]}`, ReasonMalformed, "coverage[0].rules"},
		{"coverage bad region", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z","coverage":[{"region":"mars-1","read":"yes"}]}`, ReasonMalformed, "coverage[0].region"},
		{"type twice, differently", results, `{"type":"RunStarted","schema_version":1,"type":"AccountScanned","run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z"}`, ReasonMalformed, "given twice"},
		{"null type", results, `{"type":null,"schema_version":1}`, ReasonMalformed, "without the other"},
		{"type not a string", results, `{"type":1,"schema_version":1}`, ReasonMalformed, "not a JSON object"},
		{"valid header, broken body", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1",`, ReasonMalformed, "not a JSON object"},
		{"trailing after a typed body", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z"} x`, ReasonMalformed, "not a JSON object"},
		{"too large", scanQueue, `{"account_id": "123456789012", "ou_path": "Root/` + strings.Repeat("x", MessageLimit) + `"}`, ReasonTooLarge, "over the"},
		{"missing payload", results, `{"type":"AccountScanned","schema_version":1,"run_id":"r1","account_id":"123456789012","payload_ref":"r1/123456789012/AccountScanned-gone.json"}`, ReasonMissingPayload, "gone.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.codec.Payloads = &memPayloads{}
			ev, err := tt.codec.Decode(context.Background(), []byte(tt.body))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if ev.EventType() != TypeScanRequested {
					t.Fatalf("type = %s", ev.EventType())
				}
				return
			}
			if got := ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %q (err %v), want %q", got, err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestClaimCheck(t *testing.T) {
	ctx := context.Background()
	store := &memPayloads{}
	codec := Codec{Payloads: store, PayloadPrefix: "claim-check", MaxInline: 2048}
	big := sampleResult()
	for i := range 200 {
		f := big.Findings[0]
		f.ResourceID = fmt.Sprintf("bucket-%04d", i)
		big.Findings = append(big.Findings, f)
	}
	msg, err := codec.Marshal(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Payload) > 2048 || !strings.Contains(string(msg.Payload), `"payload_ref":"claim-check/01JRUN/012345678901/AccountScanned-`) {
		t.Fatalf("want a claim check, got %d bytes: %.200s", len(msg.Payload), msg.Payload)
	}
	again, err := codec.Marshal(ctx, big)
	if err != nil || string(again.Payload) != string(msg.Payload) || len(store.objs) != 1 {
		t.Errorf("a retried publish must rewrite the same object: %d objects", len(store.objs))
	}
	back, err := codec.Unmarshal(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(*AccountScanned); len(got.Findings) != 201 || got.PayloadRef != "" {
		t.Errorf("read back %d findings, ref %q", len(got.Findings), got.PayloadRef)
	}

	// An unreachable store is transient (retry), not poison.
	store.fail = errors.New("connection refused")
	_, err = codec.Unmarshal(ctx, msg)
	if err == nil || ReasonOf(err) != "" {
		t.Errorf("unreachable store: err %v reason %q, want a transient error", err, ReasonOf(err))
	}
	store.fail = nil

	// A claim check whose object belongs to another account is refused
	// (by its folder, before it is read).
	other := *big
	other.AccountID = "999999999999"
	om, _ := codec.Marshal(ctx, &other)
	var stub map[string]any
	_ = json.Unmarshal(om.Payload, &stub)
	stub["account_id"] = "012345678901"
	forged, _ := json.Marshal(stub)
	if _, err := codec.Decode(ctx, forged); ReasonOf(err) != ReasonInvalid {
		t.Errorf("forged claim check: %v", err)
	}
	// One in the right folder whose body is another account's is refused
	// too, once read.
	store.objs["claim-check/01JRUN/012345678901/AccountScanned-copied.json"] = store.objs[stub["payload_ref"].(string)]
	stub["payload_ref"] = "claim-check/01JRUN/012345678901/AccountScanned-copied.json"
	forged, _ = json.Marshal(stub)
	if _, err := codec.Decode(ctx, forged); ReasonOf(err) != ReasonMalformed {
		t.Errorf("claim check holding another account: %v", err)
	}

	// Without a payload store an oversized event is refused at publish time.
	if _, err := (Codec{MaxInline: 2048}).Marshal(ctx, big); err == nil {
		t.Error("oversized event without payload store accepted")
	}
}

func TestMarshalValidates(t *testing.T) {
	bad := sampleResult()
	bad.AccountID = "1"
	bad.Rules[0].Compliance = "MOSTLY"
	_, err := Codec{}.Marshal(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "account_id") || !strings.Contains(err.Error(), "MOSTLY") {
		t.Errorf("want both problems reported, got %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"account_id": "123456789012"}`))
	f.Add([]byte(`{"type":"AccountScanned","schema_version":1,"run_id":"r","account_id":"123456789012","status":"ok","scanned_at":"2026-11-23T01:00:00Z"}`))
	f.Add([]byte(`{"type":"RunStarted","schema_version":1,"run_id":"r","trigger":"adhoc","started_at":"2026-11-23T01:00:00Z","deadline":"2026-11-23T02:00:00Z","regions":["us-east-1"],"accounts":[{"account_id":"123456789012","name":"a","ou_path":"Root"}]}`))
	f.Add([]byte(`{"type":"AccountScanned","schema_version":1,"run_id":"r","account_id":"123456789012","payload_ref":"x"}`))
	codec := Codec{DefaultType: TypeScanRequested, Payloads: &memPayloads{}}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := codec.Decode(context.Background(), body)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("non-poison error without a store fault: %v", err)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("decoded event invalid: %v", err)
		}
		// What decodes re-encodes and decodes to the same thing.
		msg, err := codec.Marshal(context.Background(), ev)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		if _, err := codec.Decode(context.Background(), msg.Payload); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func TestUncovered(t *testing.T) {
	yes := func(r ident.Region) Coverage { return Coverage{Region: r, Read: ReadYes} }
	tests := []struct {
		name string
		have []Coverage
		want []ident.Region
		out  []ident.Region
	}{
		{"all covered", []Coverage{yes("us-east-1"), yes("eu-west-1")}, []ident.Region{"us-east-1", "eu-west-1"}, nil},
		{"failed still covers", []Coverage{{Region: "us-east-1", Read: ReadFailed}, {Region: "eu-west-1", Read: ReadSkipped}}, []ident.Region{"us-east-1", "eu-west-1"}, nil},
		{"one missing", []Coverage{yes("us-east-1")}, []ident.Region{"us-east-1", "eu-west-1", "ap-east-1"}, []ident.Region{"eu-west-1", "ap-east-1"}},
		{"no coverage at all", nil, []ident.Region{"us-east-1"}, []ident.Region{"us-east-1"}},
		{"extra regions do not matter", []Coverage{yes("us-east-1"), yes("eu-west-1")}, []ident.Region{"us-east-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &AccountScanned{Coverage: tt.have}
			if got := e.Uncovered(tt.want); !slices.Equal(got, tt.out) {
				t.Errorf("Uncovered = %v, want %v", got, tt.out)
			}
		})
	}
}

func TestCoverageJSON(t *testing.T) {
	on, rec, rules := true, RecorderStopped, 12
	e := &AccountScanned{Coverage: []Coverage{
		{Region: "us-east-1", Enabled: &on, Recorder: &rec, Read: ReadYes, Rules: &rules},
		{Region: "ap-east-1", Read: ReadFailed},
	}}
	b, err := json.Marshal(e.Coverage)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"region":"us-east-1","enabled":true,"recorder":"stopped","read":"yes","rules":12},{"region":"ap-east-1","enabled":null,"recorder":null,"read":"failed","rules":null}]`
	if string(b) != want {
		t.Errorf("coverage JSON\n got %s\nwant %s", b, want)
	}
}
