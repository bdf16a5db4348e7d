package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
)

// TestClaimCheckRef: a payload_ref is followed only where Marshal puts one
// for the message's own run and account, and the answer for any other
// place is invalid whether or not an object is there, found without
// reading the store.
func TestClaimCheckRef(t *testing.T) {
	ctx := context.Background()
	store := &memPayloads{}
	codec := Codec{Payloads: store, PayloadPrefix: "claim-check", MaxInline: 600}

	// Real objects: a big result of 012345678901, one of 999999999999, and
	// a big RunStarted, all of run 01JRUN.
	big := func(acct string) *AccountScanned {
		r := sampleResult()
		r.AccountID = ident.AccountID(acct)
		for i := range 30 {
			f := r.Findings[0]
			f.ResourceID = fmt.Sprintf("bucket-%04d", i)
			r.Findings = append(r.Findings, f)
		}
		return r
	}
	refOf := func(ev Event) string {
		m, err := codec.Marshal(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var stub struct {
			Ref string `json:"payload_ref"`
		}
		if err := json.Unmarshal(m.Payload, &stub); err != nil || stub.Ref == "" {
			t.Fatalf("no claim check: %s", m.Payload)
		}
		return stub.Ref
	}
	own := refOf(big("012345678901"))
	other := refOf(big("999999999999"))
	rs := &RunStarted{RunID: "01JRUN", Trigger: TriggerScheduled, StartedAt: t0, Deadline: t0.Add(time.Hour), Regions: []ident.Region{"us-east-1"}}
	for i := range 30 {
		rs.Accounts = append(rs.Accounts, Account{AccountID: ident.AccountID(fmt.Sprintf("1000000000%02d", i)), Name: "a", OUPath: "Root"})
	}
	runRef := refOf(rs)
	ownName := own[strings.LastIndex(own, "/")+1:]
	// Objects where a forger might point: a report, and a copy one level up.
	store.objs["reports/2026/11/23/config-compliance-01JRUN.xlsx"] = store.objs[own]
	store.objs["claim-check/01JRUN/"+ownName] = store.objs[own]
	store.objs["claim-check/01JRUN/012345678901/sub/"+ownName] = store.objs[own]

	result := func(ref string) string {
		return `{"type":"AccountScanned","schema_version":1,"run_id":"01JRUN","account_id":"012345678901","payload_ref":` + jsonString(ref) + `}`
	}
	run := func(ref string) string {
		return `{"type":"RunStarted","schema_version":1,"run_id":"01JRUN","payload_ref":` + jsonString(ref) + `}`
	}
	tests := []struct {
		name   string
		body   string
		max    int64
		reason Reason // "" decodes
		gets   int    // store reads expected
	}{
		{"own result", result(own), 0, "", 1},
		{"own run", run(runRef), 0, "", 1},
		{"own folder, object gone", result("claim-check/01JRUN/012345678901/AccountScanned-0123.json"), 0, ReasonMissingPayload, 1},
		{"another account's object", result(other), 0, ReasonInvalid, 0},
		{"another account's folder, no object", result("claim-check/01JRUN/999999999999/AccountScanned-0123.json"), 0, ReasonInvalid, 0},
		{"another run's folder", result(strings.Replace(own, "01JRUN", "01JOTHER", 1)), 0, ReasonInvalid, 0},
		{"a result's object for the run", run(own), 0, ReasonInvalid, 0},
		{"the run's object for a result", result(runRef), 0, ReasonInvalid, 0},
		{"outside the prefix: a report", result("reports/2026/11/23/config-compliance-01JRUN.xlsx"), 0, ReasonInvalid, 0},
		{"a prefix that only starts the same", result("claim-check-x/01JRUN/012345678901/" + ownName), 0, ReasonInvalid, 0},
		{"no prefix", result("01JRUN/012345678901/" + ownName), 0, ReasonInvalid, 0},
		{"one level up", result("claim-check/01JRUN/" + ownName), 0, ReasonInvalid, 0},
		{"one level down", result("claim-check/01JRUN/012345678901/sub/" + ownName), 0, ReasonInvalid, 0},
		{"dot dot back into the folder", result("claim-check/01JRUN/999999999999/../012345678901/" + ownName), 0, ReasonInvalid, 0},
		{"dot dot out", result("claim-check/01JRUN/012345678901/../../../reports/x.json"), 0, ReasonInvalid, 0},
		{"leading dot dot", result("../claim-check/01JRUN/012345678901/" + ownName), 0, ReasonInvalid, 0},
		{"dot segment", result("claim-check/01JRUN/012345678901/./" + ownName), 0, ReasonInvalid, 0},
		{"absolute", result("/" + own), 0, ReasonInvalid, 0},
		{"double slash", result("claim-check//01JRUN/012345678901/" + ownName), 0, ReasonInvalid, 0},
		{"trailing slash", result(own + "/"), 0, ReasonInvalid, 0},
		{"backslash", result(`claim-check\01JRUN\012345678901\` + ownName), 0, ReasonInvalid, 0},
		{"NUL", result(own + "\x00.json"), 0, ReasonInvalid, 0},
		{"not json", result("claim-check/01JRUN/012345678901/AccountScanned-0123.xlsx"), 0, ReasonInvalid, 0},
		{"odd characters", result("claim-check/01JRUN/012345678901/AccountScanned-a b.json"), 0, ReasonInvalid, 0},
		{"over the size limit", result(own), int64(len(store.objs[own]) - 1), ReasonInvalid, 1},
		{"at the size limit", result(own), int64(len(store.objs[own])), "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := codec
			c.MaxPayload = tt.max
			store.gets = 0
			_, err := c.Decode(ctx, []byte(tt.body))
			if got := ReasonOf(err); got != tt.reason || (tt.reason == "" && err != nil) {
				t.Fatalf("Decode: reason %q (err %v), want %q", got, err, tt.reason)
			}
			if store.gets != tt.gets {
				t.Errorf("%d store reads, want %d", store.gets, tt.gets)
			}
		})
	}
}

func TestMaxPayloadDefault(t *testing.T) {
	if got := (Codec{}).maxPayload(); got != 256<<20 {
		t.Errorf("default claim-check limit %d, want 256 MiB", got)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
