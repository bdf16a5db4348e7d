package harness

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestProvisionConfigRequired(t *testing.T) {
	ok := ProvisionConfig{Prefix: "p", Suffix: "s", Bucket: "b", ScanMaxReceives: 3}
	for _, tc := range []struct {
		name string
		edit func(*ProvisionConfig)
	}{
		{"no prefix", func(c *ProvisionConfig) { c.Prefix = "" }},
		{"no suffix", func(c *ProvisionConfig) { c.Suffix = "" }},
		{"no bucket", func(c *ProvisionConfig) { c.Bucket = "" }},
		{"no max receives", func(c *ProvisionConfig) { c.ScanMaxReceives = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			// No endpoint is reachable: the check must come before any call.
			if _, err := Provision(t.Context(), Endpoints{}, nil, cfg); err == nil || !strings.Contains(err.Error(), "required") {
				t.Errorf("err = %v, want the missing setting", err)
			}
		})
	}
}

func TestQueueAttrs(t *testing.T) {
	for _, tc := range []struct {
		visibility time.Duration
		size       int
		want       string
	}{
		{0, 0, "map[]"},
		{10 * time.Second, 0, "map[VisibilityTimeout:10]"},
		{90 * time.Second, 1 << 20, "map[MaximumMessageSize:1048576 VisibilityTimeout:90]"},
	} {
		if got := fmt.Sprint(queueAttrs(tc.visibility, tc.size)); got != tc.want {
			t.Errorf("queueAttrs(%s, %d) = %s, want %s", tc.visibility, tc.size, got, tc.want)
		}
	}
}

// Against the emulators: every resource exists with the settings asked,
// and a message published on the topic reaches the aggregator's queue and
// the tap, raw.
func TestProvision(t *testing.T) {
	ep := EmulatorEndpoints(t)
	creds := credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	suffix := fmt.Sprintf("h%d", time.Now().UnixNano())
	r, err := Provision(ctx, ep, creds, ProvisionConfig{Prefix: "harness", Suffix: suffix, Bucket: "harness-" + suffix,
		ScanVisibility: 7 * time.Second, ScanMaxReceives: 4, ScanMaxMessageSize: 1 << 20,
		ResultsVisibility: 20 * time.Second, OtherVisibility: 30 * time.Second, Taps: []string{"tap"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Taps) != 1 || !strings.Contains(r.Taps[0], "harness-tap-"+suffix) || r.Table != "harness-runs-"+suffix {
		t.Fatalf("resources %+v", r)
	}
	q := sqs.New(sqs.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.SQS)})
	attrs := func(url string) map[string]string {
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	for _, tc := range []struct {
		queue, attr, want string
	}{
		{r.ScanQueue, "VisibilityTimeout", "7"},
		{r.ScanQueue, "MaximumMessageSize", "1048576"},
		{r.ResultsQueue, "VisibilityTimeout", "20"},
		{r.PoisonQueue, "VisibilityTimeout", "30"},
		{r.ScanDLQ, "VisibilityTimeout", "30"},
	} {
		if got := attrs(tc.queue)[tc.attr]; got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.queue, tc.attr, got, tc.want)
		}
	}
	if rp, dlq := attrs(r.ScanQueue)["RedrivePolicy"], attrs(r.ScanDLQ)["QueueArn"]; dlq == "" || !strings.Contains(rp, dlq) || !regexp.MustCompile(`"maxReceiveCount":\s*"?4"?[,}]`).MatchString(rp) {
		t.Errorf("redrive policy %q, want the DLQ %s and 4 receives", rp, dlq)
	}
	n := sns.New(sns.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.SNS)})
	if _, err := n.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(r.TopicARN), Message: aws.String(`{"hello":1}`)}); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{r.ResultsQueue, r.Taps[0]} {
		got := ""
		if err := Poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
			if err != nil || len(out.Messages) == 0 {
				return false, err
			}
			got = aws.ToString(out.Messages[0].Body)
			return true, nil
		}); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if got != `{"hello":1}` {
			t.Errorf("%s received %q, want the raw message", url, got)
		}
	}
	s3c := s3.New(s3.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.S3), UsePathStyle: true})
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(r.Bucket)}); err != nil {
		t.Errorf("bucket: %v", err)
	}
	ddb := dynamodb.New(dynamodb.Options{Region: Region, Credentials: creds, BaseEndpoint: aws.String(ep.DynamoDB)})
	if _, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(r.Table)}); err != nil {
		t.Errorf("table: %v", err)
	}
}
