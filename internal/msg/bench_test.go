package msg_test

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/msg"
)

// BenchmarkPublishScanRequests publishes one run's ScanRequested for 500
// accounts (the design's size) in calls of 10, as the trigger does, with
// BatchPublisher and with watermill-aws's own publisher (one SendMessage per
// message), against goaws. It reports SQS calls per run besides time: on AWS
// the calls are what costs (latency ~10 ms each and the per-request price).
//
//	scripts/with-emulators.sh go test -run '^$' -bench PublishScanRequests -benchtime 20x ./internal/msg/
func BenchmarkPublishScanRequests(b *testing.B) {
	e := goaws(b)
	name := "bench-" + watermill.NewShortUUID()
	tr := newTransport(b, e, func(c *msg.Config) { c.ScanQueue = name })
	ctx := context.Background()
	codec := events.Codec{}
	run := make([]*message.Message, 500)
	for i := range run {
		m, err := codec.Marshal(ctx, scanRequest(i))
		if err != nil {
			b.Fatal(err)
		}
		run[i] = m
	}
	// By name (GetQueueUrl once, cached): watermill-aws's publisher refuses
	// a TransparentUrlResolver URL when creation is off, since that
	// resolver cannot say the queue exists.
	single, err := wsqs.NewPublisher(wsqs.PublisherConfig{
		AWSConfig: e.aws, DoNotCreateQueueIfNotExists: true,
	}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name    string
		publish func([]*message.Message) error
	}{
		{"batch", func(ms []*message.Message) error { return tr.Publisher().Publish(events.TopicScanRequests, ms...) }},
		{"watermill-aws", func(ms []*message.Message) error { return single.Publish(name, ms...) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			calls := e.rec.count("SendMessageBatch") + e.rec.count("SendMessage")
			for b.Loop() {
				for i := 0; i < len(run); i += 10 {
					if err := bc.publish(run[i : i+10]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(e.rec.count("SendMessageBatch")+e.rec.count("SendMessage")-calls)/float64(b.N), "sqs-calls/run")
		})
	}
}
