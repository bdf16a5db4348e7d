package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
)

// Logical topics, the same on every transport (SQS and SNS in the cluster,
// in-memory queues in local mode).
const (
	// TopicScanRequests is the scan queue: one ScanRequested per account.
	TopicScanRequests = "scan-requests"
	// TopicResults is the results topic carrying RunStarted and
	// AccountScanned; the aggregator consumes it through its subscription
	// queue.
	TopicResults = "results"
	// TopicPoison is the poison queue: messages no retry can decode.
	TopicPoison = "poison"
)

// DefaultDeadline is how long after its start a run, scheduled or ad hoc,
// is reported with whatever arrived (-deadline's default).
const DefaultDeadline = 45 * time.Minute

// DefaultReadRoleName is the role deployed in every account, which the
// scanner assumes to read it (-read-role-name's default).
const DefaultReadRoleName ident.RoleName = "system-config-report-generator-read-role"

// Peeked is what a body says about itself in the fields the codec writes
// first. A field not found, or null, is nil.
type Peeked struct {
	Type          *Type
	SchemaVersion *int
	RunID         *string
	AccountID     *string
	Status        *Status
}

// Peek fields, to name the ones a peek looks for.
const (
	PeekType          = "type"
	PeekSchemaVersion = "schema_version"
	PeekRunID         = "run_id"
	PeekAccountID     = "account_id"
	PeekStatus        = "status"
)

// Peek reads the named top-level fields of a JSON object body (Peek*
// names) without decoding the rest: the codec writes type,
// schema_version, run_id, account_id and status first, so the read stops
// within the first few hundred bytes once every named field is found and
// the body is decoded once, by whoever needs all of it. In any other order
// (a claim-check stub, a hand-written message) the other values are
// skipped whole. Where a field is given twice, the first non-null one is
// taken. It fails on a body that is not an object, or that stops being
// valid JSON before the named fields are found.
func Peek(body []byte, fields ...string) (Peeked, error) {
	var p Peeked
	dsts := make(map[string]any, len(fields))
	for _, f := range fields {
		switch f {
		case PeekType:
			dsts[f] = &p.Type
		case PeekSchemaVersion:
			dsts[f] = &p.SchemaVersion
		case PeekRunID:
			dsts[f] = &p.RunID
		case PeekAccountID:
			dsts[f] = &p.AccountID
		case PeekStatus:
			dsts[f] = &p.Status
		default:
			return p, fmt.Errorf("peek: unknown field %q", f)
		}
	}
	found := func() bool {
		for _, f := range fields {
			if !peekedAlready(&p, f) {
				return false
			}
		}
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return p, err
	}
	if tok != json.Delim('{') {
		return p, fmt.Errorf("body starts with %v", tok)
	}
	for !found() && dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, err
		}
		var dst any = new(json.RawMessage)
		if key, ok := tok.(string); ok && dsts[key] != nil && !peekedAlready(&p, key) {
			dst = dsts[key] // null leaves it nil
		}
		if err := dec.Decode(dst); err != nil {
			return p, err
		}
	}
	return p, nil
}

// peekedAlready says whether key's field holds a value already.
func peekedAlready(p *Peeked, key string) bool {
	switch key {
	case PeekType:
		return p.Type != nil
	case PeekSchemaVersion:
		return p.SchemaVersion != nil
	case PeekRunID:
		return p.RunID != nil
	case PeekAccountID:
		return p.AccountID != nil
	case PeekStatus:
		return p.Status != nil
	}
	return false
}

// prefixType and prefixVersion are how every body the codec writes begins:
// its Header, type then schema_version.
const (
	prefixType    = `{"type":"`
	prefixVersion = `","schema_version":`
)

// peekHeader is Peek(body, PeekType, PeekSchemaVersion) for a body that
// begins as the codec writes one (`{"type":"<letters>","schema_version":<n>`
// then `,` or `}`), read from those bytes alone, without a decoder; ok is
// false for any other body, which Peek must read. A body that goes on as
// invalid JSON is refused by the decoding that follows, as it is when Peek
// stops early.
func peekHeader(body []byte) (p Peeked, ok bool) {
	rest, found := bytes.CutPrefix(body, []byte(prefixType))
	if !found {
		return p, false
	}
	n := 0
	for n < len(rest) && n < 64 && ('a' <= rest[n] && rest[n] <= 'z' || 'A' <= rest[n] && rest[n] <= 'Z') {
		n++
	}
	typ := Type(rest[:n])
	if rest, found = bytes.CutPrefix(rest[n:], []byte(prefixVersion)); n == 0 || !found {
		return p, false
	}
	// A JSON number without sign, fraction or exponent: 0, or up to nine
	// digits without a leading 0 (no overflow).
	v, d := 0, 0
	for d < len(rest) && d < 10 && '0' <= rest[d] && rest[d] <= '9' {
		v = v*10 + int(rest[d]-'0')
		d++
	}
	if d == 0 || d == 10 || (d > 1 && rest[0] == '0') || d == len(rest) || (rest[d] != ',' && rest[d] != '}') {
		return p, false
	}
	return Peeked{Type: &typ, SchemaVersion: &v}, true
}
