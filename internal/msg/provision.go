package msg

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// sqsAdmin is the part of *sqs.Client that resolving and provisioning call.
type sqsAdmin interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SetQueueAttributes(ctx context.Context, in *sqs.SetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
}

// snsAdmin is the part of *sns.Client that provisioning calls.
type snsAdmin interface {
	CreateTopic(ctx context.Context, in *sns.CreateTopicInput, optFns ...func(*sns.Options)) (*sns.CreateTopicOutput, error)
	Subscribe(ctx context.Context, in *sns.SubscribeInput, optFns ...func(*sns.Options)) (*sns.SubscribeOutput, error)
}

// resolve turns queue names into URLs with GetQueueUrl and creates nothing:
// the production path. A missing queue fails start-up with its name.
func resolve(ctx context.Context, c sqsAdmin, cfg Config) (Resources, error) {
	var res Resources
	var err error
	for _, q := range []struct {
		in  string
		out *string
	}{{cfg.ScanQueue, &res.ScanQueueURL}, {cfg.ResultsQueue, &res.ResultsQueueURL}, {cfg.PoisonQueue, &res.PoisonQueueURL}} {
		if q.in == "" {
			continue
		}
		if isQueueURL(q.in) {
			*q.out = q.in
			continue
		}
		if *q.out, err = queueURL(ctx, c, q.in); err != nil {
			return res, err
		}
	}
	res.ResultsTopicARN = cfg.ResultsTopic
	return res, nil
}

func queueURL(ctx context.Context, c sqsAdmin, name string) (string, error) {
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("resolve queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// provision creates the configured resources. Every call is idempotent on
// AWS (CreateQueue and CreateTopic return the existing one when the
// attributes match; Subscribe returns the existing subscription), so every
// replica may run it at start. It is explicit rather than left to
// watermill-aws's lazy creation, which detects a missing queue by the SDK's
// QueueDoesNotExist error type: emulators that answer with another error
// shape (goaws) would make it fail instead of create.
func provision(ctx context.Context, q sqsAdmin, n snsAdmin, cfg Config) (Resources, error) {
	var res Resources
	var err error
	visibility := strconv.Itoa(int(cfg.QueueVisibilityTimeout / time.Second))
	create := func(nameOrURL string, attrs map[string]string) (string, error) {
		name := lastSegment(nameOrURL)
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			return "", fmt.Errorf("create queue %s: %w", name, err)
		}
		return aws.ToString(out.QueueUrl), nil
	}
	base := func() map[string]string {
		return map[string]string{string(types.QueueAttributeNameVisibilityTimeout): visibility}
	}

	if cfg.ScanQueue != "" {
		name := lastSegment(cfg.ScanQueue)
		if res.ScanDLQURL, err = create(name+"-dlq", map[string]string{
			// The DLQ keeps failed scans for two weeks, the SQS maximum,
			// for someone to look at and redrive.
			string(types.QueueAttributeNameMessageRetentionPeriod): "1209600",
		}); err != nil {
			return res, err
		}
		dlqARN, err := queueARN(ctx, q, res.ScanDLQURL)
		if err != nil {
			return res, err
		}
		policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": cfg.ScanMaxReceiveCount})
		attrs := base()
		attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
		if res.ScanQueueURL, err = create(name, attrs); err != nil {
			return res, err
		}
	}
	if cfg.PoisonQueue != "" {
		if res.PoisonQueueURL, err = create(cfg.PoisonQueue, map[string]string{
			string(types.QueueAttributeNameMessageRetentionPeriod): "1209600",
		}); err != nil {
			return res, err
		}
	}
	if cfg.ResultsTopic != "" {
		name := lastSegment(cfg.ResultsTopic)
		out, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
		if err != nil {
			return res, fmt.Errorf("create topic %s: %w", name, err)
		}
		res.ResultsTopicARN = aws.ToString(out.TopicArn)
		if isARN(cfg.ResultsTopic) && res.ResultsTopicARN != cfg.ResultsTopic {
			return res, fmt.Errorf("create topic %s: got ARN %s, configured %s (wrong region or account?)", name, res.ResultsTopicARN, cfg.ResultsTopic)
		}
	}
	if cfg.ResultsQueue != "" {
		if res.ResultsQueueURL, err = create(cfg.ResultsQueue, base()); err != nil {
			return res, err
		}
		arn, err := queueARN(ctx, q, res.ResultsQueueURL)
		if err != nil {
			return res, err
		}
		if err := allowTopic(ctx, q, res.ResultsQueueURL, arn, res.ResultsTopicARN); err != nil {
			return res, err
		}
		// Raw delivery: the queue receives the published body and message
		// attributes as they are, not wrapped in SNS's JSON envelope
		// (EnvelopeUnmarshaler still reads the envelope, should a
		// subscription be made without it).
		if _, err := n.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn:   aws.String(res.ResultsTopicARN),
			Protocol:   aws.String("sqs"),
			Endpoint:   aws.String(arn),
			Attributes: map[string]string{"RawMessageDelivery": "true"},
		}); err != nil {
			return res, fmt.Errorf("subscribe %s to %s: %w", arn, res.ResultsTopicARN, err)
		}
	}
	return res, nil
}

func queueARN(ctx context.Context, c sqsAdmin, url string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("queue ARN of %s: %w", url, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("queue ARN of %s: not returned", url)
	}
	return arn, nil
}

// allowTopic sets the queue policy that lets the topic (and only it) send
// to the subscription queue; without it SNS deliveries are silently dropped
// on AWS.
func allowTopic(ctx context.Context, c sqsAdmin, url, queueARN, topicARN string) error {
	policy, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":       "AllowResultsTopic",
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": "sns.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": topicARN}},
		}},
	})
	if err != nil {
		return err
	}
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(url),
		Attributes: map[string]string{string(types.QueueAttributeNamePolicy): string(policy)},
	}); err != nil {
		return fmt.Errorf("set policy of %s: %w", url, err)
	}
	return nil
}
