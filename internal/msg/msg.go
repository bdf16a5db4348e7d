// Package msg is the messaging layer of the services: it builds the
// watermill publishers and subscribers over SQS and SNS (watermill-aws
// v1.0.1's SNS publisher; its own batch publisher, and a shared-loop
// receiver with batched deletes for every consumed queue) behind the three
// logical topics the stages use, and the router policy around the stage
// handlers (poison queue, retries, panics, metrics, graceful close).
//
// Stage packages never see SQS or SNS: they publish to the logical topics
// events.TopicScanRequests, events.TopicResults or events.TopicPoison and
// consume with plain handlers, so the same graph runs on in-memory queues
// locally (the subpackage memqueue, SQS's stand-in beside it). This package
// does not decode events (internal/events does) and does not decide what a
// handler does with one.
//
// In production nothing is created at run time: queues, the topic, the
// subscription and its queue policy come from CloudFormation, and every
// watermill-aws "create if missing" option is off. Config.CreateResources
// (-create-resources) creates them explicitly, for emulators and local runs.
package msg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsns "github.com/ThreeDotsLabs/watermill-aws/sns"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/cybsecops/configreport/internal/events"
)

// Config names the AWS resources of one process. Each binary sets only the
// ones it uses; publishing or subscribing to an unset one is an error.
type Config struct {
	// AWS is the hub configuration (region, credentials, retryer, HTTP
	// client, and BaseEndpoint/AWS_ENDPOINT_URL for emulators).
	AWS aws.Config
	// SQSOptions and SNSOptions are passed to the SDK clients as they are.
	SQSOptions []func(*sqs.Options)
	SNSOptions []func(*sns.Options)

	// ScanQueue, ResultsQueue (the aggregator's subscription queue) and
	// PoisonQueue are queue URLs, or names (resolved with GetQueueUrl, or
	// created with CreateResources).
	ScanQueue    string
	ResultsQueue string
	PoisonQueue  string
	// ResultsTopic is the results topic ARN; a bare name only with
	// CreateResources (SNS has no lookup by name short of creating).
	ResultsTopic string

	// CreateResources creates what is named above (idempotently): the scan
	// queue with its dead-letter queue and redrive policy, the poison
	// queue, the topic, the subscription queue, its access policy and a raw
	// delivery subscription. Off in production.
	CreateResources bool
	// ScanMaxReceiveCount is the redrive policy's maxReceiveCount set on a
	// created scan queue (default 5).
	ScanMaxReceiveCount int
	// QueueVisibilityTimeout is the visibility timeout of created queues
	// (default 15m: longer than the slowest account scan, so a message in
	// hand is not delivered twice while being worked on).
	QueueVisibilityTimeout time.Duration

	// WaitTime is the ReceiveMessage long-poll wait (default 20s, the SQS
	// maximum: fewer empty receives, lower bill).
	WaitTime time.Duration
	// ReceiveVisibilityTimeout overrides the queue's visibility timeout on
	// each receive (0 keeps the queue's; tests use 1-2s for fast redelivery).
	ReceiveVisibilityTimeout time.Duration
	// Prefetch is how many scan (or poison) queue messages a receive takes
	// beyond the handlers waiting for one, held for the next handlers to
	// free up (0..9; default 0). More per ReceiveMessage call, at the cost
	// of messages held invisible for a while in one process.
	Prefetch int

	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	c.ScanMaxReceiveCount = cmp.Or(c.ScanMaxReceiveCount, 5)
	c.QueueVisibilityTimeout = cmp.Or(c.QueueVisibilityTimeout, 15*time.Minute)
	c.WaitTime = cmp.Or(c.WaitTime, 20*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error { return c.validate(true) }

// validate checks that some resource is named only when asked: Flags
// reports each missing one by its flag instead.
func (c Config) validate(requireSome bool) error {
	var errs []error
	if c.AWS.Credentials == nil {
		errs = append(errs, errors.New("msg: AWS credentials are not configured"))
	}
	if c.AWS.Region == "" {
		errs = append(errs, errors.New("msg: AWS region is not configured"))
	}
	if requireSome && c.ScanQueue == "" && c.ResultsQueue == "" && c.PoisonQueue == "" && c.ResultsTopic == "" {
		errs = append(errs, errors.New("msg: no queue or topic configured"))
	}
	if c.ResultsTopic != "" && !isARN(c.ResultsTopic) && !c.CreateResources {
		errs = append(errs, fmt.Errorf("msg: results topic %q must be an ARN (a bare name only with -create-resources)", c.ResultsTopic))
	}
	if c.ResultsQueue != "" && c.ResultsTopic == "" {
		errs = append(errs, errors.New("msg: the results subscription queue needs the results topic"))
	}
	if c.ScanMaxReceiveCount < 1 || c.ScanMaxReceiveCount > 1000 {
		errs = append(errs, fmt.Errorf("msg: scan maxReceiveCount %d is outside 1..1000", c.ScanMaxReceiveCount))
	}
	if c.WaitTime < time.Second || c.WaitTime > 20*time.Second {
		errs = append(errs, fmt.Errorf("msg: receive wait %s is outside SQS's 1s..20s", c.WaitTime))
	}
	if c.ReceiveVisibilityTimeout < 0 || c.ReceiveVisibilityTimeout > 12*time.Hour {
		errs = append(errs, fmt.Errorf("msg: receive visibility timeout %s is outside SQS's 0..12h", c.ReceiveVisibilityTimeout))
	}
	if c.QueueVisibilityTimeout < 0 || c.QueueVisibilityTimeout > 12*time.Hour {
		errs = append(errs, fmt.Errorf("msg: queue visibility timeout %s is outside SQS's 0..12h", c.QueueVisibilityTimeout))
	}
	if c.Prefetch < 0 || c.Prefetch > maxReceive-1 {
		errs = append(errs, fmt.Errorf("msg: prefetch %d is outside 0..%d", c.Prefetch, maxReceive-1))
	}
	return errors.Join(errs...)
}

func isARN(s string) bool         { return strings.HasPrefix(s, "arn:") }
func isQueueURL(s string) bool    { return strings.Contains(s, "://") }
func lastSegment(s string) string { return s[strings.LastIndexAny(s, "/:")+1:] }

// Resources are the resolved URLs and ARN, for logs and tests.
type Resources struct {
	ScanQueueURL, ScanDLQURL, ResultsQueueURL, PoisonQueueURL string
	ResultsTopicARN                                           string
}

// Transport is the SQS/SNS adapter: one Publisher and one Subscriber that
// route the logical topics to the configured queues and topic.
type Transport struct {
	cfg       Config
	res       Resources
	logger    *slog.Logger
	sqsClient *sqs.Client
	batch     *BatchPublisher
	snsPub    *wsns.Publisher
	// sqsSubs has one subscriber per consumed queue (scan, poison, the
	// results subscription queue), each recording its queue URL on the
	// messages it hands over (Settle).
	sqsSubs map[string]*queueReceiver
}

// New resolves (or, with CreateResources, creates) the configured resources
// and builds the watermill publishers and subscribers over them.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:       cfg,
		logger:    cfg.Logger.With(slog.String("component", "msg")),
		sqsClient: sqs.NewFromConfig(cfg.AWS, cfg.SQSOptions...),
	}
	snsClient := sns.NewFromConfig(cfg.AWS, cfg.SNSOptions...)
	var err error
	if cfg.CreateResources {
		t.res, err = provision(ctx, t.sqsClient, snsClient, cfg)
	} else {
		t.res, err = resolve(ctx, t.sqsClient, cfg)
	}
	if err != nil {
		return nil, err
	}
	wlog := watermill.NewSlogLogger(t.logger)

	queues := map[string]string{}
	if t.res.ScanQueueURL != "" {
		queues[events.TopicScanRequests] = t.res.ScanQueueURL
	}
	if t.res.PoisonQueueURL != "" {
		queues[events.TopicPoison] = t.res.PoisonQueueURL
	}
	t.batch = NewBatchPublisher(t.sqsClient, queues, t.logger)

	if t.res.ResultsTopicARN != "" {
		t.snsPub, err = wsns.NewPublisher(wsns.PublisherConfig{
			AWSConfig:                   cfg.AWS,
			OptFns:                      cfg.SNSOptions,
			DoNotCreateTopicIfNotExists: true,
			TopicResolver:               wsns.TransparentTopicResolver{},
			Marshaler:                   TopicArnMarshaler{},
		}, wlog)
		if err != nil {
			return nil, fmt.Errorf("sns publisher: %w", err)
		}
	}

	t.sqsSubs = t.queueReceivers(t.sqsClient)
	t.logger.Info("messaging ready",
		slog.String("scan_queue", t.res.ScanQueueURL),
		slog.String("results_topic", t.res.ResultsTopicARN),
		slog.String("results_queue", t.res.ResultsQueueURL),
		slog.String("poison_queue", t.res.PoisonQueueURL),
		slog.Bool("created", cfg.CreateResources))
	return t, nil
}

// queueReceivers builds one receiver per consumed queue: one receive loop
// per queue, shared by every handler consuming it, and its acks deleted in
// batches (queueReceiver). The results subscription queue is read with
// EnvelopeUnmarshaler (raw delivery or SNS's envelope) and without
// prefetch: Prefetch is the scanner's, for scan requests.
func (t *Transport) queueReceivers(client receiverAPI) map[string]*queueReceiver {
	subs := map[string]*queueReceiver{}
	for _, q := range []struct {
		url      string
		inner    wsqs.Unmarshaler
		prefetch int
	}{
		{t.res.ScanQueueURL, wsqs.DefaultMarshalerUnmarshaler{}, t.cfg.Prefetch},
		{t.res.PoisonQueueURL, wsqs.DefaultMarshalerUnmarshaler{}, t.cfg.Prefetch},
		{t.res.ResultsQueueURL, EnvelopeUnmarshaler{}, 0},
	} {
		if q.url == "" {
			continue
		}
		subs[q.url] = newQueueReceiver(client, receiverConfig{
			QueueURL:    q.url,
			Wait:        t.cfg.WaitTime,
			Visibility:  t.cfg.ReceiveVisibilityTimeout,
			Prefetch:    q.prefetch,
			RetrySleep:  time.Second,
			Unmarshaler: receiptUnmarshaler{inner: q.inner, queueURL: q.url},
			Logger:      t.logger,
		})
	}
	return subs
}

// Resources returns the resolved URLs and ARN.
func (t *Transport) Resources() Resources { return t.res }

// Publisher publishes to the logical topics: scan-requests and poison with
// SendMessageBatch (10 per call), results with SNS Publish.
func (t *Transport) Publisher() message.Publisher { return routingPublisher{t} }

// Subscriber consumes the logical topics: scan-requests and poison from
// their queues, results from the aggregator's subscription queue.
func (t *Transport) Subscriber() message.Subscriber { return routingSubscriber{t} }

// Close stops every subscription; in-flight messages not yet acked return
// to their queue after the visibility timeout, unless Settle settles them.
func (t *Transport) Close() error {
	var errs []error
	for _, sub := range t.sqsSubs {
		errs = append(errs, sub.Close())
	}
	return errors.Join(errs...)
}

type routingPublisher struct{ t *Transport }

func (p routingPublisher) Publish(topic string, msgs ...*message.Message) error {
	switch topic {
	case events.TopicScanRequests, events.TopicPoison:
		return p.t.batch.Publish(topic, msgs...)
	case events.TopicResults:
		if p.t.snsPub == nil {
			return errors.New("publish results: no results topic configured")
		}
		return p.t.snsPub.Publish(p.t.res.ResultsTopicARN, msgs...)
	}
	return fmt.Errorf("publish: unknown topic %q", topic)
}

// Close is a no-op: the SDK clients hold no per-publisher resources.
func (p routingPublisher) Close() error { return nil }

type routingSubscriber struct{ t *Transport }

func (s routingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	t := s.t
	switch topic {
	case events.TopicScanRequests:
		if t.res.ScanQueueURL == "" {
			return nil, errors.New("subscribe scan-requests: no scan queue configured")
		}
		return t.sqsSubs[t.res.ScanQueueURL].Subscribe(ctx, t.res.ScanQueueURL)
	case events.TopicPoison:
		if t.res.PoisonQueueURL == "" {
			return nil, errors.New("subscribe poison: no poison queue configured")
		}
		return t.sqsSubs[t.res.PoisonQueueURL].Subscribe(ctx, t.res.PoisonQueueURL)
	case events.TopicResults:
		if t.res.ResultsQueueURL == "" {
			return nil, errors.New("subscribe results: no results subscription queue configured")
		}
		return t.sqsSubs[t.res.ResultsQueueURL].Subscribe(ctx, t.res.ResultsQueueURL)
	}
	return nil, fmt.Errorf("subscribe: unknown topic %q", topic)
}

// Close is shared by every handler of a router (each closes its
// subscriber): the underlying subscribers close once.
func (s routingSubscriber) Close() error { return s.t.Close() }
