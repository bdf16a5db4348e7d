package local

import (
	"context"
	"io"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/reportcheck"
)

// TestLocalCoverageAndOwners: an org with every fault awssim has (denied
// accounts, failing regions, opt-in regions not enabled, recorders absent
// and stopped) and tags, scanned with -owner-tags: the workbook's
// statuses, Errors, Coverage sheet and owner columns are exact against
// the ground truth (a disabled region is skipped and no error; a region
// not recording is read, counted, a recorder row and PARTIAL).
func TestLocalCoverageAndOwners(t *testing.T) {
	e := newEnv(t, 40, 16, awssim.Config{Deny: 1, FailRegions: 2, DisabledRegions: 2, NotRecording: 3})
	org := e.sim.Org()
	if len(org.DisabledRegions()) != 2 || len(org.NoRecorderRegions()) != 2 || len(org.StoppedRecorderRegions()) != 1 {
		t.Fatalf("org lacks the faults under test")
	}
	owners, err := events.ParseOwnerTags("Owner|owner,Team")
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t)
	cfg.OwnerTags = owners
	res, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	st, err := reportcheck.Check(res.Path, reportcheck.Expect{Org: org, Regions: regions, OwnerTags: owners, RunID: string(res.RunID), Trigger: "scheduled"})
	if err != nil {
		t.Fatalf("workbook differs from the ground truth:\n%v", err)
	}
	// 1 assume-role, 2 config, 3 recorder rows; the disabled regions none.
	if st.Errors != 1+2+3 || st.Coverage != st.Accounts*len(regions) {
		t.Errorf("checked %+v: want 6 error rows and a coverage row per account and region", st)
	}
}
