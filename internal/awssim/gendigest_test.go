package awssim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// TestGeneratedRulesPinned pins every rule and result of two generated orgs
// (the 1,000-account org of the local-mode benchmark, and a smaller one
// with other knobs) by a digest: deriving rules faster must not change one
// resource id, so that a seed keeps naming the same org across versions.
func TestGeneratedRulesPinned(t *testing.T) {
	for _, tc := range []struct {
		cfg  GenConfig
		want string
	}{
		{GenConfig{Accounts: 1000, Seed: 1, Regions: []string{"us-east-1", "ap-east-1"}}, "6e0b3c50ba6133b0c20de5223e3035be39f64f60118e80b2612b86729e3f1a40"},
		{GenConfig{Accounts: 200, Seed: 9, Rules: 30, NonCompliant: 0.6, Regions: []string{"eu-west-1", "us-gov-west-1", "ap-southeast-2"}}, "ff0771b2c01bc65fc9fbd5988ddaff3d7468b0d1db0fd0d1502898c1b0768646"},
	} {
		o, err := Generate(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, a := range o.Accounts {
			fmt.Fprintf(h, "%+v\n", a)
			for _, region := range a.Regions {
				for _, r := range o.Rules(a.ID, region) {
					fmt.Fprintf(h, "%s %s %+v\n", a.ID, region, r)
				}
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != tc.want {
			t.Errorf("%+v: digest %s, want %s", tc.cfg, got, tc.want)
		}
	}
}
