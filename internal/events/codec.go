package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/ident"
)

// Metadata keys mirrored from the body, for routing and logs only.
const (
	MetaEventType     = "event_type"
	MetaSchemaVersion = "schema_version"
	MetaRunID         = "run_id"
	MetaAccountID     = "account_id"
)

// SNS and SQS accept at most 256 KiB per message, attributes included. A
// body above MaxInlineBody leaves room for the mirrored metadata and the
// transport's own attributes; it is moved to the payload store and the
// message carries only a claim check.
const (
	MessageLimit  = 256 * 1024
	MaxInlineBody = MessageLimit - 16*1024
)

// DefaultMaxPayload bounds the claim-check object a consumer reads. It must
// hold the largest result the scanner writes: at its default findings cap
// (500,000 findings, scan.DefaultMaxFindings) of some 280 bytes of JSON
// each (an EC2 instance id, a one-line annotation) an AccountScanned is
// about 140 MB, so 256 MiB leaves room for long ARNs and annotations
// (internal/scan's tests pin the relation). A bigger object is not one
// this pipeline wrote. Codec.MaxPayload overrides it.
const DefaultMaxPayload = 256 << 20

// Reason says why a message went to the poison queue.
type Reason string

const (
	ReasonMalformed      Reason = "malformed"       // not JSON, or an invalid field
	ReasonUnknownType    Reason = "unknown-type"    // a type or schema version this code does not read
	ReasonMissingPayload Reason = "missing-payload" // a claim check whose object is gone
	ReasonTooLarge       Reason = "too-large"       // a body over the 256 KiB contract
	// ReasonInvalid: well-formed, but asks for what this consumer does not
	// allow (a region outside the configured ones, a claim check outside
	// its run's folder or over the size limit).
	ReasonInvalid Reason = "invalid"
	// ReasonUnknownAccount: an ad-hoc request for an account Organizations
	// does not know, or that is not ACTIVE.
	ReasonUnknownAccount Reason = "unknown-account"
)

// DecodeError is every error Unmarshal returns for a message that can
// never be decoded, whatever the retries: the consumer sends it to the
// poison queue with Reason. Transient failures (the payload store being
// unreachable) are returned unwrapped, to be retried.
type DecodeError struct {
	Reason Reason
	Err    error
}

func (e *DecodeError) Error() string { return string(e.Reason) + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrPayloadNotFound is what a PayloadStore's Get wraps when the object
// does not exist (as opposed to the store being unreachable).
var ErrPayloadNotFound = errors.New("payload not found")

// ErrPayloadTooLarge is what a PayloadStore's Get wraps when the object is
// over the limit asked.
var ErrPayloadTooLarge = errors.New("payload over the size limit")

// PayloadStore keeps claim-check bodies (S3 in the cluster, a folder or
// memory locally).
type PayloadStore interface {
	PutPayload(ctx context.Context, key string, body []byte) error
	// GetPayload returns the object at key when it is at most limit
	// bytes; an error wrapping ErrPayloadNotFound when key is absent, and
	// one wrapping ErrPayloadTooLarge when it is larger, having read no
	// more than limit+1 bytes of it.
	GetPayload(ctx context.Context, key string, limit int64) ([]byte, error)
}

// Codec turns events into watermill messages and back.
type Codec struct {
	// Payloads keeps oversized bodies; nil refuses to send them.
	Payloads PayloadStore
	// PayloadPrefix is the key prefix of claim-check objects (given its own
	// short lifecycle in the bucket). Producers and consumers must agree on
	// it: Decode follows a claim check only into
	// <prefix>/<run id>/<account id, or "run">/.
	PayloadPrefix string
	// DefaultType is the type of a body with neither `type` nor
	// `schema_version`: ScanRequested on the scan queue (the hand-written
	// ad-hoc message), empty (refused) elsewhere.
	DefaultType Type
	// MaxInline overrides MaxInlineBody (tests).
	MaxInline int
	// MaxPayload is the largest claim-check object Decode reads; a larger
	// one is poison (ReasonInvalid). Default DefaultMaxPayload.
	MaxPayload int64
}

func (c Codec) maxPayload() int64 {
	if c.MaxPayload > 0 {
		return c.MaxPayload
	}
	return DefaultMaxPayload
}

func (c Codec) maxInline() int {
	if c.MaxInline > 0 {
		return c.MaxInline
	}
	return MaxInlineBody
}

// Marshal validates ev and returns its message. A body over the inline limit
// is stored under a key derived from its content (so a retried publish
// rewrites the same object) and replaced by a claim check.
func (c Codec) Marshal(ctx context.Context, ev Event) (*message.Message, error) {
	ev.setHeader()
	normalizeTimes(ev)
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ev.EventType(), err)
	}
	run, acct := ev.Keys()
	if len(body) > c.maxInline() {
		if c.Payloads == nil {
			return nil, fmt.Errorf("%s for run %s account %s is %d bytes, over the %d-byte message limit, and no payload store is configured", ev.EventType(), run, acct, len(body), c.maxInline())
		}
		sum := sha256.Sum256(body)
		key := path.Join(c.payloadDir(run, acct), string(ev.EventType())+"-"+hex.EncodeToString(sum[:12])+".json")
		if err := c.Payloads.PutPayload(ctx, key, body); err != nil {
			return nil, fmt.Errorf("store %s payload for run %s: %w", ev.EventType(), run, err)
		}
		stub := map[string]any{
			"type": ev.EventType(), "schema_version": SchemaVersion,
			"run_id": run, "payload_ref": key,
		}
		if acct != "" {
			stub["account_id"] = acct
		}
		if body, err = json.Marshal(stub); err != nil {
			return nil, err
		}
	}
	msg := message.NewMessage(watermill.NewUUID(), body)
	msg.Metadata.Set(MetaEventType, string(ev.EventType()))
	msg.Metadata.Set(MetaSchemaVersion, strconv.Itoa(SchemaVersion))
	if run != "" {
		msg.Metadata.Set(MetaRunID, string(run))
	}
	if acct != "" {
		msg.Metadata.Set(MetaAccountID, string(acct))
	}
	return msg, nil
}

// normalizeTimes keeps every timestamp UTC, so bodies say "Z".
func normalizeTimes(ev Event) {
	switch e := ev.(type) {
	case *RunStarted:
		e.StartedAt, e.Deadline = e.StartedAt.UTC(), e.Deadline.UTC()
	case *AccountScanned:
		e.ScannedAt = e.ScannedAt.UTC()
		for i := range e.Findings {
			e.Findings[i].RecordedAt = e.Findings[i].RecordedAt.UTC()
		}
	}
}

// payloadDir is the folder of a run's (and account's) claim-check objects:
// the prefix, the run id, and the account id or "run" for a RunStarted.
func (c Codec) payloadDir(run ident.RunID, acct ident.AccountID) string {
	who := string(acct)
	if who == "" {
		who = "run"
	}
	return path.Join(c.PayloadPrefix, string(run), who)
}

// checkRef accepts a claim check only where Marshal puts one for this
// event: a .json object directly in the folder of the message's own run and
// account (so a message cannot make a consumer read another run's or
// account's result, a report, or anything else in the bucket), with no dot
// segment, absolute path, backslash or other spelling that cleans to
// something else.
func (c Codec) checkRef(ref string, ev Event) error {
	run, acct := ev.Keys()
	dir, base := path.Dir(ref), path.Base(ref)
	switch {
	case ref != path.Clean(ref) || path.IsAbs(ref) || strings.ContainsAny(ref, "\\\x00"):
		return fmt.Errorf("claim check %q is not a clean relative key", ref)
	case slices.Contains(strings.Split(ref, "/"), ".."):
		return fmt.Errorf("claim check %q has a .. segment", ref)
	case dir != c.payloadDir(run, acct):
		return fmt.Errorf("claim check %q is not in the folder %s/ of run %s account %s", ref, c.payloadDir(run, acct), run, acct)
	case !strings.HasSuffix(base, ".json") || !refNameRe.MatchString(base):
		return fmt.Errorf("claim check %q is not named as a payload (<name>.json of [A-Za-z0-9._-])", ref)
	}
	return nil
}

// refNameRe is the characters of a claim-check object's name.
var refNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Unmarshal decodes a message body, following a claim check when there is
// one. Errors that no retry can mend are *DecodeError.
func (c Codec) Unmarshal(ctx context.Context, msg *message.Message) (Event, error) {
	return c.Decode(ctx, msg.Payload)
}

// Decode is Unmarshal for a bare body.
func (c Codec) Decode(ctx context.Context, body []byte) (Event, error) {
	if len(body) > MessageLimit {
		return nil, &DecodeError{ReasonTooLarge, fmt.Errorf("body is %d bytes, over the %d-byte contract", len(body), MessageLimit)}
	}
	ev, ref, err := c.decodeBody(body, true)
	if err != nil || ref == "" {
		return ev, err
	}
	// Checked before anything is fetched: the answer must not depend on
	// whether the object exists.
	if err := c.checkRef(ref, ev); err != nil {
		return nil, &DecodeError{ReasonInvalid, err}
	}
	if c.Payloads == nil {
		return nil, &DecodeError{ReasonMissingPayload, fmt.Errorf("claim check %q but no payload store is configured", ref)}
	}
	full, err := c.Payloads.GetPayload(ctx, ref, c.maxPayload())
	if errors.Is(err, ErrPayloadNotFound) {
		return nil, &DecodeError{ReasonMissingPayload, fmt.Errorf("claim check %q: %w", ref, err)}
	}
	if errors.Is(err, ErrPayloadTooLarge) {
		return nil, &DecodeError{ReasonInvalid, fmt.Errorf("claim check %q: %w (limit %d bytes)", ref, err, c.maxPayload())}
	}
	if err != nil {
		return nil, fmt.Errorf("read claim check %q: %w", ref, err)
	}
	stubRun, stubAcct := ev.Keys()
	ev, ref2, err := c.decodeBody(full, false)
	if err != nil {
		return nil, err
	}
	if ref2 != "" {
		return nil, &DecodeError{ReasonMalformed, fmt.Errorf("claim check %q points at another claim check", ref)}
	}
	if run, acct := ev.Keys(); run != stubRun || acct != stubAcct {
		return nil, &DecodeError{ReasonMalformed, fmt.Errorf("claim check %q holds run %s account %s, message says run %s account %s", ref, run, acct, stubRun, stubAcct)}
	}
	return ev, nil
}

func (c Codec) decodeBody(body []byte, allowRef bool) (Event, string, error) {
	h, ok := peekHeader(body)
	if !ok {
		var err error
		if h, err = Peek(body, PeekType, PeekSchemaVersion); err != nil {
			return nil, "", &DecodeError{ReasonMalformed, fmt.Errorf("not a JSON object: %w", err)}
		}
	}
	var typ Type
	switch {
	case h.Type == nil && h.SchemaVersion == nil:
		if c.DefaultType == "" {
			return nil, "", &DecodeError{ReasonUnknownType, errors.New("body has neither type nor schema_version")}
		}
		typ = c.DefaultType
	case h.Type == nil || h.SchemaVersion == nil:
		return nil, "", &DecodeError{ReasonMalformed, errors.New("body has one of type and schema_version without the other")}
	default:
		typ = *h.Type
		if *h.SchemaVersion != SchemaVersion {
			return nil, "", &DecodeError{ReasonUnknownType, fmt.Errorf("%s schema_version %d is not supported (want %d)", typ, *h.SchemaVersion, SchemaVersion)}
		}
	}
	var ev Event
	switch typ {
	case TypeRunStarted:
		ev = &RunStarted{}
	case TypeScanRequested:
		ev = &ScanRequested{}
	case TypeAccountScanned:
		ev = &AccountScanned{}
	default:
		return nil, "", &DecodeError{ReasonUnknownType, fmt.Errorf("unknown event type %q", typ)}
	}
	// One pass over the whole body: Unmarshal checks all of it (syntax,
	// trailing data) before it decodes anything.
	if err := json.Unmarshal(body, ev); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, "", &DecodeError{ReasonMalformed, fmt.Errorf("not a JSON object: %w", err)}
		}
		return nil, "", &DecodeError{ReasonMalformed, fmt.Errorf("decode %s: %w", typ, err)}
	}
	// Peek took the first type and schema_version, Unmarshal the
	// last: a body that says two things is refused, not read either way.
	if got := headerOf(ev); (h.Type != nil && got.Type != *h.Type) || (h.SchemaVersion != nil && got.SchemaVersion != *h.SchemaVersion) {
		return nil, "", &DecodeError{ReasonMalformed, errors.New("type or schema_version given twice, differently")}
	}
	ref := payloadRef(ev)
	if ref != "" && !allowRef {
		return ev, ref, nil
	}
	if err := ev.Validate(); err != nil {
		return nil, "", &DecodeError{ReasonMalformed, err}
	}
	if ref == "" {
		ev.setHeader()
		normalizeTimes(ev)
	}
	return ev, ref, nil
}

// headerOf is the Header an event was decoded with.
func headerOf(ev Event) Header {
	switch e := ev.(type) {
	case *RunStarted:
		return e.Header
	case *ScanRequested:
		return e.Header
	case *AccountScanned:
		return e.Header
	}
	return Header{}
}

func payloadRef(ev Event) string {
	switch e := ev.(type) {
	case *RunStarted:
		return e.PayloadRef
	case *AccountScanned:
		return e.PayloadRef
	}
	return ""
}

// ReasonOf returns the poison reason of err, or "" when err is not a
// DecodeError (a transient failure to be retried).
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

// Deadline computes a run's deadline from its start.
func Deadline(startedAt time.Time, d time.Duration) time.Time { return startedAt.UTC().Add(d) }
