package local

import (
	"context"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/store/sqlite"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// Local mode's -owner-tags reaches the trigger: the run's RunStarted (in
// its store) carries each account's tags among the keys named, read with
// one ListTagsForResource per account; the scan still asks each account its
// regions once and each scanned region its recorder once.
func TestLocalOwnerTags(t *testing.T) {
	e := newEnv(t, 20, 3, awssim.Config{})
	owner, err := events.ParseOwnerTags("Owner|owner,Team")
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t)
	cfg.OwnerTags = owner
	cfg.RunID = "owner-tags"
	if _, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet()); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(cfg.Out, sqlite.FileName)}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.Run(context.Background(), cfg.RunID)
	if err != nil || run.Started == nil {
		t.Fatalf("no RunStarted: %+v %v", run, err)
	}
	keys := events.OwnerTagKeys(owner)
	org := e.sim.Org()
	tagged := 0
	for _, a := range run.Started.Accounts {
		var want map[string]string
		for _, tag := range org.Tags(string(a.AccountID)) {
			if slices.Contains(keys, tag.Key) {
				if want == nil {
					want = map[string]string{}
				}
				want[tag.Key] = tag.Value
			}
		}
		if !maps.Equal(a.Tags, want) {
			t.Errorf("%s: tags %v, want %v", a.AccountID, a.Tags, want)
		}
		if len(a.Tags) > 0 {
			tagged++
		}
	}
	if tagged == 0 {
		t.Error("no account has tags: the org does not exercise them")
	}
	stats := e.sim.Stats()
	sum := func(op string) (n int64) {
		for _, c := range stats.Calls[op] {
			n += c
		}
		return n
	}
	n := int64(len(run.Started.Accounts))
	if got := sum("ListTagsForResource"); got != n {
		t.Errorf("%d ListTagsForResource calls for %d accounts, want one each", got, n)
	}
	if got := sum("DescribeRegions"); got != n {
		t.Errorf("%d DescribeRegions calls for %d accounts, want one each", got, n)
	}
	if got := sum("DescribeConfigurationRecorderStatus"); got != n*int64(len(regions)) {
		t.Errorf("%d recorder status calls for %d accounts x %d regions", got, n, len(regions))
	}
}
