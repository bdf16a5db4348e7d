// Command configreport is the operator's command line: `configreport runs`
// lists the recent report runs from the dedupe store, and
// `configreport runs show ID` one run with the accounts not yet reported.
// The logic and the store's opening are internal/runstatus's.
//
// It is a binary of its own, not a subcommand of a service: the services
// are long-running processes configured for their queues, and the status
// needs none of that, only read access to the store. It is not in the
// container image either: it is run by an operator, from a laptop or CI,
// with the operator's credentials, because listing runs is a DynamoDB Scan
// that the services' role is deliberately not granted (internal/iampolicy).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cybsecops/configreport/internal/runstatus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	code := runstatus.Main(ctx, os.Args[1:], runstatus.Env{
		Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr, Open: runstatus.OpenStore(logger),
	})
	stop()
	os.Exit(code)
}
