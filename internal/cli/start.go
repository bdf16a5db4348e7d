package cli

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Logging is a binary's log format and level: the defaults it is given,
// then -log-format and -log-level once Register has added them.
type Logging struct {
	Format string // "json" or "text"
	Level  string // debug, info, warn or error
}

// Register adds -log-format and -log-level to fs, defaulting to l's values.
func (l *Logging) Register(fs *flag.FlagSet) {
	formats := "json or text"
	if l.Format == "text" {
		formats = "text or json"
	}
	fs.StringVar(&l.Format, "log-format", l.Format, "log format: "+formats)
	fs.StringVar(&l.Level, "log-level", l.Level, "log level: debug, info, warn or error")
}

// Logger is NewLogger at l's format and level.
func (l Logging) Logger(w io.Writer) (*slog.Logger, error) {
	return NewLogger(w, l.Format, l.Level)
}

// Start is the start-up every binary shares once its flags are registered:
// it parses args as Run does, makes the logger on stderr (a bad format or
// level fails as bad configuration), and returns a context cancelled on
// SIGINT or SIGTERM, whose stop the caller defers.
func Start(name, summary string, fs *flag.FlagSet, args []string, l *Logging) (context.Context, context.CancelFunc, *slog.Logger) {
	Run(name, summary, fs, args)
	logger, err := l.Logger(os.Stderr)
	if err != nil {
		Fail(name, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, stop, logger
}
