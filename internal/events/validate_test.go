package events

import (
	"fmt"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
)

// benchResult is a result the size of one account of the full-size load
// run (issue 20): 4 regions x 12 rules, 4 findings a region.
func benchResult() *AccountScanned {
	read := 12
	res := &AccountScanned{RunID: "load-abcdef", AccountID: "123456789012", Status: StatusOK,
		ScannedAt: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC), DurationMS: 1234}
	for _, r := range []ident.Region{"us-east-1", "eu-west-1", "ap-southeast-2", "ap-east-1"} {
		res.Coverage = append(res.Coverage, Coverage{Region: r, Read: ReadYes, Rules: &read})
		for i := range 12 {
			res.Rules = append(res.Rules, Rule{Region: r, Name: fmt.Sprintf("rule-%d", i), Owner: "AWS",
				SourceIdentifier: "S3_BUCKET_VERSIONING_ENABLED", Compliance: NonCompliant, NoncompliantCount: 1})
		}
		for i := range 4 {
			res.Findings = append(res.Findings, Finding{Region: r, Rule: fmt.Sprintf("rule-%d", i), ResourceType: "AWS::EC2::Instance",
				ResourceID: fmt.Sprintf("i-%017d", i), Compliance: NonCompliant, RecordedAt: res.ScannedAt})
		}
	}
	return res
}

func BenchmarkValidateAccountScanned(b *testing.B) {
	res := benchResult()
	if err := res.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = res.Validate()
	}
}

// TestAccountScannedValidateMessages: each problem of a result is named
// by its list element and field as it always was, each invalid region
// every time it occurs (only valid ones are parsed once), and at most ten
// are listed.
func TestAccountScannedValidateMessages(t *testing.T) {
	for _, c := range validateCases() {
		t.Run(c.name, func(t *testing.T) {
			res := benchResult()
			c.fn(res)
			err := res.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestAccountScannedValidateAllocs: validating a valid result allocates a
// few times, not once or more per rule and finding (200 times for this
// one before issue 20). Allocations, not time: the count is exact.
func TestAccountScannedValidateAllocs(t *testing.T) {
	res := benchResult()
	if n := testing.AllocsPerRun(50, func() { _ = res.Validate() }); n > 8 {
		t.Errorf("%v allocations per Validate of a result of %d rules and %d findings, want at most 8", n, len(res.Rules), len(res.Findings))
	}
}

type validateCase struct {
	name string
	fn   func(*AccountScanned)
	want string // the whole error; "" for none
}

func validateCases() []validateCase {
	bad := Recorder("LOST")
	neg := -1
	return []validateCase{
		{"valid", func(*AccountScanned) {}, ""},
		{"rule region", func(r *AccountScanned) { r.Rules[1].Region = "Mars-1" }, "invalid AccountScanned: rules[1].region: invalid identifier: region \"Mars-1\": want a region name such as us-east-1"},
		{"rule name and compliance", func(r *AccountScanned) { r.Rules[2].Name = ""; r.Rules[2].Compliance = "MAYBE" }, "invalid AccountScanned: rules[2].name: empty\nrules[2].compliance: unknown compliance \"MAYBE\""},
		{"rule count", func(r *AccountScanned) { r.Rules[47].NoncompliantCount = -2 }, "invalid AccountScanned: rules[47].noncompliant_count: negative"},
		{"finding fields", func(r *AccountScanned) { r.Findings[0].ResourceID = ""; r.Findings[0].Compliance = "" }, "invalid AccountScanned: findings[0]: rule, resource_type and resource_id are required\nfindings[0].compliance: unknown compliance \"\""},
		{"same bad region twice", func(r *AccountScanned) { r.Findings[3].Region = "x"; r.Findings[4].Region = "x" }, "invalid AccountScanned: findings[3].region: invalid identifier: region \"x\": want a region name such as us-east-1\nfindings[4].region: invalid identifier: region \"x\": want a region name such as us-east-1"},
		{"coverage", func(r *AccountScanned) {
			r.Coverage[1].Region = r.Coverage[0].Region
			r.Coverage[2].Read = "maybe"
			r.Coverage[3].Recorder = &bad
			r.Coverage[3].Rules = &neg
		}, "invalid AccountScanned: coverage[1]: region \"us-east-1\" listed twice\ncoverage[2].read: unknown \"maybe\"\ncoverage[3].recorder: unknown \"LOST\"\ncoverage[3].rules: negative"},
		{"errors", func(r *AccountScanned) {
			r.Errors = []ScanError{{Region: "nowhere", Stage: "", Code: "X", Attempts: -1}, {Stage: StageConfig, Code: "Y"}}
		}, "invalid AccountScanned: errors[0].region: invalid identifier: region \"nowhere\": want a region name such as us-east-1\nerrors[0]: stage and code are required\nerrors[0].attempts: negative"},
		{"more than ten", func(r *AccountScanned) {
			for i := range 12 {
				r.Findings[i].Region = "?"
			}
		}, "invalid AccountScanned: findings[0].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[1].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[2].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[3].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[4].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[5].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[6].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[7].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[8].region: invalid identifier: region \"?\": want a region name such as us-east-1\nfindings[9].region: invalid identifier: region \"?\": want a region name such as us-east-1\nand 2 more problems"},
	}
}

// BenchmarkDecodeAccountScanned decodes one full-size run's result body as
// the aggregator does for each message (issue 20).
func BenchmarkDecodeAccountScanned(b *testing.B) {
	m, err := Codec{}.Marshal(b.Context(), benchResult())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(m.Payload)))
	for b.Loop() {
		if _, err := (Codec{}).Decode(b.Context(), m.Payload); err != nil {
			b.Fatal(err)
		}
	}
}
