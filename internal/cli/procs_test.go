package cli

import (
	"bytes"
	"log/slog"
	"runtime"
	"strings"
	"testing"
)

func TestProcsDecision(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		env     map[string]string
		set     int
		ok      bool
		why     string
		wantErr string
	}{
		{"the binary's figure", 1, nil, 1, true, "", ""},
		{"more than one", 3, nil, 3, true, "", ""},
		{"explicit GOMAXPROCS wins", 1, map[string]string{"GOMAXPROCS": "4"}, 0, false, "GOMAXPROCS is set", ""},
		{"0: Go's default", 0, nil, 0, false, "-procs 0: Go's default", ""},
		{"GOMAXPROCS wins over 0 too", 0, map[string]string{"GOMAXPROCS": "2"}, 0, false, "GOMAXPROCS is set", ""},
		{"blank GOMAXPROCS is not set", 1, map[string]string{"GOMAXPROCS": " "}, 1, true, "", ""},
		{"negative", -1, nil, 0, false, "", "-procs -1: want 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, ok, why, err := procs(tt.n, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || set != tt.set || ok != tt.ok || why != tt.why {
				t.Errorf("procs = %d, %v, %q, %v; want %d, %v, %q", set, ok, why, err, tt.set, tt.ok, tt.why)
			}
		})
	}
}

// Procs applies the decision to the runtime and logs it once, at info.
func TestProcsApplies(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	runtime.GOMAXPROCS(2)

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	Procs("t", log, 1, func(string) string { return "" })
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS = %d, want 1", got)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"gomaxprocs":1`) {
		t.Errorf("want one info line with the figure, got:\n%s", buf.String())
	}

	// GOMAXPROCS set: the runtime's value stays.
	runtime.GOMAXPROCS(2)
	buf.Reset()
	Procs("t", log, 1, func(k string) string { return map[string]string{"GOMAXPROCS": "2"}[k] })
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("with GOMAXPROCS: GOMAXPROCS = %d, want 2", got)
	}
	if !strings.Contains(buf.String(), "GOMAXPROCS is set") || !strings.Contains(buf.String(), `"gomaxprocs":2`) {
		t.Errorf("log does not say why the figure was left: %s", buf.String())
	}
}
