package cli

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// MemoryLimitEnv is the environment variable the manifests fill with the
// container's memory limit in bytes, through the Downward API
// (resourceFieldRef limits.memory).
const MemoryLimitEnv = "MEMORY_LIMIT"

// MemoryLimitPercent is the share of the container's memory limit given to
// the Go runtime as its soft limit. GOMEMLIMIT counts only memory the Go
// runtime manages; the cgroup limit that OOM-kills the container also counts
// the binary's text, the page cache of files written to TMPDIR (excelize's
// spill files) and the kernel's per-socket buffers. At exactly the limit the
// collector would start working hard only when the kernel is already about to
// kill the container; at 90% it works hard while a tenth of the container
// remains for the rest.
const MemoryLimitPercent = 90

// memoryLimit decides the Go memory limit from the environment: ok false
// when it is left as it is (GOMEMLIMIT set explicitly, which the runtime has
// already applied, or no MEMORY_LIMIT), why says which.
func memoryLimit(getenv func(string) string) (limit int64, ok bool, why string, err error) {
	if g := getenv("GOMEMLIMIT"); g != "" {
		return 0, false, "GOMEMLIMIT is set", nil
	}
	raw := strings.TrimSpace(getenv(MemoryLimitEnv))
	if raw == "" {
		return 0, false, MemoryLimitEnv + " is not set", nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, "", fmt.Errorf("%s=%q: want the container's memory limit in bytes (resourceFieldRef limits.memory)", MemoryLimitEnv, raw)
	}
	if n > math.MaxInt64/MemoryLimitPercent {
		return n / 100 * MemoryLimitPercent, true, "", nil
	}
	return n * MemoryLimitPercent / 100, true, "", nil
}

// MemoryLimit sets the Go runtime's soft memory limit to MemoryLimitPercent
// of the container's memory limit (MEMORY_LIMIT, from the Downward API),
// unless GOMEMLIMIT is set, and logs the limit in force once, at info. A
// MEMORY_LIMIT that is not a positive number of bytes is a deployment
// mistake: it prints one line and exits 2, like a bad flag.
func MemoryLimit(name string, log *slog.Logger, getenv func(string) string) {
	limit, ok, why, err := memoryLimit(getenv)
	if err != nil {
		Fail(name, err)
	}
	if ok {
		debug.SetMemoryLimit(limit)
		log.Info("Go memory limit set from the container's memory limit",
			slog.Int64("gomemlimit_bytes", limit), slog.String("container_limit", getenv(MemoryLimitEnv)),
			slog.Int("percent", MemoryLimitPercent))
		return
	}
	// A negative input only reads the current limit (math.MaxInt64: none).
	cur := debug.SetMemoryLimit(-1)
	log.Info("Go memory limit left as it is", slog.String("reason", why), slog.Int64("gomemlimit_bytes", cur))
}
