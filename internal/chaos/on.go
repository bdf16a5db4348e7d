//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Enabled reports whether this binary was built with the chaos tag.
const Enabled = true

// armedPoint is one armed crash or hold point.
type armedPoint struct {
	name string
	n    int64 // the hit that crashes (Point), or the hits let through (Hold)
}

// arm reads a point's variables. They are read once, at start-up: the
// environment of a process does not change under it, and points sit on hot
// paths (every render, every scan).
func arm(nameVar, countVar string, def, least int64) armedPoint {
	a := armedPoint{name: os.Getenv(nameVar), n: def}
	if v := os.Getenv(countVar); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < least {
			// A typo must not make a scenario pass by never crashing or
			// never holding.
			fmt.Fprintf(os.Stderr, "chaos: %s=%q is not an integer >= %d\n", countVar, v, least)
			os.Exit(2)
		}
		a.n = n
	}
	return a
}

var (
	crash    = arm(EnvCrash, EnvCrashAfter, 1, 1)
	hold     = arm(EnvHold, EnvHoldAfter, 0, 0)
	hits     atomic.Int64
	holdHits atomic.Int64
)

// Point kills the process with SIGKILL when it is the crash point named by
// CHAOS_CRASH, on its CHAOS_CRASH_AFTER-th hit. SIGKILL, not os.Exit or a
// panic: no deferred function runs, no buffer is flushed, no lease is
// released, exactly as when a node dies.
func Point(name string) {
	if crash.name == "" || name != crash.name {
		return
	}
	n := hits.Add(1)
	if n < crash.n {
		return
	}
	// The only trace the suite gets that the crash happened here (stderr
	// is unbuffered).
	fmt.Fprintf(os.Stderr, "chaos: crash point %s hit %d: SIGKILL\n", name, n)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered asynchronously; never return
}

// Hold never returns once the hold point named by CHAOS_HOLD has been hit
// CHAOS_HOLD_AFTER times: every later hit, from any goroutine, blocks its
// caller until the process is killed. The rest of the process (health
// endpoint, other goroutines) goes on, so the suite sees a live process
// that has stopped making progress at an exact count.
func Hold(name string) {
	if hold.name == "" || name != hold.name {
		return
	}
	n := holdHits.Add(1)
	if n <= hold.n {
		return
	}
	fmt.Fprintf(os.Stderr, "chaos: hold point %s hit %d: holding until killed\n", name, n)
	for {
		// A sleep, not an empty select: a process whose every goroutine
		// holds must not die of the runtime's deadlock detector.
		time.Sleep(time.Hour)
	}
}
