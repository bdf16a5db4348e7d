// Package events holds the pipeline's message contracts: the three events
// of DESIGN.md as versioned JSON bodies that carry their own `type` and
// `schema_version`, their validation, and the codec that turns them into
// watermill messages (metadata mirrored for routing and logs, oversized
// bodies moved to a payload store as a claim check).
//
// The body is the truth: metadata is never read back as data. Anything a
// consumer cannot decode is a *DecodeError with a Reason, which the
// consumers route to the poison queue; it never panics and never blocks.
// A claim check is followed only into the folder of the message's own run
// and account, and only up to Codec.MaxPayload bytes: a message cannot make
// a consumer read another object of the bucket, or an unbounded one.
//
// It also holds the wire vocabulary every stage shares (wire.go): the
// logical topic names, the default deadline, the read-role name, and Peek,
// the one reader of a body's leading fields.
//
// It is not a transport: publishing, subscribing and acknowledging belong
// to the stages.
package events

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cybsecops/configreport/internal/ident"
)

// SchemaVersion is the only version of every event this code reads and writes.
const SchemaVersion = 1

// Type names an event in its body's `type` field.
type Type string

const (
	TypeRunStarted     Type = "RunStarted"
	TypeScanRequested  Type = "ScanRequested"
	TypeAccountScanned Type = "AccountScanned"
)

// Event is one of *RunStarted, *ScanRequested, *AccountScanned.
type Event interface {
	EventType() Type
	// Validate reports every problem of the event at once.
	Validate() error
	// Keys are the ids mirrored into metadata; either may be empty.
	Keys() (ident.RunID, ident.AccountID)
	setHeader()
}

// Header is the part of every body that says what it is.
type Header struct {
	Type          Type `json:"type,omitempty"`
	SchemaVersion int  `json:"schema_version,omitempty"`
}

// Trigger says why a run started.
type Trigger string

const (
	TriggerScheduled Trigger = "scheduled"
	TriggerAdhoc     Trigger = "adhoc"
)

// Account is one account a run sets out to scan.
type Account struct {
	AccountID ident.AccountID `json:"account_id"`
	Name      string          `json:"name"`
	OUPath    string          `json:"ou_path"` // "Root" or "Root/Prod/Payments"
	// Tags are the account's Organizations tags that -owner-tags names
	// (none when it names none), read by the trigger or, for an ad-hoc
	// run, by the scanner's lookup.
	Tags map[string]string `json:"tags,omitempty"`
}

// ErrNotScannable is wrapped by an account lookup's error (the trigger's
// -account run, the scanner's ad-hoc request) for an account that is not
// in the organisation or not ACTIVE: no retry can help, and an ad-hoc
// request for it is poison (ReasonUnknownAccount).
var ErrNotScannable = errors.New("account cannot be scanned")

// Equal tells whether two accounts say the same, tags included.
func (a Account) Equal(b Account) bool {
	return a.AccountID == b.AccountID && a.Name == b.Name && a.OUPath == b.OUPath && maps.Equal(a.Tags, b.Tags)
}

// RunStarted opens a run: it names every account the report must list.
type RunStarted struct {
	Header
	RunID      ident.RunID    `json:"run_id"`
	Trigger    Trigger        `json:"trigger"`
	StartedAt  time.Time      `json:"started_at"`
	Deadline   time.Time      `json:"deadline"`
	Regions    []ident.Region `json:"regions"`
	Accounts   []Account      `json:"accounts"`
	PayloadRef string         `json:"payload_ref,omitempty"`
}

// ScanRequested asks a scanner to scan one account. A hand-written
// {"account_id": "123456789012"} is valid: RunID and Regions are optional.
type ScanRequested struct {
	Header
	RunID       ident.RunID     `json:"run_id,omitempty"`
	AccountID   ident.AccountID `json:"account_id"`
	AccountName string          `json:"account_name,omitempty"`
	OUPath      string          `json:"ou_path,omitempty"`
	Regions     []ident.Region  `json:"regions,omitempty"`
}

// Status of one account's scan.
type Status string

const (
	StatusOK      Status = "ok"
	StatusPartial Status = "partial" // some regions failed
	StatusFailed  Status = "failed"  // AssumeRole failed, or every region did
)

// Compliance values as AWS Config names them.
const (
	Compliant        = "COMPLIANT"
	NonCompliant     = "NON_COMPLIANT"
	NotApplicable    = "NOT_APPLICABLE"
	InsufficientData = "INSUFFICIENT_DATA"
)

// Stages at which a scan can fail.
const (
	StageAssumeRole = "assume-role"
	StageConfig     = "config"
	StageRecorder   = "recorder"
)

// Error codes the pipeline itself gives (the rest are AWS's).
const (
	// CodeNotScanned: a region of the run that the account's result did
	// not cover (a held result counted at the deadline).
	CodeNotScanned = "NotScanned"
	// CodeTruncated: a region whose findings passed the per-account cap;
	// what was read is kept, the region counts as not read.
	CodeTruncated = "Truncated"
)

// MaxRunLength is the longest a run may be open: a RunStarted whose
// deadline is further than this after its start is invalid, so a forged
// or mistaken far deadline cannot keep a run loaded for ever.
const MaxRunLength = 7 * 24 * time.Hour

// Read says whether a region of an account was read.
type Read string

const (
	ReadYes     Read = "yes"     // every call of the region succeeded
	ReadFailed  Read = "failed"  // AssumeRole failed, or the region's calls failed for good
	ReadSkipped Read = "skipped" // an opt-in region the account has not enabled
)

// Recorder is the state of a region's AWS Config recorder, as read.
type Recorder string

const (
	RecorderRecording Recorder = "recording"
	RecorderStopped   Recorder = "stopped"
	RecorderNone      Recorder = "none"
)

// Coverage is what a result could see of one region it was asked for.
// Enabled, Recorder and Rules are nil when unknown (not asked, or the call
// failed).
type Coverage struct {
	Region   ident.Region `json:"region"`
	Enabled  *bool        `json:"enabled"`
	Recorder *Recorder    `json:"recorder"`
	Read     Read         `json:"read"`
	Rules    *int         `json:"rules"`
}

// Rule is one Config rule in one region of the account, with its overall
// compliance. NoncompliantCount is the number of NON_COMPLIANT evaluation
// results read with GetComplianceDetailsByConfigRule (never Describe's
// capped count).
type Rule struct {
	Region            ident.Region `json:"region"`
	Name              string       `json:"name"`
	Owner             string       `json:"owner"` // Source.Owner: AWS, CUSTOM_LAMBDA, CUSTOM_POLICY
	SourceIdentifier  string       `json:"source_identifier"`
	Compliance        string       `json:"compliance"`
	NoncompliantCount int          `json:"noncompliant_count"`
}

// Finding is one evaluation result.
type Finding struct {
	Region       ident.Region `json:"region"`
	Rule         string       `json:"rule"`
	ResourceType string       `json:"resource_type"`
	ResourceID   string       `json:"resource_id"`
	Compliance   string       `json:"compliance"`
	Annotation   string       `json:"annotation,omitempty"`
	RecordedAt   time.Time    `json:"recorded_at"`
}

// ScanError is a region (or the whole account, Region empty) that gave up.
type ScanError struct {
	Region   ident.Region `json:"region,omitempty"`
	Stage    string       `json:"stage"`
	Code     string       `json:"code"`
	Message  string       `json:"message"`
	Attempts int          `json:"attempts"`
}

// AccountScanned is one account's result. A result is always published,
// whatever failed.
type AccountScanned struct {
	Header
	RunID      ident.RunID     `json:"run_id"`
	AccountID  ident.AccountID `json:"account_id"`
	Status     Status          `json:"status"`
	ScannedAt  time.Time       `json:"scanned_at"`
	DurationMS int64           `json:"duration_ms"`
	Rules      []Rule          `json:"rules"`
	Findings   []Finding       `json:"findings"`
	Errors     []ScanError     `json:"errors"`
	// Coverage has one entry per region the request asked for. A result
	// without one for a region of its run does not cover the run: the
	// aggregator holds it (DESIGN.md, Contracts).
	Coverage   []Coverage `json:"coverage"`
	PayloadRef string     `json:"payload_ref,omitempty"`
}

// Uncovered returns the regions of want that the result has no coverage
// entry for, in want's order.
func (e *AccountScanned) Uncovered(want []ident.Region) []ident.Region {
	have := make(map[ident.Region]bool, len(e.Coverage))
	for _, c := range e.Coverage {
		have[c.Region] = true
	}
	var out []ident.Region
	for _, r := range want {
		if !have[r] {
			out = append(out, r)
		}
	}
	return out
}

func (*RunStarted) EventType() Type     { return TypeRunStarted }
func (*ScanRequested) EventType() Type  { return TypeScanRequested }
func (*AccountScanned) EventType() Type { return TypeAccountScanned }

func (e *RunStarted) Keys() (ident.RunID, ident.AccountID)     { return e.RunID, "" }
func (e *ScanRequested) Keys() (ident.RunID, ident.AccountID)  { return e.RunID, e.AccountID }
func (e *AccountScanned) Keys() (ident.RunID, ident.AccountID) { return e.RunID, e.AccountID }

func (e *RunStarted) setHeader()     { e.Header = Header{TypeRunStarted, SchemaVersion} }
func (e *ScanRequested) setHeader()  { e.Header = Header{TypeScanRequested, SchemaVersion} }
func (e *AccountScanned) setHeader() { e.Header = Header{TypeAccountScanned, SchemaVersion} }

// problems collects validation failures, capped so that a hostile event
// with a million bad rows yields a readable error.
type problems struct {
	errs []error
	more int
}

const maxProblems = 10

func (p *problems) add(format string, args ...any) {
	if len(p.errs) >= maxProblems {
		p.more++
		return
	}
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *problems) check(err error, where string) {
	if err != nil {
		p.add("%s: %w", where, err)
	}
}

func (p *problems) err(what Type) error {
	if len(p.errs) == 0 {
		return nil
	}
	if p.more > 0 {
		p.errs = append(p.errs, fmt.Errorf("and %d more problems", p.more))
	}
	return fmt.Errorf("invalid %s: %w", what, errors.Join(p.errs...))
}

func checkAccount(p *problems, id ident.AccountID, where string) {
	_, err := ident.ParseAccountID(string(id))
	p.check(err, where)
}

func checkRun(p *problems, id ident.RunID, where string) {
	_, err := ident.ParseRunID(string(id))
	p.check(err, where)
}

func checkRegion(p *problems, r ident.Region, where string) {
	_, err := ident.ParseRegion(string(r))
	p.check(err, where)
}

func checkRegions(p *problems, rs []ident.Region, where string) {
	seen := make(map[ident.Region]bool, len(rs))
	for i, r := range rs {
		checkRegion(p, r, fmt.Sprintf("%s[%d]", where, i))
		if seen[r] {
			p.add("%s[%d]: region %q listed twice", where, i, r)
		}
		seen[r] = true
	}
}

func checkOUPath(p *problems, path, where string) {
	if path != "" && path != "Root" && !strings.HasPrefix(path, "Root/") {
		p.add("%s: OU path %q does not start at Root", where, path)
	}
}

// checkTags holds tags to AWS's limits: at most 50, keys of 1-128 and
// values of at most 256 characters.
func checkTags(p *problems, tags map[string]string, where string) {
	if len(tags) > maxTags {
		p.add("%s: %d tags, at most %d", where, len(tags), maxTags)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if n := utf8.RuneCountInString(k); n == 0 || n > maxTagKey {
			p.add("%s: key %.40q is %d characters, want 1 to %d", where, k, n, maxTagKey)
		}
		if n := utf8.RuneCountInString(tags[k]); n > maxTagValue {
			p.add("%s[%.40q]: value is %d characters, at most %d", where, k, n, maxTagValue)
		}
	}
}

// AWS's limits on an Organizations resource's tags.
const (
	maxTags     = 50
	maxTagKey   = 128
	maxTagValue = 256
)

// knownCompliance tells whether c is one of Config's compliance values.
func knownCompliance(c string) bool {
	switch c {
	case Compliant, NonCompliant, NotApplicable, InsufficientData:
		return true
	}
	return false
}

// elem names an element of a list field in a problem ("findings[3]"),
// formatted only when a problem is added.
type elem struct {
	list string
	i    int
}

func (e elem) String() string { return e.list + "[" + strconv.Itoa(e.i) + "]" }

// regionChecker checks the region fields of list elements, parsing each
// distinct valid region once.
type regionChecker struct {
	p     *problems
	valid []ident.Region // a result has a few regions: a slice beats a map
}

func (c *regionChecker) check(r ident.Region, where elem) {
	if slices.Contains(c.valid, r) {
		return
	}
	if _, err := ident.ParseRegion(string(r)); err != nil {
		c.p.add("%s.region: %w", where, err)
		return
	}
	c.valid = append(c.valid, r)
}

// Validate implements Event.
func (e *RunStarted) Validate() error {
	var p problems
	checkRun(&p, e.RunID, "run_id")
	if e.PayloadRef != "" {
		return p.err(TypeRunStarted)
	}
	if e.Trigger != TriggerScheduled && e.Trigger != TriggerAdhoc {
		p.add("trigger: %q is neither %q nor %q", e.Trigger, TriggerScheduled, TriggerAdhoc)
	}
	if e.StartedAt.IsZero() {
		p.add("started_at: missing")
	}
	if !e.Deadline.After(e.StartedAt) {
		p.add("deadline: %s is not after started_at %s", e.Deadline.Format(time.RFC3339), e.StartedAt.Format(time.RFC3339))
	} else if e.Deadline.Sub(e.StartedAt) > MaxRunLength {
		p.add("deadline: %s is more than %s after started_at %s", e.Deadline.Format(time.RFC3339), MaxRunLength, e.StartedAt.Format(time.RFC3339))
	}
	if len(e.Regions) == 0 {
		p.add("regions: none")
	}
	checkRegions(&p, e.Regions, "regions")
	seen := make(map[ident.AccountID]bool, len(e.Accounts))
	for i, a := range e.Accounts {
		where := fmt.Sprintf("accounts[%d]", i)
		checkAccount(&p, a.AccountID, where+".account_id")
		checkOUPath(&p, a.OUPath, where+".ou_path")
		checkTags(&p, a.Tags, where+".tags")
		if seen[a.AccountID] {
			p.add("%s: account %s listed twice", where, a.AccountID)
		}
		seen[a.AccountID] = true
	}
	return p.err(TypeRunStarted)
}

// Validate implements Event.
func (e *ScanRequested) Validate() error {
	var p problems
	if e.RunID != "" {
		checkRun(&p, e.RunID, "run_id")
	}
	checkAccount(&p, e.AccountID, "account_id")
	checkOUPath(&p, e.OUPath, "ou_path")
	// A region listed twice is not an error here: the scanner removes
	// duplicates when it checks the list against its configured regions.
	for i, r := range e.Regions {
		checkRegion(&p, r, fmt.Sprintf("regions[%d]", i))
	}
	return p.err(TypeScanRequested)
}

// Validate implements Event.
func (e *AccountScanned) Validate() error {
	var p problems
	checkRun(&p, e.RunID, "run_id")
	checkAccount(&p, e.AccountID, "account_id")
	if e.PayloadRef != "" {
		return p.err(TypeAccountScanned)
	}
	switch e.Status {
	case StatusOK, StatusPartial, StatusFailed:
	default:
		p.add("status: unknown %q", e.Status)
	}
	if e.ScannedAt.IsZero() {
		p.add("scanned_at: missing")
	}
	if e.DurationMS < 0 {
		p.add("duration_ms: negative")
	}
	// Every result is validated where it is sent and where it is received:
	// the names of its rules' and findings' fields are formatted only for
	// a problem, and each distinct region is parsed once (issue 20: this
	// was 200 allocations a result, valid or not).
	region := regionChecker{p: &p}
	for i, r := range e.Rules {
		where := elem{"rules", i}
		region.check(r.Region, where)
		if r.Name == "" {
			p.add("%s.name: empty", where)
		}
		if !knownCompliance(r.Compliance) {
			p.add("%s.compliance: unknown compliance %q", where, r.Compliance)
		}
		if r.NoncompliantCount < 0 {
			p.add("%s.noncompliant_count: negative", where)
		}
	}
	for i, f := range e.Findings {
		where := elem{"findings", i}
		region.check(f.Region, where)
		if f.Rule == "" || f.ResourceType == "" || f.ResourceID == "" {
			p.add("%s: rule, resource_type and resource_id are required", where)
		}
		if !knownCompliance(f.Compliance) {
			p.add("%s.compliance: unknown compliance %q", where, f.Compliance)
		}
	}
	seen := make(map[ident.Region]bool, len(e.Coverage))
	for i, c := range e.Coverage {
		where := elem{"coverage", i}
		region.check(c.Region, where)
		if seen[c.Region] {
			p.add("%s: region %q listed twice", where, c.Region)
		}
		seen[c.Region] = true
		switch c.Read {
		case ReadYes, ReadFailed, ReadSkipped:
		default:
			p.add("%s.read: unknown %q", where, c.Read)
		}
		if c.Recorder != nil {
			switch *c.Recorder {
			case RecorderRecording, RecorderStopped, RecorderNone:
			default:
				p.add("%s.recorder: unknown %q", where, *c.Recorder)
			}
		}
		if c.Rules != nil && *c.Rules < 0 {
			p.add("%s.rules: negative", where)
		}
	}
	for i, se := range e.Errors {
		where := elem{"errors", i}
		if se.Region != "" {
			region.check(se.Region, where)
		}
		if se.Stage == "" || se.Code == "" {
			p.add("%s: stage and code are required", where)
		}
		if se.Attempts < 0 {
			p.add("%s.attempts: negative", where)
		}
	}
	return p.err(TypeAccountScanned)
}
