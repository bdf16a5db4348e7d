// Package app wires the pipeline's stages: the one place where the
// trigger, the scanner and the aggregator are built from their adapters.
// The cmd mains pass the production adapters (SQS/SNS through msg.Transport,
// DynamoDB, S3, Jira); local mode and tests pass in-memory queues, SQLite
// and a folder. The graph is the same, so what the tests prove is what runs.
//
// The stages never import each other: each declares the interfaces it
// calls (the trigger's Finder, the scanner's Namer) and the wiring here
// hands them the Organizations walker; they share only the contracts
// (internal/events) and the one way to open a run (internal/runstart).
// It holds no business logic. Its only flags are the trigger's
// (TriggerFlags), because they configure the walk as well as the run.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/msg"
	"github.com/cybsecops/configreport/internal/scan"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/trigger"
)

// Bus carries the logical topics (events.TopicScanRequests, events.TopicResults,
// events.TopicPoison): *msg.Transport in the cluster, memqueue locally.
type Bus interface {
	Publisher() message.Publisher
	Subscriber() message.Subscriber
}

// AWS is the hub identity and the roles assumed from it.
type AWS struct {
	// Hub is the configuration the services run with (IRSA in the cluster,
	// a profile on a laptop, awssim's endpoint in tests).
	Hub aws.Config
	// Roles caches the credentials of assumed roles.
	Roles *awsconf.Roles
	// OrgRoleARN is the org-list role; empty uses the hub's own identity.
	OrgRoleARN string
	// Waiting says what the AWS calls are waiting on
	// (awsconf.RetryLog.Waiting); nil: not said.
	Waiting func() string
}

// NewAWS builds the role cache over hub.
func NewAWS(hub aws.Config, orgRoleARN, sessionName string) (AWS, error) {
	roles, err := awsconf.NewRoles(hub, awsconf.RoleOptions{SessionName: sessionName})
	if err != nil {
		return AWS{}, err
	}
	return AWS{Hub: hub, Roles: roles, OrgRoleARN: orgRoleARN}, nil
}

// Walker returns the Organizations walker (discovery and ad-hoc lookups),
// acting as the org-list role.
func (a AWS) Walker(cfg discover.Config) (*discover.Walker, error) {
	orgs, err := discover.NewClient(a.Hub, a.OrgRoleARN, a.Roles)
	if err != nil {
		return nil, fmt.Errorf("organizations client: %w", err)
	}
	return discover.New(orgs, cfg)
}

// Codec is the events codec of every stage: claim checks in payloads under
// prefix.
func Codec(payloads blob.Store, prefix string) events.Codec {
	c := events.Codec{PayloadPrefix: prefix}
	if payloads != nil {
		c.Payloads = blob.Payloads{Store: payloads}
	}
	return c
}

// TriggerConfig is what opening a run needs: the run's own (trigger.Config)
// and the walk's, which the trigger does not see (it finds accounts
// through the Finder built from these).
type TriggerConfig struct {
	Run trigger.Config
	// Filter (-include-accounts, -exclude-accounts, -include-ous,
	// -exclude-ous) chooses the accounts of a scheduled run; an ad-hoc run
	// scans the accounts it names.
	Filter discover.Filter
	// OrgConcurrency bounds the Organizations calls in flight; default
	// discover.DefaultConcurrency.
	OrgConcurrency int
	// OwnerTags (-owner-tags): the account tags the report's owner columns
	// show; every tag key they name is read for each account of the run
	// (ListTagsForResource, with the walk or the ad-hoc lookup) into
	// RunStarted. None: no tags read.
	OwnerTags []events.OwnerTag
}

func (c *TriggerConfig) setDefaults() {
	if c.OrgConcurrency == 0 {
		c.OrgConcurrency = discover.DefaultConcurrency
	}
}

// Validate reports every problem at once (the run's too, its defaults
// filled in).
func (c TriggerConfig) Validate() error {
	c.setDefaults()
	c.Run.SetDefaults()
	var errs []error
	if err := c.Run.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Filter.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("filter: %w", err))
	}
	if c.OrgConcurrency < 1 || c.OrgConcurrency > 64 {
		errs = append(errs, fmt.Errorf("org concurrency %d: want 1 to 64", c.OrgConcurrency))
	}
	return errors.Join(errs...)
}

// Trigger opens one run: discovery (or the ad-hoc lookup) and publication.
func Trigger(ctx context.Context, cfg TriggerConfig, bus Bus, a AWS, codec events.Codec, logger *slog.Logger) (events.RunStarted, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return events.RunStarted{}, fmt.Errorf("trigger config: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	if len(cfg.Run.Accounts) > 0 && !cfg.Filter.IsZero() {
		logger.Info("filters ignored: an ad-hoc run scans the accounts it names")
	}
	walker, err := a.Walker(discover.Config{
		Filter: cfg.Filter, Concurrency: cfg.OrgConcurrency, Logger: logger,
		TagKeys: events.OwnerTagKeys(cfg.OwnerTags),
	})
	if err != nil {
		return events.RunStarted{}, err
	}
	return trigger.Run(ctx, cfg.Run, trigger.Deps{Finder: walker, Publisher: bus.Publisher(), Codec: codec, Logger: logger, Waiting: a.Waiting})
}

// Service is a stage running as consumers on a router, plus background
// loops (the aggregator's).
type Service struct {
	Name   string
	Router *message.Router
	loops  []func(context.Context) error
}

// Run runs the router and the loops until ctx ends or one fails; on return
// the router is closed (in-flight messages finish within its close timeout
// or go back to their queue).
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(s.loops)+1)
	run := func(i int, f func(context.Context) error) {
		defer wg.Done()
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs[i] = err
			cancel()
		}
	}
	wg.Add(1 + len(s.loops))
	go run(0, func(ctx context.Context) error {
		if err := s.Router.Run(ctx); err != nil {
			return fmt.Errorf("%s router: %w", s.Name, err)
		}
		return nil
	})
	for i, l := range s.loops {
		go run(i+1, l)
	}
	<-ctx.Done()
	wg.Wait()
	return errors.Join(errs...)
}

// Running is closed once the router consumes.
func (s *Service) Running() chan struct{} { return s.Router.Running() }

// Ready tells /readyz whether the service is consuming.
func (s *Service) Ready() bool { return s.Router.IsRunning() }

// RouterConfig is msg.RouterConfig without the poison publisher, which
// comes from the bus.
type RouterConfig = msg.RouterConfig

// settlingBus is a Bus whose messages need settling when the subscription
// closes under a handler (msg.Transport: watermill-aws drops an ack or nack
// that comes after its Close).
type settlingBus interface {
	Settle() message.HandlerMiddleware
}

func newRouter(name string, bus Bus, rc RouterConfig) (*Service, error) {
	rc.Poison = bus.Publisher()
	if sb, ok := bus.(settlingBus); ok && rc.Settle == nil {
		rc.Settle = sb.Settle()
	}
	r, err := msg.NewRouter(rc)
	if err != nil {
		return nil, fmt.Errorf("%s router: %w", name, err)
	}
	return &Service{Name: name, Router: r}, nil
}

// ScannerConfig configures the scanner service.
type ScannerConfig struct {
	Scan scan.Config
	// Consumers is how many scan requests are handled at once; the
	// scanner's Concurrency bounds the AWS calls they make together.
	// Default: as many as the memory holds (scan.Consumers of MemoryLimit).
	Consumers int
	// MemoryLimit is the process's Go memory limit, which bounds the
	// default Consumers; 0 or math.MaxInt64: none known
	// (scan.DefaultMemoryLimit assumed).
	MemoryLimit int64
	Handler     scan.HandlerConfig // Scanner, Publisher, Codec and Namer are filled in
	Router      RouterConfig
	// OwnerTags (-owner-tags): the tags an ad-hoc account's lookup reads
	// into its RunStarted; none: no tags read.
	OwnerTags []events.OwnerTag
}

// NewScanner builds the scanner service: consumers of the scan queue that
// scan one account per message and publish its result.
func NewScanner(cfg ScannerConfig, bus Bus, a AWS, codec events.Codec, logger *slog.Logger) (*Service, error) {
	cfg.Scan.Logger = logger
	sc, err := scan.New(a.Hub, a.Roles, cfg.Scan)
	if err != nil {
		return nil, err
	}
	walker, err := a.Walker(discover.Config{Logger: logger, TagKeys: events.OwnerTagKeys(cfg.OwnerTags)})
	if err != nil {
		return nil, err
	}
	hc := cfg.Handler
	hc.Scanner, hc.Publisher, hc.Codec, hc.Namer, hc.Logger = sc, bus.Publisher(), codec, walker, logger
	if hc.FinishTimeout == 0 && cfg.Router.CloseTimeout > 0 {
		// A scan in hand at SIGTERM must finish while the router still
		// waits for its handlers.
		hc.FinishTimeout = cfg.Router.CloseTimeout * 3 / 4
	}
	h, err := scan.NewHandler(hc)
	if err != nil {
		return nil, err
	}
	cfg.Router.Logger = logger
	svc, err := newRouter("scanner", bus, cfg.Router)
	if err != nil {
		return nil, err
	}
	n := cfg.Consumers
	if n <= 0 {
		conc := cfg.Scan.Concurrency
		if conc <= 0 {
			conc = scan.DefaultConcurrency
		}
		n = scan.Consumers(cfg.MemoryLimit, conc, len(cfg.Scan.Regions))
		log := logger
		if log == nil {
			log = slog.Default()
		}
		if cfg.MemoryLimit <= 0 || cfg.MemoryLimit == math.MaxInt64 {
			log.Info("accounts in hand: -concurrency, no memory limit known", slog.Int("consumers", n))
		} else {
			log.Info("accounts in hand bounded by memory", slog.Int("consumers", n),
				slog.Int64("memory_limit_bytes", cfg.MemoryLimit), slog.Int("regions", len(cfg.Scan.Regions)),
				slog.Int64("bytes_per_account", scan.AccountMemory+int64(len(cfg.Scan.Regions))*scan.RegionMemory))
		}
	}
	msg.AddConsumers(svc.Router, "scan", events.TopicScanRequests, bus.Subscriber(), n, h.Handle)
	return svc, nil
}

// AggregatorDeps are the aggregator's adapters.
type AggregatorDeps struct {
	Store    store.Store
	Blob     blob.Store
	Notifier aggregate.Notifier // nil: no ticket
	Metrics  *aggregate.Metrics
	Renderer aggregate.Renderer // nil: report.Render
}

// AggregatorConfig configures the aggregator service.
type AggregatorConfig struct {
	Aggregate aggregate.Config
	// Consumers of the results queue; default 4.
	Consumers int
	Router    RouterConfig
}

// NewAggregator builds the aggregator service: consumers of the results
// queue recording every event, and the loop that emits complete runs and
// runs past their deadline.
func NewAggregator(cfg AggregatorConfig, bus Bus, d AggregatorDeps, codec events.Codec, logger *slog.Logger) (*Service, *aggregate.Aggregator, error) {
	agg, err := aggregate.New(cfg.Aggregate, aggregate.Deps{
		Store: d.Store, Blob: d.Blob, Notifier: d.Notifier, Codec: codec, Logger: logger, Metrics: d.Metrics, Renderer: d.Renderer,
	})
	if err != nil {
		return nil, nil, err
	}
	cfg.Router.Logger = logger
	svc, err := newRouter("aggregator", bus, cfg.Router)
	if err != nil {
		return nil, nil, err
	}
	n := cfg.Consumers
	if n <= 0 {
		n = 4
	}
	msg.AddConsumers(svc.Router, "results", events.TopicResults, bus.Subscriber(), n, agg.Handle)
	svc.loops = append(svc.loops, agg.Run)
	return svc, agg, nil
}
