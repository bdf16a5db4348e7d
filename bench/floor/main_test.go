package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		regions []string
		conc    int
		err     string
	}{
		{nil, []string{"us-east-1", "eu-west-1"}, 64, ""},
		{[]string{"-regions", " us-east-1 ,,ap-east-1", "-concurrency", "8"}, []string{"us-east-1", "ap-east-1"}, 8, ""},
		{[]string{"-regions", ","}, nil, 0, "-regions: at least one region"},
		{[]string{"-concurrency", "0"}, nil, 0, "-concurrency 0: at least 1"},
	}
	for _, tc := range tests {
		o, err := parse(tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parse(%q) error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("parse(%q): %v", tc.args, err)
		}
		if strings.Join(o.regions, ",") != strings.Join(tc.regions, ",") || o.concurrency != tc.conc {
			t.Errorf("parse(%q) = %v %d, want %v %d", tc.args, o.regions, o.concurrency, tc.regions, tc.conc)
		}
	}
}

// TestRunCountsEveryCall scans a generated org through awssim and checks
// that the calls the floor counts are the calls awssim answered (less the
// untimed account listing), with a disabled opt-in region skipped as the
// scan skips it.
func TestRunCountsEveryCall(t *testing.T) {
	regions := []string{"us-east-1", "ap-east-1"}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 30, Seed: 7, Regions: regions, Rules: 5})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := awssim.New(awssim.Config{Org: org, DisabledRegions: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDHUB")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "hubsecret")
	t.Setenv("AWS_CA_BUNDLE", "")

	var out strings.Builder
	if err := run(context.Background(), []string{"-regions", strings.Join(regions, ","), "-concurrency", "4"}, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^floor: (\d+) calls \((\d+) attempts, 0 throttled\), (\d+) findings, (\d+) accounts, wall [\d.]+ s, cpu [\d.]+ s, \d+ µs cpu per call, concurrency 4\n$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output %q", out.String())
	}
	calls, _ := strconv.Atoi(m[1])
	attempts, _ := strconv.Atoi(m[2])
	accounts, _ := strconv.Atoi(m[4])
	// A call the SDK retried (a connection reset under a loaded -race run)
	// reaches awssim more than once: awssim answers attempts, not calls.
	retries := attempts - calls
	if retries < 0 {
		t.Fatalf("%d attempts for %d calls", attempts, calls)
	}

	resp, err := http.Get(srv.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Calls map[string]map[string]int `json:"calls"`
		Total int                       `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	sum := func(op string) (n int) {
		for _, v := range stats.Calls[op] {
			n += v
		}
		return n
	}
	if want := stats.Total - sum("ListAccounts"); attempts != want {
		t.Errorf("floor counted %d attempts, awssim answered %d besides ListAccounts", attempts, want)
	}
	if got := sum("DescribeRegions"); got < accounts || got > accounts+retries {
		t.Errorf("DescribeRegions %d, want one per account (%d), %d retries aside", got, accounts, retries)
	}
	if got, want := sum("DescribeConfigurationRecorderStatus"), accounts*len(regions)-3; got < want || got > want+retries {
		t.Errorf("DescribeConfigurationRecorderStatus %d, want %d (one per enabled account-region), %d retries aside", got, want, retries)
	}
}
