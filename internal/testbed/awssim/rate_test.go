package awssim_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func serveRate(t *testing.T, cfg awssim.Config) (*awssim.Sim, string) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := awssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func TestMeasure(t *testing.T) {
	regions := []string{"us-east-1", "ap-east-1"}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 20, Seed: 1, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	sim, url := serveRate(t, awssim.Config{Org: org})
	reset := false
	r, err := awssim.MeasureRate(context.Background(), awssim.RateConfig{Endpoint: url, Org: org, Regions: regions, Workers: 4, Window: 200 * time.Millisecond,
		BeforeWindow: func(context.Context) error { reset = true; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !reset || r.Calls == 0 || r.Failed != 0 || r.Workers != 4 || r.PerSecond() <= 0 {
		t.Errorf("result %+v (before-window ran: %v)", r, reset)
	}
	// Every one of a scan's Config operations was replayed, and every
	// call was signed well enough for awssim to answer it.
	st := sim.Stats()
	for _, op := range []string{"DescribeConfigRules", "DescribeComplianceByConfigRule", "GetComplianceDetailsByConfigRule"} {
		var n int64
		for _, c := range st.Calls[op] {
			n += c
		}
		if n == 0 {
			t.Errorf("no %s replayed", op)
		}
	}
	if st.Errors != 0 {
		t.Errorf("awssim answered %d errors", st.Errors)
	}
}

func TestMeasureRefusals(t *testing.T) {
	regions := []string{"us-east-1"}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 5, Seed: 1, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	// Every ACTIVE member account refuses the read role.
	members := 0
	for _, a := range org.Accounts {
		if a.Status == awssim.StatusActive && a.ID != org.ManagementAccountID {
			members++
		}
	}
	_, url := serveRate(t, awssim.Config{Org: org, Deny: members})
	if _, err := awssim.MeasureRate(context.Background(), awssim.RateConfig{Endpoint: url, Org: org, Regions: regions, Workers: 2, Window: 50 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "assume the read role") {
		t.Errorf("err = %v, want the refused AssumeRole", err)
	}
	if _, err := awssim.MeasureRate(context.Background(), awssim.RateConfig{Endpoint: url, Regions: regions}); err == nil {
		t.Error("no org: accepted")
	}
}

func TestFetchAndResetStats(t *testing.T) {
	regions := []string{"us-east-1"}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 3, Seed: 1, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	_, url := serveRate(t, awssim.Config{Org: org})
	ctx := context.Background()
	if _, err := awssim.MeasureRate(ctx, awssim.RateConfig{Endpoint: url, Org: org, Regions: regions, Workers: 1, Window: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	st, err := awssim.FetchStats(ctx, http.DefaultClient, url)
	if err != nil || st.Total == 0 || st.OpCalls("AssumeRole") == 0 || st.ConfigCalls() == 0 {
		t.Fatalf("stats after a measurement: %+v, %v", st, err)
	}
	if err := awssim.ResetStats(ctx, http.DefaultClient, url); err != nil {
		t.Fatal(err)
	}
	if st, err := awssim.FetchStats(ctx, http.DefaultClient, url); err != nil || st.Total != 0 {
		t.Errorf("stats after reset: total %d, %v", st.Total, err)
	}
	if _, err := awssim.FetchStats(ctx, http.DefaultClient, url+"/nope"); err == nil {
		t.Error("a wrong endpoint gave no error")
	}
}
