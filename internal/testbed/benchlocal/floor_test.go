package benchlocal

import (
	"strings"
	"testing"
	"time"
)

func TestCheckFloor(t *testing.T) {
	tr := truth{Active: make([]string, 3), Findings: 40}
	for _, tc := range []struct {
		line, err string
	}{
		{"floor: 120 calls (121 attempts, 1 throttled), 40 findings, 3 accounts, wall 1.00 s, cpu 0.10 s, 833 µs cpu per call, concurrency 64", ""},
		{"floor: 120 calls (121 attempts, 1 throttled), 39 findings, 3 accounts, wall 1.00 s", "floor read 39 findings of 3 accounts, want 40 of 3"},
		{"floor: 120 calls (121 attempts, 1 throttled), 40 findings, 2 accounts, wall 1.00 s", "floor read 40 findings of 2 accounts, want 40 of 3"},
		{"floor: load SDK config: boom", "unexpected last line"},
	} {
		err := checkFloor(tc.line, tr)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkFloor(%q) = %v, want %q", tc.line, err, tc.err)
		}
	}
}

func TestFloorTarget(t *testing.T) {
	for _, tc := range []struct {
		name         string
		local, floor row
		met          bool
		measured     string
	}{
		{"within", row{Name: "local", CPU: 12 * time.Second, Calls: 40000}, row{Name: "floor", CPU: 10 * time.Second, Calls: 40000}, true, "1.20× (300 µs vs 250 µs)"},
		{"above", row{Name: "local", CPU: 13 * time.Second, Calls: 40000}, row{Name: "floor", CPU: 10 * time.Second, Calls: 40000}, false, "1.30×"},
		{"per call, not per run", row{Name: "local", CPU: 12 * time.Second, Calls: 48000}, row{Name: "floor", CPU: 10 * time.Second, Calls: 40000}, true, "1.00×"},
		{"no floor calls", row{Name: "local", CPU: time.Second, Calls: 10}, row{Name: "floor"}, false, ""},
	} {
		v := floorTarget(tc.local, tc.floor)
		if v.Met != tc.met || !strings.Contains(v.Measured, tc.measured) || v.Bound != "≤ 1.25×" {
			t.Errorf("%s: %+v, want met %v, measured containing %q", tc.name, v, tc.met, tc.measured)
		}
	}
}
