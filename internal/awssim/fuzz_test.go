package awssim

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var twelveDigits = regexp.MustCompile(`^[0-9]{12}$`)

// FuzzParseOrg: the org file loader never panics, refuses with one line,
// and what it accepts obeys AWSSIM.md's rules (12-digit unique ids, OU
// paths from Root, annotations of at most 256 characters, derived rule
// compliance never NOT_APPLICABLE).
func FuzzParseOrg(f *testing.F) {
	if b, err := os.ReadFile("testdata/org.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"management_account_id":"111111111111","ous":[],"accounts":[]}`))
	f.Add([]byte(`{"management_account_id":"111111111111","ous":["Root/A"],"accounts":[{"id":"222222222222","name":"a","ou_path":"Root/A","status":"ACTIVE","regions":{"us-east-1":{"rules":[{"name":"r","source_identifier":"CUSTOM","results":[{"resource_type":"AWS::S3::Bucket","resource_id":"b","compliance":"NON_COMPLIANT","recorded_at":"2026-11-20T08:00:00Z"}]}]}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOrg(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("refusal is not one line: %q", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, a := range o.Accounts {
			if !twelveDigits.MatchString(a.ID) || seen[a.ID] {
				t.Fatalf("accepted account id %q (duplicate=%v)", a.ID, seen[a.ID])
			}
			seen[a.ID] = true
			if a.OUPath != "Root" && !strings.HasPrefix(a.OUPath, "Root/") {
				t.Fatalf("accepted OU path %q", a.OUPath)
			}
			for _, region := range a.Regions {
				for _, r := range o.Rules(a.ID, region) {
					if c := r.Compliance(); c == NotApplicable {
						t.Fatalf("rule %s derived NOT_APPLICABLE", r.Name)
					}
					for _, res := range r.Results {
						if len([]rune(res.Annotation)) > 256 {
							t.Fatalf("accepted a %d-character annotation", len([]rune(res.Annotation)))
						}
					}
				}
			}
		}
	})
}
