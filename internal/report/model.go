package report

import (
	"iter"
	"time"
)

// Trigger says why a run was started; it is printed on the Summary sheet.
type Trigger string

// The two triggers REPORT_FORMAT.md allows.
const (
	TriggerScheduled Trigger = "scheduled"
	TriggerAdhoc     Trigger = "adhoc"
)

// Status is an account's Scan Status on the Summary sheet.
type Status string

// The four Scan Status values of REPORT_FORMAT.md.
const (
	// StatusOK: every configured region was read in full.
	StatusOK Status = "OK"
	// StatusPartial: some regions failed; the others count.
	StatusPartial Status = "PARTIAL"
	// StatusFailed: AssumeRole failed, or every region did. Counts are empty.
	StatusFailed Status = "FAILED"
	// StatusMissing: no result arrived before the run's deadline. Counts are
	// empty and the renderer adds the account's `missing` Errors row itself.
	StatusMissing Status = "MISSING"
)

// Compliance values of AWS Config (ComplianceType) that the counts look at.
// Any other value (NOT_APPLICABLE, INSUFFICIENT_DATA, empty) still counts as
// an evaluated rule.
const (
	Compliant    = "COMPLIANT"
	NonCompliant = "NON_COMPLIANT"
)

// Run is the run-wide metadata printed in the Summary key/value block.
// Accounts expected is not a field: it is the number of Account values
// passed to Render, one per ACTIVE account the run set out to scan.
type Run struct {
	// RunID is printed as text.
	RunID string
	// GeneratedAt is fixed when the run is first claimed, so a re-render
	// (another replica taking over the lease) is byte-identical. It is also
	// the workbook's created/modified document property and every zip entry's
	// modification time; nothing in the file comes from the wall clock.
	GeneratedAt time.Time
	Trigger     Trigger
	// Regions in their configured order: printed joined by "," and used to
	// break ties between different rule sources (first configured region wins),
	// and the order of each account's Coverage rows.
	Regions []string
	// OwnerColumns are the headers of the owner columns (-owner-tags: each
	// entry's first alternative), in order. Each adds a text column at the
	// right end of Summary, Non-compliant Resources, Errors and Coverage.
	OwnerColumns []string
}

// Account is one expected account: one Summary row.
type Account struct {
	// ID is text (12 digits, leading zeros kept); sorting is by code point.
	ID     string
	Name   string
	OUPath string // "Root" for an account directly under the root
	Status Status
	// Rules holds one entry per (region, rule) pair that DescribeConfigRules
	// returned in a region scanned in full. A region that failed for good
	// contributes nothing here (it is an ErrorRow instead): a region counts
	// whole or not at all. Must be empty for FAILED and MISSING accounts.
	// Order does not matter.
	Rules []RuleResult
	// Owners holds the account's value for each of Run.OwnerColumns, in
	// that order; "" (or a short slice) is no value. At most as long as
	// Run.OwnerColumns.
	Owners []string
	// Coverage says what the scan could see of each configured region: one
	// Coverage row each. Must be empty for a MISSING account (its rows say
	// Read missing). A region without an entry is derived: Read failed when
	// the account is FAILED or the region has an Errors row other than
	// Stage recorder, else yes with the region's rules counted; Region
	// Enabled and Config Recorder unknown.
	Coverage []Coverage
}

// Read is the Coverage sheet's Read column.
type Read string

// The Read values of REPORT_FORMAT.md's Coverage sheet.
const (
	ReadYes     Read = "yes"     // the region was read in full
	ReadFailed  Read = "failed"  // AssumeRole failed, or the region's calls failed for good
	ReadSkipped Read = "skipped" // an opt-in region the account has not enabled
	// ReadMissing is written by Render for every region of a MISSING
	// account; it is not accepted as input.
	ReadMissing Read = "missing"
)

// Config recorder states of the Coverage sheet, as read.
const (
	RecorderRecording = "recording"
	RecorderStopped   = "stopped"
	RecorderNone      = "none"
)

// Coverage is one (account, region) row of the Coverage sheet.
type Coverage struct {
	Region string
	// Enabled: whether the region is enabled for the account (false: an
	// opt-in region not enabled); nil when unknown.
	Enabled *bool
	// Recorder is RecorderRecording, RecorderStopped, RecorderNone, or ""
	// when the call was not made or failed.
	Recorder string
	// Rules is the number of rules read; nil when not read.
	Rules *int
	Read  Read
}

// RuleResult is one Config rule in one region of one account.
type RuleResult struct {
	Region string
	Name   string
	// SourceOwner is Config's Source.Owner ("AWS", "CUSTOM_LAMBDA",
	// "CUSTOM_POLICY"); only "AWS" shows SourceIdentifier, any other owner
	// shows "CUSTOM".
	SourceOwner      string
	SourceIdentifier string
	// Compliance is the rule's ComplianceType from
	// DescribeComplianceByConfigRule (COMPLIANT, NON_COMPLIANT,
	// NOT_APPLICABLE, INSUFFICIENT_DATA or empty).
	Compliance string
}

// ErrorRow is one failed (account, region, stage). Region is empty for an
// account-wide failure (assume-role). MISSING accounts must not be given
// here: Render adds their `missing` rows.
type ErrorRow struct {
	AccountID string
	Region    string
	Stage     string // "assume-role", "config" or "recorder"
	Code      string // AWS error code, or the client's error kind (RequestTimeout)
	Message   string
	Attempts  int // tries, retries included
}

// Finding is one NON_COMPLIANT evaluation result from
// GetComplianceDetailsByConfigRule: one row of the Non-compliant Resources
// sheet. Non-compliant Resources counts on the Summary and Rules sheets are
// counted from these, so the sheets cannot disagree.
type Finding struct {
	AccountID    string
	Region       string
	RuleName     string
	ResourceType string
	ResourceID   string
	// Compliance must be NON_COMPLIANT: the caller filters.
	Compliance string
	Annotation string
	// RecordedAt is the result's ResultRecordedTime; zero leaves the cell empty.
	RecordedAt time.Time
}

// Findings yields the findings of a run, ALREADY SORTED by Account ID,
// Region, Rule Name, Resource Type, Resource ID, each compared as text code
// point by code point (Go's string comparison). Equal keys may repeat.
// Render checks the order while streaming and fails on the first finding
// that sorts before its predecessor. A non-nil error ends the render with
// that error. The sequence is consumed once.
type Findings = iter.Seq2[Finding, error]
