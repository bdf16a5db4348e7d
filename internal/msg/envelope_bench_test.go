package msg_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/msg"
)

// BenchmarkEnvelopeUnmarshaler reads one result the size of an account of
// the full-size load run (issue 20: 4 regions x 12 rules, 4 findings a
// region) as the aggregator's subscription delivers it: raw (the
// configured case) and in SNS's envelope.
func BenchmarkEnvelopeUnmarshaler(b *testing.B) {
	read := 12
	res := &events.AccountScanned{RunID: "load-abcdef", AccountID: "123456789012", Status: events.StatusOK,
		ScannedAt: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC), DurationMS: 1234}
	for _, r := range []ident.Region{"us-east-1", "eu-west-1", "ap-southeast-2", "ap-east-1"} {
		res.Coverage = append(res.Coverage, events.Coverage{Region: r, Read: events.ReadYes, Rules: &read})
		for i := range 12 {
			res.Rules = append(res.Rules, events.Rule{Region: r, Name: fmt.Sprintf("rule-%d", i), Owner: "AWS",
				SourceIdentifier: "S3_BUCKET_VERSIONING_ENABLED", Compliance: events.NonCompliant, NoncompliantCount: 1})
		}
		for i := range 4 {
			res.Findings = append(res.Findings, events.Finding{Region: r, Rule: fmt.Sprintf("rule-%d", i), ResourceType: "AWS::EC2::Instance",
				ResourceID: fmt.Sprintf("i-%017d", i), Compliance: events.NonCompliant, RecordedAt: res.ScannedAt})
		}
	}
	m, err := events.Codec{}.Marshal(context.Background(), res)
	if err != nil {
		b.Fatal(err)
	}
	body := string(m.Payload)
	attrs := map[string]sqstypes.MessageAttributeValue{
		wsqs.UUIDAttribute: {DataType: aws.String("String"), StringValue: aws.String(m.UUID)},
	}
	for k, v := range m.Metadata {
		attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	quoted := strings.ReplaceAll(body, `"`, `\"`)
	envelope := `{"Type":"Notification","MessageId":"sns-1","TopicArn":"arn:aws:sns:us-east-1:1:results","Message":"` + quoted + `",` +
		`"MessageAttributes":{"_watermill_message_uuid":{"Type":"String","Value":"` + m.UUID + `"}}}`
	for _, bc := range []struct {
		name string
		in   sqstypes.Message
	}{
		{"raw", sqstypes.Message{Body: &body, MessageAttributes: attrs, MessageId: aws.String("sqs-id")}},
		{"envelope", sqstypes.Message{Body: &envelope, MessageId: aws.String("sqs-id")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(*bc.in.Body)))
			for b.Loop() {
				got, err := msg.EnvelopeUnmarshaler{}.Unmarshal(&bc.in)
				if err != nil || len(got.Payload) != len(body) {
					b.Fatalf("got %d bytes, %v", len(got.Payload), err)
				}
			}
		})
	}
}
