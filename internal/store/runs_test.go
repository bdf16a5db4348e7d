package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func TestSummarize(t *testing.T) {
	run := func(ids ...ident.AccountID) *events.RunStarted {
		rs := &events.RunStarted{RunID: "r"}
		for _, id := range ids {
			rs.Accounts = append(rs.Accounts, events.Account{AccountID: id})
		}
		return rs
	}
	ok, failed, partial := events.StatusOK, events.StatusFailed, events.StatusPartial
	tests := []struct {
		name       string
		started    *events.RunStarted
		statuses   map[ident.AccountID]events.Status
		with       bool
		want       [4]int // expected, reported, failed, missing
		unreported []ident.AccountID
	}{
		{"none reported", run("a", "b"), nil, true, [4]int{2, 0, 0, 2}, []ident.AccountID{"a", "b"}},
		{"mixed", run("a", "b", "c", "d"), map[ident.AccountID]events.Status{"a": ok, "b": failed, "c": partial}, true, [4]int{4, 3, 1, 1}, []ident.AccountID{"d"}},
		{"listed twice counts once", run("a", "b", "a"), map[ident.AccountID]events.Status{"b": failed}, true, [4]int{2, 1, 1, 1}, []ident.AccountID{"a"}},
		{"unexpected results ignored", run("a"), map[ident.AccountID]events.Status{"a": ok, "z": failed}, true, [4]int{1, 1, 0, 0}, nil},
		{"without unreported", run("a", "b"), map[ident.AccountID]events.Status{"a": ok}, false, [4]int{2, 1, 0, 1}, nil},
		{"no RunStarted yet", nil, map[ident.AccountID]events.Status{"a": ok, "b": failed}, true, [4]int{0, 2, 1, 0}, nil},
		{"status unknown (old marker)", run("a"), map[ident.AccountID]events.Status{"a": ""}, true, [4]int{1, 1, 0, 0}, nil},
	}
	for _, tc := range tests {
		sum := store.Summarize(store.RunState{RunID: "r", Started: tc.started}, tc.statuses, tc.with)
		if got := [4]int{sum.Expected, sum.Reported, sum.Failed, sum.Missing}; got != tc.want {
			t.Errorf("%s: counts %v, want %v", tc.name, got, tc.want)
		}
		var got []ident.AccountID
		for _, a := range sum.Unreported {
			got = append(got, a.AccountID)
		}
		if !slices.Equal(got, tc.unreported) {
			t.Errorf("%s: unreported %v, want %v", tc.name, got, tc.unreported)
		}
	}
}

func TestByLatest(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	type run struct {
		at time.Time
		id ident.RunID
	}
	runs := []run{{t0, "b"}, {t0.Add(time.Hour), "a"}, {time.Time{}, "z"}, {t0, "c"}, {t0.Add(-time.Hour), "d"}}
	slices.SortFunc(runs, func(x, y run) int { return store.ByLatest(x.at, x.id, y.at, y.id) })
	var got []ident.RunID
	for _, r := range runs {
		got = append(got, r.id)
	}
	if want := []ident.RunID{"a", "c", "b", "d", "z"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v (latest first, ties by id descending, no start last)", got, want)
	}
}
