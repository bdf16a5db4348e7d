package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func TestBaselineRefEqual(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 1, 0, 0, 5, time.UTC)
	ref := &store.BaselineRef{RunID: "w1", GeneratedAt: t0, FindingsKey: "f"}
	for _, tc := range []struct {
		name string
		a, b *store.BaselineRef
		want bool
	}{
		{"both none", nil, nil, true},
		{"none and some", nil, ref, false},
		{"some and none", ref, nil, false},
		{"same values, other zone", ref, &store.BaselineRef{RunID: "w1", GeneratedAt: t0.In(time.FixedZone("HKT", 8*3600)), FindingsKey: "f"}, true},
		{"other run", ref, &store.BaselineRef{RunID: "w2", GeneratedAt: t0, FindingsKey: "f"}, false},
		{"other time", ref, &store.BaselineRef{RunID: "w1", GeneratedAt: t0.Add(1), FindingsKey: "f"}, false},
		{"other findings key", ref, &store.BaselineRef{RunID: "w1", GeneratedAt: t0, FindingsKey: "g"}, false},
	} {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheckPin(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		id      ident.RunID
		ref     *store.BaselineRef
		invalid bool
	}{
		{"none", "run-1", nil, false},
		{"a run", "run-1", &store.BaselineRef{RunID: "run-0", GeneratedAt: t0, FindingsKey: "f"}, false},
		{"invalid run id", "bad id", nil, true},
		{"invalid baseline id", "run-1", &store.BaselineRef{RunID: "bad id", FindingsKey: "f"}, true},
		{"itself", "run-1", &store.BaselineRef{RunID: "run-1", FindingsKey: "f"}, true},
		{"no findings key", "run-1", &store.BaselineRef{RunID: "run-0"}, true},
	} {
		err := store.CheckPin(tc.id, tc.ref)
		if got := errors.Is(err, store.ErrInvalid); got != tc.invalid || (!tc.invalid && err != nil) {
			t.Errorf("%s: CheckPin = %v, want invalid %v", tc.name, err, tc.invalid)
		}
	}
}
