// Package cli holds what every binary's main shares: flags that each have
// an environment variable (the flag's name upper-cased, '-' as '_'; a flag
// on the command line wins), a --help that names those variables, and the
// slog logger (JSON in the cluster, text locally). It holds no business
// logic.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// EnvName is the environment variable of a flag: -scan-queue-url is
// SCAN_QUEUE_URL.
func EnvName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the
// command line from its environment variable (looked up with getenv).
// Errors name the flag or the variable, on one line.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	fs.SetOutput(io.Discard) // errors are returned, usage printed by the caller
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// Usage writes a help text: the summary, then every flag with its
// environment variable and default.
func Usage(w io.Writer, fs *flag.FlagSet, summary string) {
	fmt.Fprintf(w, "%s\n\nFlags (each also read from the environment variable shown; a flag wins):\n", strings.TrimSpace(summary))
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  -%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "  (env %s)\n    \t%s", EnvName(f.Name), strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "[]" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	}
}

// Run parses flags and reports problems the way every binary does: -help
// prints usage and exits 0; a bad flag or variable prints one line naming
// it, and exits 2.
func Run(name, summary string, fs *flag.FlagSet, args []string) {
	err := Parse(fs, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		Usage(os.Stdout, fs, summary)
		os.Exit(0)
	}
	if err != nil {
		Fail(name, err)
	}
}

// Fail prints "name: problem" as one line (multi-problem errors joined
// with "; ") on stderr and exits 2: the fail-fast for bad configuration.
func Fail(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, OneLine(err))
	os.Exit(2)
}

// Exit prints "name: problem" as one line on stderr and exits 1: a runtime
// failure, as opposed to Fail's bad configuration.
func Exit(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, OneLine(err))
	os.Exit(1)
}

// OneLine flattens an error (errors.Join puts newlines between problems).
func OneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

// Strings is a repeatable, comma-separable flag (-account a -account b,c).
type Strings []string

func (s *Strings) String() string { return strings.Join(*s, ",") }

func (s *Strings) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// NewLogger returns a JSON (format "json") or text ("text") slog logger at
// level (debug, info, warn, error).
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}
