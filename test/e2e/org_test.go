package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// heavyFindings makes one account's result far over the 256 KiB message
// limit (~150 bytes a finding) in the process-level run; the in-process
// one, under -race in `make test`, uses fewer (still over the limit).
const (
	heavyFindings      = 4000
	heavyFindingsQuick = 2000
)

type orgCase struct {
	org                   *awssim.Org
	heavy, denied, failed string // account ids
	failedRegion          string
	// disabled are the accounts that never enabled the opt-in region of
	// the org's regions (none when it has none).
	disabled []string
}

// writeOrg generates an organisation, adds the special cases, writes it to
// path and loads it back with awssim's own loader: the file is both what
// awssim serves and the ground truth the report is checked against.
func writeOrg(t *testing.T, path string, accounts, findings int, regions []string) orgCase {
	t.Helper()
	gen, err := awssim.Generate(awssim.GenConfig{Accounts: accounts, Seed: 20261123, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	// The generated org in the org file format, plus the cases below.
	f := gen.File()
	var c orgCase
	var members []int
	for i, a := range f.Accounts {
		if a.ID != gen.ManagementAccountID && a.Status == "ACTIVE" && len(a.Regions) > 0 {
			members = append(members, i)
		}
	}
	optIn := slices.IndexFunc(regions, awssim.IsOptInRegion)
	want := 5
	if optIn >= 0 {
		want += 2 // the two that never enabled it, below
	}
	if len(members) < want {
		t.Fatalf("generated org has %d ACTIVE member accounts with rules, want %d", len(members), want)
	}
	heavy := &f.Accounts[members[0]]
	r := heavy.Regions[regions[0]]
	big := awssim.RuleFile{Name: "e2e-s3-bucket-versioning-enabled", SourceIdentifier: "S3_BUCKET_VERSIONING_ENABLED"}
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for i := range findings {
		big.Results = append(big.Results, awssim.ResultFile{ResourceType: "AWS::S3::Bucket", ResourceID: fmt.Sprintf("e2e-bucket-%05d", i),
			Compliance: "NON_COMPLIANT", Annotation: "Versioning is not enabled on this bucket.", RecordedAt: &at})
	}
	r.Rules = append(r.Rules, big)
	heavy.Regions[regions[0]] = r
	c.heavy = heavy.ID

	f.Accounts[members[1]].DenyAssumeRole = true
	c.denied = f.Accounts[members[1]].ID

	failed := &f.Accounts[members[2]]
	c.failedRegion = regions[len(regions)-1]
	fr := failed.Regions[c.failedRegion]
	fr.Fail = true
	failed.Regions[c.failedRegion] = fr
	c.failed = failed.ID

	// Config not recording: a stopped recorder and none at all. Their
	// rules are still read; each region is an Errors row (recorder) and
	// its account PARTIAL, which reportcheck derives from the file.
	for i, rec := range []string{awssim.RecorderStopped, awssim.RecorderNone} {
		a := &f.Accounts[members[3+i]]
		rr := a.Regions[regions[0]]
		rr.Recorder = rec
		a.Regions[regions[0]] = rr
	}

	// The opt-in region, when regions has one, is one that two accounts
	// never enabled: one says so in the file ("enabled": false), the
	// other does not list it. DescribeRegions says not-opted-in for both,
	// and a scan skips it: Coverage `no`/`skipped`, no Errors row, no
	// PARTIAL. (The failed account fails in the last region, the opt-in
	// one when there is one: enabled, so that is an error all the same.)
	if optIn >= 0 {
		region := regions[optIn]
		a := &f.Accounts[members[5]]
		rr := a.Regions[region]
		rr.Enabled = new(bool)
		a.Regions[region] = rr
		b := &f.Accounts[members[6]]
		delete(b.Regions, region)
		c.disabled = []string{a.ID, b.ID}
	}

	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if c.org, err = awssim.LoadOrg(path); err != nil {
		t.Fatalf("awssim refuses the org file it will serve: %v", err)
	}
	for _, id := range c.disabled {
		if st := c.org.OptInStatus(id, regions[optIn]); st != awssim.NotOptedIn {
			t.Fatalf("account %s: %s is %s in the org file awssim loads, want %s", id, regions[optIn], st, awssim.NotOptedIn)
		}
	}
	return c
}
