package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cybsecops/configreport/internal/store"
)

// API is the part of *dynamodb.Client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Attribute and index names: the CloudFormation template must match them.
const (
	AttrPK      = "pk"
	AttrSK      = "sk"
	AttrQueue   = "queue"      // sparse GSI hash key
	AttrExpires = "expires_at" // TTL attribute, epoch seconds
	QueueIndex  = "queue-index"

	queuePending    = "pending"
	queueUnticketed = "unticketed"
)

// DynamoDB's item limit is 400 KB (names and values); a chunk leaves room
// for the keys and attributes beside it.
const defaultChunkSize = 350 * 1024

// Config configures New.
type Config struct {
	// Table is the table's name (from CloudFormation in production).
	Table string
	// Retention is how long items live before DynamoDB's TTL deletes them;
	// default 30 days. It must outlast a run's deadline by far.
	Retention time.Duration
	// ChunkSize is the most compressed body bytes one item carries; larger
	// bodies are split. Default 350 KiB; tests lower it to exercise chunking.
	ChunkSize int
	// RecountEvery bounds how often Run recounts an incomplete run's
	// results to repair its counter after a crash; default 1 minute.
	RecountEvery time.Duration
	// Now stamps expires_at and paces recounts; default time.Now.
	Now func() time.Time
	// Unsafe is for tests proving the conformance suite can fail; nil in
	// production (and inert there anyway, see store.Unsafe).
	Unsafe *store.Unsafe
}

func (c *Config) setDefaults() {
	c.Retention = cmp.Or(c.Retention, 30*24*time.Hour)
	c.ChunkSize = cmp.Or(c.ChunkSize, defaultChunkSize)
	c.RecountEvery = cmp.Or(c.RecountEvery, time.Minute)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Table == "" {
		errs = append(errs, errors.New("dynamo store: table name is required"))
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("dynamo store: retention %s is under a day (runs would expire mid-flight)", c.Retention))
	}
	if c.RecountEvery < 0 {
		errs = append(errs, fmt.Errorf("dynamo store: recount interval %s is negative", c.RecountEvery))
	}
	if c.ChunkSize < 1024 || c.ChunkSize > defaultChunkSize {
		errs = append(errs, fmt.Errorf("dynamo store: chunk size %d is outside [1024, %d]", c.ChunkSize, defaultChunkSize))
	}
	return errors.Join(errs...)
}

// Store implements store.Store on one DynamoDB table.
type Store struct {
	api     API
	cfg     Config
	log     *slog.Logger
	started *store.StartedCache
	// counters coalesces concurrent increments of a run's counter.
	counters counters
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.ResultCounter = (*Store)(nil)
)

// New returns a store on cfg.Table through api (a *dynamodb.Client).
func New(cfg Config, api API, logger *slog.Logger) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if api == nil {
		return nil, errors.New("dynamo store: nil client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{api: api, cfg: cfg, log: logger.With(slog.String("table", cfg.Table)), started: store.NewStartedCache(64)}, nil
}

// Close implements store.Store; the client is the caller's.
func (s *Store) Close() error { return nil }
