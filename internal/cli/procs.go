package cli

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
)

// procs decides the processors (GOMAXPROCS) a binary runs on from its
// -procs flag n and the environment: ok false when the runtime's value is
// left as it is (GOMAXPROCS set explicitly, which the runtime has already
// applied, or n 0: Go's default), why says which.
func procs(n int, getenv func(string) string) (set int, ok bool, why string, err error) {
	if n < 0 {
		return 0, false, "", fmt.Errorf("-procs %d: want 0 (Go's default) or more", n)
	}
	if strings.TrimSpace(getenv("GOMAXPROCS")) != "" {
		return 0, false, "GOMAXPROCS is set", nil
	}
	if n == 0 {
		return 0, false, "-procs 0: Go's default", nil
	}
	return n, true, "", nil
}

// Procs sets the Go runtime's processors (GOMAXPROCS) to n, the binary's
// -procs, unless the environment sets GOMAXPROCS (the runtime has applied
// it) or n is 0 (Go's default: the container's CPU limit rounded up, at
// least 2, else every core), and logs the figure in force once, at info.
// A negative n is a configuration mistake: one line, exit 2, like a bad
// flag.
func Procs(name string, log *slog.Logger, n int, getenv func(string) string) {
	set, ok, why, err := procs(n, getenv)
	if err != nil {
		Fail(name, err)
	}
	if ok {
		runtime.GOMAXPROCS(set)
		log.Info("processors set", slog.Int("gomaxprocs", set))
		return
	}
	log.Info("processors left as they are", slog.String("reason", why), slog.Int("gomaxprocs", runtime.GOMAXPROCS(0)))
}
