// Command configreport is the operator's command line: `configreport runs`
// lists the recent report runs from the dedupe store, and
// `configreport runs show ID` one run with the accounts not yet reported.
// The logic is internal/runstatus's; this file opens the store.
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
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/runstatus"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runstatus.Main(ctx, os.Args[1:], runstatus.Env{
		Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr, Open: open,
	})
	stop()
	os.Exit(code)
}

// open opens the DynamoDB store or local mode's SQLite file, read-only in
// use (runstatus only reads).
func open(ctx context.Context, src runstatus.Source) (runstatus.Lister, func() error, error) {
	// Retried attempts are logged at warn on stderr, so that an
	// unreachable endpoint is seen at once; an operator's command tries
	// three times, not a service's ten.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if src.Out != "" {
		path := filepath.Join(src.Out, sqlite.FileName)
		// sqlite.Open would create an empty store: a wrong -out must say so.
		if _, err := os.Stat(path); err != nil {
			return nil, nil, runstatus.ConfigError(fmt.Errorf("-out %s: no local-mode store there (%s: %v)", src.Out, sqlite.FileName, errors.Unwrap(err)))
		}
		st, err := sqlite.Open(ctx, sqlite.Config{Path: path, ReadConns: 2}, logger)
		if err != nil {
			return nil, nil, err
		}
		return st, st.Close, nil
	}
	cfg, err := awsconf.Load(ctx, awsconf.Options{Concurrency: 4, MaxAttempts: 3, Retries: awsconf.NewRetryLog(logger)})
	if err != nil {
		return nil, nil, runstatus.ConfigError(err)
	}
	st, err := dynamo.New(dynamo.Config{Table: src.Table}, dynamodb.NewFromConfig(cfg), logger)
	if err != nil {
		return nil, nil, runstatus.ConfigError(err)
	}
	return st, st.Close, nil
}
