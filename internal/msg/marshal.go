package msg

import (
	"encoding/json"

	wsns "github.com/ThreeDotsLabs/watermill-aws/sns"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TopicArnMarshaler is watermill-aws's SNS marshaling (metadata as String
// message attributes, the watermill UUID in _watermill_message_uuid) with
// the topic in TopicArn rather than TargetArn. Both are valid on AWS for a
// topic; goaws reads only TopicArn.
type TopicArnMarshaler struct{}

func (TopicArnMarshaler) Marshal(topicArn wsns.TopicArn, msg *message.Message) *sns.PublishInput {
	in := wsns.DefaultMarshalerUnmarshaler{}.Marshal(topicArn, msg)
	in.TopicArn, in.TargetArn = in.TargetArn, nil
	return in
}

// EnvelopeUnmarshaler reads a message from the SNS subscription queue
// whether the subscription has raw delivery (the body and attributes as
// published: the configured case) or not (SNS's JSON envelope, whose
// Message is the body and MessageAttributes the attributes). A
// misconfigured subscription then costs nothing but bytes, instead of
// every result going to the poison queue.
type EnvelopeUnmarshaler struct{}

// snsEnvelope is SNS's notification JSON. Matching is on exact keys via
// RawMessage maps: encoding/json's case-insensitive field matching would
// take an event body's "type" for the envelope's "Type".
type snsEnvelope struct {
	Message           string
	MessageID         string
	MessageAttributes map[string]struct {
		Type  string
		Value string
	}
}

func (EnvelopeUnmarshaler) Unmarshal(m *sqstypes.Message) (*message.Message, error) {
	if env, ok := parseEnvelope(aws.ToString(m.Body)); ok {
		attrs := make(map[string]sqstypes.MessageAttributeValue, len(env.MessageAttributes))
		for k, v := range env.MessageAttributes {
			if v.Type == "" {
				continue
			}
			// Binary values arrive base64-encoded in the envelope; we only
			// publish String ones.
			attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String(v.Type), StringValue: aws.String(v.Value)}
		}
		id := m.MessageId
		if env.MessageID != "" {
			id = aws.String(env.MessageID)
		}
		m = &sqstypes.Message{Body: aws.String(env.Message), MessageAttributes: attrs, MessageId: id, ReceiptHandle: m.ReceiptHandle}
	}
	return wsqs.DefaultMarshalerUnmarshaler{}.Unmarshal(m)
}

// mayBeEnvelope tells, from its first bytes, whether a body may be an SNS
// envelope, so that a raw delivery's body (the configured case: an event,
// whose first key the codec writes is "type") is not parsed whole to learn
// that it is not one. It is not when it is not a JSON object, or when its
// first key starts with a lower-case letter: every key of SNS's
// notification JSON (Type, MessageId, TopicArn, Message, ...) is
// capitalized. Anything else (a first key in capitals, spelled with an
// escape, or no key) is left to parseEnvelope.
func mayBeEnvelope(body string) bool {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i+1 < len(body) && body[i] == '"' && 'a' <= body[i+1] && body[i+1] <= 'z' {
		return false
	}
	return true
}

// skipSpace returns the index of the first byte of s from i that is not
// JSON whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func parseEnvelope(body string) (snsEnvelope, bool) {
	if !mayBeEnvelope(body) {
		return snsEnvelope{}, false
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &raw) != nil {
		return snsEnvelope{}, false
	}
	var typ, topic string
	if json.Unmarshal(raw["Type"], &typ) != nil || typ != "Notification" {
		return snsEnvelope{}, false
	}
	if json.Unmarshal(raw["TopicArn"], &topic) != nil || topic == "" {
		return snsEnvelope{}, false
	}
	var env snsEnvelope
	if json.Unmarshal(raw["Message"], &env.Message) != nil {
		return snsEnvelope{}, false
	}
	_ = json.Unmarshal(raw["MessageId"], &env.MessageID)
	if a, ok := raw["MessageAttributes"]; ok {
		if json.Unmarshal(a, &env.MessageAttributes) != nil {
			return snsEnvelope{}, false
		}
	}
	return env, true
}

var (
	_ wsns.Marshaler   = TopicArnMarshaler{}
	_ wsqs.Unmarshaler = EnvelopeUnmarshaler{}
)
