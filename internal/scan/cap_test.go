package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// TestFindingsCap scans the payments account of orgFile (251 NON_COMPLIANT
// results in us-east-1: 250 in many-buckets, read in pages of 100, and 1 in
// custom-tagging; none in eu-west-1) with caps around that figure. The
// region where the cap is passed stops reading, keeps what it read, counts
// as not read and makes the account partial; the other region is untouched.
func TestFindingsCap(t *testing.T) {
	const acct = ident.AccountID("222222222222")
	both := []ident.Region{"us-east-1", "eu-west-1"}
	tests := []struct {
		name      string
		cap       int
		regions   []ident.Region
		truncated bool
		kept      int
		status    events.Status
		maxPages  int64 // GetComplianceDetailsByConfigRule calls at most
	}{
		{"cap above the findings", 1000, both, false, 251, events.StatusOK, 4},
		{"cap exactly the findings", 251, both, false, 251, events.StatusOK, 4},
		{"cap one below", 250, both, true, 250, events.StatusPartial, 4},
		{"small cap stops reading pages", 50, both, true, 50, events.StatusPartial, 2},
		{"only region truncated is partial, not failed", 10, []ident.Region{"us-east-1"}, true, 10, events.StatusPartial, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, awssim.Config{Org: orgFile(t)}, envOpts{concurrency: 4, regions: both, maxFindings: tt.cap})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := e.scanner.ScanAccount(ctx, events.ScanRequested{RunID: "run-1", AccountID: acct, Regions: tt.regions})
			if err := res.Validate(); err != nil {
				t.Fatalf("result does not validate: %v", err)
			}
			if res.Status != tt.status || len(res.Findings) != tt.kept {
				t.Errorf("status %s with %d findings, want %s with %d", res.Status, len(res.Findings), tt.status, tt.kept)
			}
			if n := e.sim.Stats().Calls["GetComplianceDetailsByConfigRule"][string(acct)]; n > tt.maxPages {
				t.Errorf("%d GetComplianceDetailsByConfigRule calls, want at most %d: reading must stop at the cap", n, tt.maxPages)
			}
			// Findings kept are real ones, each once.
			truth := map[string]bool{}
			for _, r := range e.sim.Org().Rules(string(acct), "us-east-1") {
				for _, x := range r.Results {
					if x.Compliance == awssim.NonCompliant {
						truth[r.Name+"/"+x.ResourceID] = true
					}
				}
			}
			seen := map[string]bool{}
			for _, f := range res.Findings {
				k := f.Rule + "/" + f.ResourceID
				if !truth[k] || seen[k] || f.Region != "us-east-1" {
					t.Errorf("finding %+v: not in the truth or repeated", f)
				}
				seen[k] = true
			}
			// A rule's count is the findings kept of it.
			counts := map[string]int{}
			for _, f := range res.Findings {
				counts[f.Rule]++
			}
			for _, r := range res.Rules {
				if r.NoncompliantCount != counts[r.Name] {
					t.Errorf("rule %s counts %d, %d findings kept", r.Name, r.NoncompliantCount, counts[r.Name])
				}
			}

			wantCov := make([]events.Coverage, len(tt.regions))
			for i, r := range tt.regions {
				wantCov[i] = events.Coverage{Region: r, Enabled: ptr(true), Recorder: ptr(events.RecorderRecording), Read: events.ReadYes, Rules: ptr(len(e.sim.Org().Rules(string(acct), string(r))))}
				if r == "us-east-1" && tt.truncated {
					// Truncated: the recorder was read, the region was not.
					wantCov[i].Read, wantCov[i].Rules = events.ReadFailed, nil
				}
			}
			if !equalCoverage(res.Coverage, wantCov) {
				t.Errorf("coverage %s, want %s", covString(res.Coverage), covString(wantCov))
			}
			if !tt.truncated {
				if len(res.Errors) != 0 {
					t.Errorf("errors %+v, want none", res.Errors)
				}
				return
			}
			if len(res.Errors) != 1 {
				t.Fatalf("errors %+v, want one Truncated", res.Errors)
			}
			got := res.Errors[0]
			if got.Region != "us-east-1" || got.Stage != events.StageConfig || got.Code != events.CodeTruncated || got.Attempts != 1 {
				t.Errorf("error %+v, want us-east-1 config Truncated with 1 attempt", got)
			}
			for _, want := range []string{fmt.Sprint(tt.cap), fmt.Sprintf("%d findings of this region kept", tt.kept)} {
				if !strings.Contains(got.Message, want) {
					t.Errorf("message %q does not say %q", got.Message, want)
				}
			}
		})
	}
}

// The cap is shared by an account's regions, which run side by side: the
// result never holds more findings than the cap, whatever the timing.
func TestFindingsCapAcrossRegions(t *testing.T) {
	org := generated(t, 6, 7)
	regions := []ident.Region{"us-east-1", "eu-west-1", "ap-southeast-2"}
	e := newEnv(t, awssim.Config{Org: org}, envOpts{concurrency: 8, regions: regions, maxFindings: 5})
	cut := 0
	for id, res := range scanAll(t, e, regions) {
		if len(res.Findings) > 5 {
			t.Errorf("account %s: %d findings over the cap of 5", id, len(res.Findings))
		}
		truncated := 0
		for _, se := range res.Errors {
			if se.Code == events.CodeTruncated {
				truncated++
			}
		}
		if truncated > 0 {
			cut++
		}
		if truncated > 0 && (res.Status != events.StatusPartial || len(res.Findings) != 5) {
			t.Errorf("account %s: %d regions truncated, status %s with %d findings; want partial with 5", id, truncated, res.Status, len(res.Findings))
		}
	}
	if cut == 0 {
		t.Error("no account passed the cap: the test does not exercise it")
	}
}

func TestConfigMaxFindings(t *testing.T) {
	c := Config{Regions: []ident.Region{"us-east-1"}}
	c.setDefaults()
	if c.MaxFindings != DefaultMaxFindings || DefaultMaxFindings != 500000 {
		t.Errorf("default max findings %d, want 500000", c.MaxFindings)
	}
	c.MaxFindings = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max findings") {
		t.Errorf("Validate(-1) = %v, want a max findings error", err)
	}
}

// A result at the default findings cap must fit the codec's default
// claim-check limit, or the aggregator would refuse the very result the
// cap exists to keep: typical findings, extrapolated to the cap, with room
// to spare for longer ARNs and annotations.
func TestMaxFindingsFitsClaimCheckLimit(t *testing.T) {
	const n = 2000
	res := &events.AccountScanned{RunID: "run-1", AccountID: "222222222222", Status: events.StatusPartial,
		ScannedAt: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC), Rules: []events.Rule{}, Errors: []events.ScanError{}}
	for i := range n {
		res.Findings = append(res.Findings, events.Finding{
			Region: "ap-southeast-1", Rule: "ec2-instance-managed-by-systems-manager", ResourceType: "AWS::EC2::Instance",
			ResourceID: fmt.Sprintf("i-0123456789a%06d", i), Compliance: events.NonCompliant,
			Annotation: "The instance is not managed by AWS Systems Manager.", RecordedAt: res.ScannedAt,
		})
	}
	body, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	atCap := int64(len(body)) * DefaultMaxFindings / n
	if atCap*3/2 > events.DefaultMaxPayload {
		t.Errorf("a result at the cap is ~%d MB; with half again for longer fields it passes the %d MB claim-check limit",
			atCap>>20, events.DefaultMaxPayload>>20)
	}
}
