package load

import (
	"testing"
	"time"
)

func TestFloorPerCall(t *testing.T) {
	for _, tc := range []struct {
		f    FloorRun
		want time.Duration
	}{
		{FloorRun{Calls: 4000, CPU: time.Second}, 250 * time.Microsecond},
		{FloorRun{Calls: 0, CPU: time.Second}, 0},
	} {
		if got := tc.f.PerCall(); got != tc.want {
			t.Errorf("%+v.PerCall() = %s, want %s", tc.f, got, tc.want)
		}
	}
}
