//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// Enabled reports whether this binary was built with the chaos tag.
const Enabled = true

// armed is read once, at start-up: the environment of a process does not
// change under it, and Point sits on hot paths (every render).
var armed = func() struct {
	name  string
	after int64
} {
	a := struct {
		name  string
		after int64
	}{name: os.Getenv(EnvCrash), after: 1}
	if v := os.Getenv(EnvCrashAfter); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			// A typo must not make a scenario pass by never crashing.
			fmt.Fprintf(os.Stderr, "chaos: %s=%q is not a positive integer\n", EnvCrashAfter, v)
			os.Exit(2)
		}
		a.after = n
	}
	return a
}()

var hits atomic.Int64

// Point kills the process with SIGKILL when it is the crash point named by
// CHAOS_CRASH, on its CHAOS_CRASH_AFTER-th hit. SIGKILL, not os.Exit or a
// panic: no deferred function runs, no buffer is flushed, no lease is
// released, exactly as when a node dies.
func Point(name string) {
	if armed.name == "" || name != armed.name {
		return
	}
	n := hits.Add(1)
	if n < armed.after {
		return
	}
	// The only trace the suite gets that the crash happened here (stderr
	// is unbuffered).
	fmt.Fprintf(os.Stderr, "chaos: crash point %s hit %d: SIGKILL\n", name, n)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered asynchronously; never return
}
