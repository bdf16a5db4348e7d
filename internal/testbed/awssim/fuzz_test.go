package awssim

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
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
	f.Add([]byte(`{"management_account_id":"111111111111","ous":[],"accounts":[{"id":"222222222222","name":"a","ou_path":"Root","status":"ACTIVE","tags":{"Owner":"a@example.com","owner":"","Team":"<&>"},"regions":{"ap-east-1":{"enabled":false,"rules":[]},"us-east-1":{"recorder":"stopped","rules":[]},"eu-south-1":{"enabled":true,"recorder":"none","fail":true,"rules":[]}}}]}`))
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
			if len(a.Tags) > maxTags {
				t.Fatalf("accepted %d tags", len(a.Tags))
			}
			for k, v := range a.Tags {
				if k == "" || len([]rune(k)) > maxTagKey || len([]rune(v)) > maxTagValue || strings.HasPrefix(strings.ToLower(k), "aws:") {
					t.Fatalf("accepted tag %q=%q", k, v)
				}
			}
			for _, r := range a.DisabledRegions {
				if !IsOptInRegion(r) || !slices.Contains(a.Regions, r) || slices.Contains(a.FailRegions, r) {
					t.Fatalf("accepted disabled region %s (regions %v, failing %v)", r, a.Regions, a.FailRegions)
				}
			}
			for _, r := range slices.Concat(a.NoRecorderRegions, a.StoppedRecorderRegions) {
				if !slices.Contains(a.Regions, r) || slices.Contains(a.NoRecorderRegions, r) && slices.Contains(a.StoppedRecorderRegions, r) {
					t.Fatalf("accepted recorder state of %s (regions %v)", r, a.Regions)
				}
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

// A generated org written with File and loaded back is the same org: same
// accounts, paths, statuses, rules and results.
func TestOrgFileRoundTrip(t *testing.T) {
	gen, err := Generate(GenConfig{Accounts: 40, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(gen.File())
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseOrg(b)
	if err != nil {
		t.Fatalf("ParseOrg of File(): %v", err)
	}
	if len(back.Accounts) != len(gen.Accounts) {
		t.Fatalf("%d accounts back, want %d", len(back.Accounts), len(gen.Accounts))
	}
	results := 0
	for _, a := range gen.Accounts {
		b, ok := back.Account(a.ID)
		if !ok || b.Name != a.Name || b.OUPath != a.OUPath || b.Status != a.Status || !slices.Equal(b.Regions, a.Regions) {
			t.Fatalf("account %s: %+v, want %+v", a.ID, b, a)
		}
		for _, region := range a.Regions {
			want, got := gen.Rules(a.ID, region), back.Rules(a.ID, region)
			if !reflect.DeepEqual(normalise(got), normalise(want)) {
				t.Fatalf("account %s region %s: rules differ", a.ID, region)
			}
			for _, r := range want {
				results += len(r.Results)
			}
		}
	}
	if results == 0 {
		t.Fatal("the generated org has no results: nothing was compared")
	}
}

func normalise(rs []Rule) []Rule {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Results = slices.Clone(out[i].Results)
		for j := range out[i].Results {
			out[i].Results[j].RecordedAt = out[i].Results[j].RecordedAt.UTC()
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Name, b.Name) })
	return out
}
