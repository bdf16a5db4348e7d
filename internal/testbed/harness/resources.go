package harness

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/store/dynamo"
)

// ProvisionConfig names a suite's resources and sets the queue settings
// that differ between the suites (each shortens what it must to see
// redeliveries in seconds). A zero duration or size leaves the emulator's
// default.
type ProvisionConfig struct {
	// Prefix and Suffix make every name: <Prefix>-scan-<Suffix>,
	// <Prefix>-scan-dlq-<Suffix>, <Prefix>-poison-<Suffix>,
	// <Prefix>-aggregator-<Suffix> (the results subscription),
	// <Prefix>-results-<Suffix> (the topic), <Prefix>-runs-<Suffix> (the
	// table).
	Prefix, Suffix string
	// Bucket is the report bucket's name (bucket names have their own
	// rules: no '_', 3 to 63 characters).
	Bucket string

	ScanVisibility     time.Duration
	ScanMaxReceives    int // the redrive policy's maxReceiveCount (required)
	ScanMaxMessageSize int // bytes
	ResultsVisibility  time.Duration
	// OtherVisibility is the DLQ's, the poison queue's and the taps'.
	OtherVisibility time.Duration
	// Taps are more subscriptions to the results topic, for the suite
	// itself to read what is published: <Prefix>-<tap>-<Suffix>, raw
	// delivery like the aggregator's; their URLs are Resources.Taps.
	Taps []string
}

// Provision makes what CloudFormation makes in production, with the SDK
// against the emulators: the scan queue with its DLQ and redrive policy,
// the poison queue, the results topic and the aggregator's raw-delivery
// subscription (and the taps), the bucket and the table. The services then
// run without -create-resources, the production path. The queue policy
// letting the topic send is not set: goaws does not enforce policies
// (docs/EMULATORS.md); CloudFormation sets it on AWS.
func Provision(ctx context.Context, ep Endpoints, creds aws.CredentialsProvider, cfg ProvisionConfig) (Resources, error) {
	var r Resources
	if cfg.Prefix == "" || cfg.Suffix == "" || cfg.Bucket == "" || cfg.ScanMaxReceives <= 0 {
		return r, fmt.Errorf("provision: prefix, suffix, bucket and scan max receives are required (%+v)", cfg)
	}
	q := sqs.New(sqs.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.SQS)})
	n := sns.New(sns.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.SNS)})
	name := func(kind string) string { return cfg.Prefix + "-" + kind + "-" + cfg.Suffix }
	var errs []error
	mk := func(kind string, attrs map[string]string) string {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name(kind)), Attributes: attrs})
		if err != nil {
			errs = append(errs, fmt.Errorf("create queue %s: %w", name(kind), err))
			return ""
		}
		return aws.ToString(out.QueueUrl)
	}
	arn := func(url string) string {
		if url == "" {
			return "" // its creation failed, and said so
		}
		a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if err != nil {
			errs = append(errs, fmt.Errorf("queue arn of %s: %w", url, err))
			return ""
		}
		return a.Attributes["QueueArn"]
	}
	other := queueAttrs(cfg.OtherVisibility, 0)
	r.ScanDLQ = mk("scan-dlq", other)
	scan := queueAttrs(cfg.ScanVisibility, cfg.ScanMaxMessageSize)
	scan["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, arn(r.ScanDLQ), cfg.ScanMaxReceives)
	r.ScanQueue = mk("scan", scan)
	r.PoisonQueue = mk("poison", other)
	r.ResultsQueue = mk("aggregator", queueAttrs(cfg.ResultsVisibility, 0))
	for _, tap := range cfg.Taps {
		r.Taps = append(r.Taps, mk(tap, other))
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	topic, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name("results"))})
	if err != nil {
		return r, fmt.Errorf("create topic %s: %w", name("results"), err)
	}
	r.TopicARN = aws.ToString(topic.TopicArn)
	for _, url := range append([]string{r.ResultsQueue}, r.Taps...) {
		qa := arn(url)
		if err := errors.Join(errs...); err != nil {
			return r, err
		}
		if _, err := n.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
			Endpoint: aws.String(qa), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
			return r, fmt.Errorf("subscribe %s to %s: %w", qa, r.TopicARN, err)
		}
	}
	r.Bucket = cfg.Bucket
	s3c := s3.New(s3.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.S3), UsePathStyle: true})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.Bucket)}); err != nil {
		return r, fmt.Errorf("create bucket %s: %w", r.Bucket, err)
	}
	r.Table = name("runs")
	ddb := dynamodb.New(dynamodb.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.DynamoDB)})
	if err := dynamo.CreateTable(ctx, ddb, r.Table); err != nil {
		return r, fmt.Errorf("create table %s: %w", r.Table, err)
	}
	return r, nil
}

// queueAttrs are a queue's attributes: the visibility timeout and the
// maximum message size, when set.
func queueAttrs(visibility time.Duration, maxSize int) map[string]string {
	attrs := map[string]string{}
	if visibility > 0 {
		attrs["VisibilityTimeout"] = strconv.Itoa(int(visibility.Seconds()))
	}
	if maxSize > 0 {
		attrs["MaximumMessageSize"] = strconv.Itoa(maxSize)
	}
	return attrs
}
