package awssim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// accountV1 is Account as it was when these digests were pinned, so that
// adding fields to Account (tags, recorder and opt-in state) does not move
// the digest of what was there before: the digest prints this, field for
// field, as %+v printed the Account of then.
type accountV1 struct {
	ID          string
	Name        string
	Email       string
	OUPath      string
	Status      string
	Denied      bool
	Regions     []string
	FailRegions []string
	rules       map[string][]Rule
}

// TestGeneratedRulesPinned pins every account, rule and result of two
// generated orgs (the 1,000-account org of the local-mode benchmark, and a
// smaller one with other knobs) by a digest: deriving rules faster, or
// adding data such as tags, must not change one id or one resource, so that
// a seed keeps naming the same org across versions. The tags, which came
// later, have a digest of their own.
func TestGeneratedRulesPinned(t *testing.T) {
	for _, tc := range []struct {
		cfg        GenConfig
		want, tags string
	}{
		{GenConfig{Accounts: 1000, Seed: 1, Regions: []string{"us-east-1", "ap-east-1"}},
			"6e0b3c50ba6133b0c20de5223e3035be39f64f60118e80b2612b86729e3f1a40", "f317c5de961dbad5cf069b79d4ed87fda69b45c55143abc89c7a4c757ef5fed2"},
		{GenConfig{Accounts: 200, Seed: 9, Rules: 30, NonCompliant: 0.6, Regions: []string{"eu-west-1", "us-gov-west-1", "ap-southeast-2"}},
			"ff0771b2c01bc65fc9fbd5988ddaff3d7468b0d1db0fd0d1502898c1b0768646", "1b9333bcdc375490abe973939ec82b388a57c9db78532f00f5d4105559fa33a5"},
	} {
		// Week 1, asked for or by default, is the org the seed always gave.
		for _, week := range []int{0, 1} {
			tc.cfg.Week = week
			checkGenDigest(t, tc.cfg, tc.want, tc.tags)
		}
	}
}

func checkGenDigest(t *testing.T, cfg GenConfig, want, tags string) {
	t.Helper()
	o, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.Week != 1 {
		t.Errorf("%+v: week %d, want 1", cfg, o.Week)
	}
	h, ht := sha256.New(), sha256.New()
	for _, a := range o.Accounts {
		fmt.Fprintf(h, "%+v\n", accountV1{ID: a.ID, Name: a.Name, Email: a.Email, OUPath: a.OUPath, Status: a.Status,
			Denied: a.Denied, Regions: a.Regions, FailRegions: a.FailRegions, rules: a.rules})
		for _, region := range a.Regions {
			for _, r := range o.Rules(a.ID, region) {
				fmt.Fprintf(h, "%s %s %+v\n", a.ID, region, r)
			}
		}
		fmt.Fprintf(ht, "%s %v\n", a.ID, o.Tags(a.ID))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("%+v: digest %s, want %s", cfg, got, want)
	}
	if got := hex.EncodeToString(ht.Sum(nil)); got != tags {
		t.Errorf("%+v: tags digest %s, want %s", cfg, got, tags)
	}
}
