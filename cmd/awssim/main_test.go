package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestRunRefusesBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"not a number", []string{"-accounts", "x"}, nil, `invalid value "x" for flag -accounts`},
		{"unknown flag", []string{"-bogus"}, nil, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"extra"}, nil, `unexpected argument "extra"`},
		{"org and accounts", []string{"-org", "x.json", "-accounts", "3"}, nil, "exclusive"},
		{"bad env", nil, map[string]string{"THROTTLE_RPS": "fast"}, `THROTTLE_RPS="fast"`},
		{"invalid values", []string{"-error-rate", "2", "-deny", "-1"}, nil, "error rate 2: want 0 to 1"},
		{"missing org file", []string{"-org", "/nonexistent/org.json"}, nil, "no such file"},
		{"bad region", []string{"-regions", "us-east-1,mars"}, nil, `region "mars"`},
		{"too many denied", []string{"-accounts", "3", "-deny", "10"}, nil, "deny 10"},
		{"disabled without opt-in region", []string{"-accounts", "3", "-regions", "us-east-1", "-disabled-regions", "1"}, nil, "disabled regions 1: no opt-in region"},
		{"too many not recording", []string{"-accounts", "3", "-not-recording", "50"}, nil, "not recording 50: only"},
		{"negative disabled from env", nil, map[string]string{"DISABLED_REGIONS": "-2"}, "disabled regions -2: negative"},
		{"org and week", []string{"-org", "x.json", "-week", "2"}, nil, "-org and -week are exclusive"},
		{"org and week 1", []string{"-org", "x.json", "-week", "1"}, nil, "-org and -week are exclusive"},
		{"org and week from env", []string{"-org", "x.json"}, map[string]string{"WEEK": "3"}, "-org and -week are exclusive"},
		{"week 0", []string{"-week", "0"}, nil, "week 0: want 1 to 520"},
		{"week too far", []string{"-accounts", "3", "-week", "521"}, nil, "week 521: want 1 to 520"},
		{"negative procs", []string{"-procs", "-1"}, nil, "procs -1: want 0"},
		{"unwritable cpu profile", []string{"-cpuprofile", "/nonexistent/awssim.prof"}, nil, "cpuprofile: open /nonexistent/awssim.prof"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			err := run(tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed usage on an error: %q", out.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-help"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Not AWS", "-throttle-rps", "THROTTLE_RPS", "-session-ttl", "--endpoint-url", "-cpuprofile", "GOGC=400", "-disabled-regions", "-not-recording", "DescribeRegions", "-week", "WEEK", "-procs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestSetProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	for _, tc := range []struct {
		n, want int
	}{
		{0, 2}, // Go's default left alone
		{1, 1},
		{3, 3},
	} {
		if err := setProcs(tc.n); err != nil {
			t.Fatalf("setProcs(%d): %v", tc.n, err)
		}
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("setProcs(%d): GOMAXPROCS %d, want %d", tc.n, got, tc.want)
		}
		runtime.GOMAXPROCS(2)
	}
}
