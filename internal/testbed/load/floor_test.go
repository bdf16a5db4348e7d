package load

import (
	"slices"
	"strings"
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

func TestFloorEnv(t *testing.T) {
	env := floorEnv([]string{"PATH=/bin", "AWS_PROFILE=prod", "AWS_ENDPOINT_URL_S3=http://elsewhere", "AWS_CA_BUNDLE=/x"}, "http://127.0.0.1:9")
	for _, want := range []string{"PATH=/bin", "AWS_ENDPOINT_URL=http://127.0.0.1:9", "AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret"} {
		if !slices.Contains(env, want) {
			t.Errorf("env %v lacks %s", env, want)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "AWS_PROFILE") || strings.HasPrefix(kv, "AWS_ENDPOINT_URL_S3") || strings.HasPrefix(kv, "AWS_CA_BUNDLE") {
			t.Errorf("env keeps the machine's %s", kv)
		}
	}
}
