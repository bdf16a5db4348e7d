package runstatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/sqlite"
)

// OpenStore is the command's Opener: the DynamoDB store (the SDK's
// standard configuration: credentials, region, AWS_ENDPOINT_URL_DYNAMODB),
// or local mode's SQLite file under src.Out. Retried AWS attempts are
// logged at warn on logger, so that an unreachable endpoint shows at once;
// an operator's command tries three times, not a service's ten.
func OpenStore(logger *slog.Logger) Opener {
	return func(ctx context.Context, src Source) (Lister, func() error, error) {
		if src.Out != "" {
			path := filepath.Join(src.Out, sqlite.FileName)
			// sqlite.Open would create an empty store: a wrong -out must say so.
			if _, err := os.Stat(path); err != nil {
				return nil, nil, ConfigError(fmt.Errorf("-out %s: no local-mode store there (%s: %v)", src.Out, sqlite.FileName, errors.Unwrap(err)))
			}
			st, err := sqlite.Open(ctx, sqlite.Config{Path: path, ReadConns: 2}, logger)
			if err != nil {
				return nil, nil, err
			}
			return st, st.Close, nil
		}
		cfg, err := awsconf.Load(ctx, awsconf.Options{Concurrency: 4, MaxAttempts: 3, Retries: awsconf.NewRetryLog(logger)})
		if err != nil {
			return nil, nil, ConfigError(err)
		}
		st, err := dynamo.New(dynamo.Config{Table: src.Table}, dynamodb.NewFromConfig(cfg), logger)
		if err != nil {
			return nil, nil, ConfigError(err)
		}
		return st, st.Close, nil
	}
}
