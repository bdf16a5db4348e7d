package msg

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Need says which resources a binary uses, so it registers only their
// flags: the trigger publishes to the scan queue and the results topic, the
// scanner also consumes and uses the poison queue, the aggregator consumes
// the results subscription queue.
type Need uint8

const (
	NeedScanQueue Need = 1 << iota
	NeedResultsTopic
	NeedResultsQueue
	NeedPoisonQueue
	// NeedConsume adds the receive and shutdown flags of a consumer.
	NeedConsume
)

// Flags are the messaging flags of a binary, as given. Register them on
// its FlagSet (cli.Parse fills each from its environment variable:
// -scan-queue-url from SCAN_QUEUE_URL, ...), then call Config.
type Flags struct {
	need                     Need
	ScanQueue                string
	ResultsTopic             string
	ResultsQueue             string
	PoisonQueue              string
	CreateResources          bool
	ScanMaxReceiveCount      int
	WaitTime                 time.Duration
	ReceiveVisibilityTimeout time.Duration
	ReceivePrefetch          int
	ShutdownTimeout          time.Duration
}

// Register adds the flags need calls for.
func (f *Flags) Register(fs *flag.FlagSet, need Need) {
	f.need = need
	if need&NeedScanQueue != 0 {
		fs.StringVar(&f.ScanQueue, "scan-queue-url", "", "scan queue URL (a bare name is looked up with GetQueueUrl, or created with -create-resources)")
	}
	if need&NeedResultsTopic != 0 {
		fs.StringVar(&f.ResultsTopic, "results-topic-arn", "", "results topic ARN (a bare name only with -create-resources)")
	}
	if need&NeedResultsQueue != 0 {
		fs.StringVar(&f.ResultsQueue, "results-queue-url", "", "the aggregator's SQS queue subscribed to the results topic with raw message delivery (URL or name)")
	}
	if need&NeedPoisonQueue != 0 {
		fs.StringVar(&f.PoisonQueue, "poison-queue-url", "", "poison queue URL for messages that can never be decoded (URL or name)")
	}
	fs.BoolVar(&f.CreateResources, "create-resources", false, "create the queues, topic and subscription (with the scan queue's DLQ) if missing: emulators and local runs only; production resources come from CloudFormation")
	if need&NeedScanQueue != 0 {
		fs.IntVar(&f.ScanMaxReceiveCount, "scan-max-receive-count", 5, "with -create-resources: deliveries of a scan request before it moves to the DLQ")
	}
	if need&NeedConsume != 0 {
		fs.DurationVar(&f.WaitTime, "receive-wait", 20*time.Second, "SQS long-poll wait (1s..20s)")
		fs.DurationVar(&f.ReceiveVisibilityTimeout, "receive-visibility-timeout", 0, "visibility timeout asked on each receive (0: the queue's own)")
		if need&NeedScanQueue != 0 {
			fs.IntVar(&f.ReceivePrefetch, "receive-prefetch", 0, "scan queue messages one receive takes beyond the handlers waiting for one, held (invisible) for the next to free up (0..9): fewer ReceiveMessage calls, messages held longer in one process")
		}
		fs.DurationVar(&f.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "on SIGTERM, how long in-flight messages may take before they are abandoned to the queue (keep under terminationGracePeriodSeconds)")
	}
}

// Config returns the transport configuration over hub, reporting every
// missing or bad flag at once.
func (f Flags) Config(hub aws.Config, logger *slog.Logger) (Config, error) {
	var errs []error
	req := func(n Need, v, name string) {
		if f.need&n != 0 && v == "" {
			errs = append(errs, fmt.Errorf("-%s is required", name))
		}
	}
	req(NeedScanQueue, f.ScanQueue, "scan-queue-url")
	req(NeedResultsTopic, f.ResultsTopic, "results-topic-arn")
	req(NeedResultsQueue, f.ResultsQueue, "results-queue-url")
	req(NeedPoisonQueue, f.PoisonQueue, "poison-queue-url")
	cfg := Config{
		AWS:                      hub,
		ScanQueue:                f.ScanQueue,
		ResultsTopic:             f.ResultsTopic,
		ResultsQueue:             f.ResultsQueue,
		PoisonQueue:              f.PoisonQueue,
		CreateResources:          f.CreateResources,
		ScanMaxReceiveCount:      f.ScanMaxReceiveCount,
		WaitTime:                 f.WaitTime,
		ReceiveVisibilityTimeout: f.ReceiveVisibilityTimeout,
		Prefetch:                 f.ReceivePrefetch,
		Logger:                   logger,
	}
	cfg.setDefaults()
	if err := cfg.validate(false); err != nil {
		errs = append(errs, err)
	}
	if f.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("-shutdown-timeout is negative"))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// Router returns the router configuration these flags set (the close
// timeout); Poison and Metrics are the caller's.
func (f Flags) Router(logger *slog.Logger) RouterConfig {
	return RouterConfig{CloseTimeout: f.ShutdownTimeout, Logger: logger}
}
