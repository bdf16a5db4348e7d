package cli

import (
	"bytes"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestMemoryLimitDecision(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		limit   int64
		ok      bool
		why     string
		wantErr string
	}{
		{"90% of the container's limit", map[string]string{"MEMORY_LIMIT": "1073741824"}, 966367641, true, "", ""},
		{"small limit", map[string]string{"MEMORY_LIMIT": "100"}, 90, true, "", ""},
		{"surrounding space", map[string]string{"MEMORY_LIMIT": " 268435456\n"}, 241591910, true, "", ""},
		{"no overflow near the maximum", map[string]string{"MEMORY_LIMIT": "9223372036854775807"}, math.MaxInt64 / 100 * 90, true, "", ""},
		{"explicit GOMEMLIMIT wins", map[string]string{"MEMORY_LIMIT": "1073741824", "GOMEMLIMIT": "500MiB"}, 0, false, "GOMEMLIMIT is set", ""},
		{"explicit GOMEMLIMIT off wins", map[string]string{"MEMORY_LIMIT": "1073741824", "GOMEMLIMIT": "off"}, 0, false, "GOMEMLIMIT is set", ""},
		{"not in a container", nil, 0, false, "MEMORY_LIMIT is not set", ""},
		{"a quantity, not bytes", map[string]string{"MEMORY_LIMIT": "1Gi"}, 0, false, "", `MEMORY_LIMIT="1Gi": want the container's memory limit in bytes`},
		{"zero", map[string]string{"MEMORY_LIMIT": "0"}, 0, false, "", `MEMORY_LIMIT="0"`},
		{"negative", map[string]string{"MEMORY_LIMIT": "-5"}, 0, false, "", `MEMORY_LIMIT="-5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, ok, why, err := memoryLimit(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || limit != tt.limit || ok != tt.ok || why != tt.why {
				t.Errorf("memoryLimit = %d, %v, %q, %v; want %d, %v, %q", limit, ok, why, err, tt.limit, tt.ok, tt.why)
			}
		})
	}
}

// MemoryLimit applies the decision to the runtime and logs it once, at info.
func TestMemoryLimitApplies(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	MemoryLimit("t", log, func(k string) string { return map[string]string{"MEMORY_LIMIT": "536870912"}[k] })
	if got := debug.SetMemoryLimit(-1); got != 483183820 {
		t.Errorf("runtime memory limit = %d, want 483183820 (90%% of 512 MiB)", got)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"level":"INFO"`) || !strings.Contains(buf.String(), `"gomemlimit_bytes":483183820`) {
		t.Errorf("want one info line with the limit, got:\n%s", buf.String())
	}

	// GOMEMLIMIT set: the runtime's value stays.
	debug.SetMemoryLimit(123 << 20)
	buf.Reset()
	MemoryLimit("t", log, func(k string) string {
		return map[string]string{"MEMORY_LIMIT": "536870912", "GOMEMLIMIT": "123MiB"}[k]
	})
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Errorf("with GOMEMLIMIT: runtime memory limit = %d, want %d", got, 123<<20)
	}
	if !strings.Contains(buf.String(), "GOMEMLIMIT is set") {
		t.Errorf("log does not say why the limit was left: %s", buf.String())
	}
}
