package awssim

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadOrg(t *testing.T) {
	o, err := LoadOrg("testdata/org.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Accounts) != 5 || o.Accounts[0].ID != "111111111111" || o.Accounts[0].OUPath != "Root" {
		t.Fatalf("accounts: %+v", o.Accounts)
	}
	rules := o.Rules("222222222222", "us-east-1")
	if len(rules) != 2 || rules[0].Name != "custom-required-tags" {
		t.Fatalf("rules: %+v", rules)
	}
	if rules[0].Compliance() != InsufficientData || rules[0].SourceOwner() != "CUSTOM_LAMBDA" {
		t.Errorf("all NOT_APPLICABLE: %s %s", rules[0].Compliance(), rules[0].SourceOwner())
	}
	if rules[1].Compliance() != NonCompliant || rules[1].NonCompliantCount() != 1 || rules[1].SourceOwner() != "AWS" {
		t.Errorf("s3 rule: %+v", rules[1])
	}
	if !rules[1].Results[0].RecordedAt.Equal(time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("recorded_at: %s", rules[1].Results[0].RecordedAt)
	}
	if !o.RegionFails("222222222222", "ap-east-1") || o.RegionFails("222222222222", "us-east-1") {
		t.Error("fail flag")
	}
	if got := o.DeniedAccounts(); !reflect.DeepEqual(got, []string{"333333333333"}) {
		t.Errorf("denied: %v", got)
	}
	if o.Rules("222222222222", "eu-west-1") != nil || o.Rules("999999999999", "us-east-1") != nil {
		t.Error("rules where there are none")
	}

	// Knobs add to the file's flags and never pick the management account,
	// a suspended one, or one the file already flagged.
	s, err := New(Config{Org: o, Deny: 1, FailRegions: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Org().DeniedAccounts(); len(got) != 2 {
		t.Errorf("denied after -deny 1: %v", got)
	}
	fr := s.Org().FailingRegions()
	if len(fr) != 2 {
		t.Errorf("failing after -fail-regions 1: %v", fr)
	}
	for _, f := range fr {
		if f.AccountID != "222222222222" && f.AccountID != "555555555555" {
			t.Errorf("picked %v", f)
		}
	}
	if len(o.DeniedAccounts()) != 1 {
		t.Error("New modified the caller's org")
	}
	if _, err := New(Config{Org: o, Deny: 3, Logger: quietLogger()}); err == nil {
		t.Error("deny 3 of 1 eligible account accepted")
	}
}

func TestLoadOrgRefusals(t *testing.T) {
	valid, err := os.ReadFile("testdata/org.json")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 257)
	cases := []struct {
		name, from, to, want string
	}{
		{"bad management id", `"management_account_id": "111111111111"`, `"management_account_id": "1111"`, `management_account_id "1111": want 12 digits`},
		{"bad account id", `"id": "333333333333"`, `"id": "33333333333a"`, `id "33333333333a": want 12 digits`},
		{"duplicate account", `"id": "333333333333"`, `"id": "222222222222"`, `account "222222222222": listed twice`},
		{"unknown OU", `"ou_path": "Root/Sandbox"`, `"ou_path": "Root/Sandbox/Nope"`, `ou_path "Root/Sandbox/Nope": unknown OU`},
		{"OU without parent", `"Root/Prod", "Root/Prod/Payments"`, `"Root/Prod/Payments"`, `ou "Root/Prod/Payments": parent "Root/Prod" is not listed`},
		{"duplicate OU", `"Root/Sandbox"]`, `"Root/Sandbox", "Root/Sandbox"]`, `ou "Root/Sandbox": listed twice`},
		{"long annotation", `"Bucket ACL allows public read"`, `"` + long + `"`, `annotation is 257 characters, AWS allows at most 256`},
		{"bad compliance", `"compliance": "COMPLIANT"`, `"compliance": "INSUFFICIENT_DATA"`, `compliance "INSUFFICIENT_DATA"`},
		{"bad status", `"status": "SUSPENDED"`, `"status": "GONE"`, `status "GONE"`},
		{"bad region", `"eu-west-1"`, `"europe"`, `region "europe": not a region name`},
		{"unknown field", `"deny_assume_role": true`, `"deny": true`, `unknown field "deny"`},
		{"no source", `"source_identifier": "CUSTOM"`, `"source_identifier": ""`, `source_identifier missing`},
		{"bad json", `"accounts": [`, `"accounts": `, `invalid JSON`},
		{"resource twice", `"resource_id": "assets-bucket"`, `"resource_id": "logs-bucket"`, `AWS::S3::Bucket logs-bucket evaluated twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(string(valid), tc.from, tc.to, 1)
			if data == string(valid) {
				t.Fatalf("replacement %q not found", tc.from)
			}
			path := filepath.Join(t.TempDir(), "org.json")
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrg(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := GenConfig{Accounts: 300, Seed: 42, Regions: []string{"us-east-1", "eu-west-1", "ap-east-1"}}
	a, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(cfg)
	if !reflect.DeepEqual(a.Accounts, b.Accounts) || !reflect.DeepEqual(a.OUs, b.OUs) || a.ID != b.ID {
		t.Fatal("same seed, different org")
	}
	for _, acct := range a.Accounts {
		for _, r := range acct.Regions {
			if !reflect.DeepEqual(a.Rules(acct.ID, r), b.Rules(acct.ID, r)) {
				t.Fatalf("same seed, different rules for %s %s", acct.ID, r)
			}
		}
	}
	c, _ := Generate(GenConfig{Accounts: 300, Seed: 43, Regions: cfg.Regions})
	if reflect.DeepEqual(a.Accounts, c.Accounts) {
		t.Error("different seeds, same org")
	}
	// Fault picks are deterministic too.
	s1, _ := New(Config{Org: a, Deny: 5, FailRegions: 7, Logger: quietLogger()})
	s2, _ := New(Config{Org: b, Deny: 5, FailRegions: 7, Logger: quietLogger()})
	if !reflect.DeepEqual(s1.Org().DeniedAccounts(), s2.Org().DeniedAccounts()) || !reflect.DeepEqual(s1.Org().FailingRegions(), s2.Org().FailingRegions()) {
		t.Error("same seed, different fault picks")
	}

	// The mix the demo and the report need.
	compliance := map[string]int{}
	results := map[string]int{}
	custom, withAnnotation := 0, 0
	ids := map[string]bool{}
	for _, acct := range a.Accounts {
		if ids[acct.ID] || len(acct.ID) != 12 {
			t.Fatalf("account id %q", acct.ID)
		}
		ids[acct.ID] = true
		for _, r := range acct.Regions {
			for _, rule := range a.Rules(acct.ID, r) {
				compliance[rule.Compliance()]++
				if rule.SourceIdentifier == CustomSource {
					custom++
				}
				resources := map[string]bool{}
				for _, res := range rule.Results {
					if resources[res.ResourceType+res.ResourceID] {
						t.Fatalf("%s %s %s: %s evaluated twice", acct.ID, r, rule.Name, res.ResourceID)
					}
					resources[res.ResourceType+res.ResourceID] = true
					results[res.Compliance]++
					if res.Annotation != "" {
						withAnnotation++
					}
					if len(res.Annotation) > maxAnnotation {
						t.Fatalf("annotation too long: %q", res.Annotation)
					}
				}
			}
		}
	}
	for _, k := range []string{Compliant, NonCompliant, InsufficientData} {
		if compliance[k] == 0 {
			t.Errorf("no %s rule: %v", k, compliance)
		}
	}
	for _, k := range []string{Compliant, NonCompliant, NotApplicable} {
		if results[k] == 0 {
			t.Errorf("no %s result: %v", k, results)
		}
	}
	total := compliance[Compliant] + compliance[NonCompliant] + compliance[InsufficientData]
	if f := float64(compliance[NonCompliant]) / float64(total); f < 0.10 || f > 0.20 {
		t.Errorf("non-compliant fraction %.3f, want about the default 0.15", f)
	}
	if custom == 0 || withAnnotation == 0 {
		t.Errorf("custom %d, annotated %d", custom, withAnnotation)
	}
}

func TestGenConfigValidate(t *testing.T) {
	_, err := Generate(GenConfig{Accounts: -1, Rules: 500, NonCompliant: 2, Regions: []string{"mars-1", "us-east-1", "us-east-1"}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"accounts -1", "rules 500", "noncompliant 2", `region "mars-1"`, `region "us-east-1": listed twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}

func BenchmarkGenerate5000x4(b *testing.B) {
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "ap-east-1"}
	for b.Loop() {
		o, err := Generate(GenConfig{Accounts: 5000, Seed: 1, Regions: regions})
		if err != nil {
			b.Fatal(err)
		}
		_ = o
	}
}

// BenchmarkRules5000x4 derives every rule and result of a 5,000-account,
// 4-region org: what a full scan makes awssim compute.
func BenchmarkRules5000x4(b *testing.B) {
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "ap-east-1"}
	o, err := Generate(GenConfig{Accounts: 5000, Seed: 1, Regions: regions})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		n := 0
		for _, a := range o.Accounts {
			for _, r := range a.Regions {
				n += len(o.Rules(a.ID, r))
			}
		}
		b.ReportMetric(float64(n), "rules")
	}
}
