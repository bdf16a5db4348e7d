package awssim

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// Role names of the design. The hub role is what the services run as; the
// other two are assumed from it.
const (
	RoleWrite   = "system-config-report-generator-write-role"
	RoleListOrg = "system-config-report-generator-list-org-role"
	RoleRead    = "system-config-report-generator-read-role"
)

// Account statuses, as Organizations reports them.
const (
	StatusActive    = "ACTIVE"
	StatusSuspended = "SUSPENDED"
)

// Compliance types, as Config reports them.
const (
	Compliant        = "COMPLIANT"
	NonCompliant     = "NON_COMPLIANT"
	NotApplicable    = "NOT_APPLICABLE"
	InsufficientData = "INSUFFICIENT_DATA"
)

// CustomSource is the source identifier the org file (and the report) uses
// for a rule whose Source.Owner is not AWS.
const CustomSource = "CUSTOM"

// Org is an organisation awssim serves. It is also the ground truth that
// tests check a scan or a workbook against: every answer awssim gives is
// derived from it. An Org is immutable once built; methods are safe for
// concurrent use.
type Org struct {
	// ID is the organisation id (o-...), RootID the id of its root (r-...).
	ID     string
	RootID string
	// ManagementAccountID is the management (payer) account.
	ManagementAccountID string
	// OUs lists every organisational unit, parents before children.
	OUs []OU
	// Accounts lists every account, the management account included, in
	// the order of the org file or of generation; accounts that joined after
	// week 1 follow, in the order they joined.
	Accounts []Account
	// Week is the week of its life the org stands in (GenConfig.Week): 1
	// for the first, and for an org file, which is one week.
	Week int

	byID   map[string]int // account id -> index in Accounts
	ouByID map[string]int // OU id -> index in OUs
	gen    *generator     // non-nil for a generated org: rules are derived on demand
	seed   int64          // picks the -deny, -fail-regions, -disabled-regions and -not-recording pairs
	first  *Org           // week 1 of a later week's org: the fault picks are made there
}

// OU is an organisational unit. Path is "Root/Prod/Payments"; the root itself
// is not an OU.
type OU struct {
	ID       string
	Name     string
	Path     string
	ParentID string // the root id for a top-level OU
}

// Account is one account of the org, after the -deny, -fail-regions,
// -disabled-regions and -not-recording knobs have been applied (see Sim.Org).
type Account struct {
	ID    string
	Name  string
	Email string
	// OUPath is "Root" for an account directly under the root.
	OUPath string
	// Status is ACTIVE or SUSPENDED; only ACTIVE accounts are to be scanned.
	Status string
	// Denied accounts refuse AssumeRole of the read role with AccessDenied.
	Denied bool
	// Regions lists, sorted, the regions where the account has Config rules.
	// Any other region answers with no rules.
	Regions []string
	// FailRegions lists, sorted, the regions where every Config call of the
	// account answers UnrecognizedClientException (an opt-in region not
	// enabled).
	FailRegions []string
	// DisabledRegions lists, sorted, the opt-in regions of Regions that the
	// account has not enabled: DescribeRegions says not-opted-in for them
	// and every call signed for them answers as AWS does there
	// (UnrecognizedClientException from Config). Unlike FailRegions, not a
	// failure: a scan is to skip them.
	DisabledRegions []string
	// NoRecorderRegions and StoppedRecorderRegions list, sorted, the regions
	// where the account has no configuration recorder, or a stopped one.
	// Everywhere else DescribeConfigurationRecorderStatus answers a recorder
	// named default, recording. Rules and results are answered either way.
	NoRecorderRegions      []string
	StoppedRecorderRegions []string
	// Tags are the account's Organizations tags (ListTagsForResource); nil
	// when it has none. Keys are case-sensitive: Owner and owner differ.
	Tags map[string]string

	rules  map[string][]Rule // org file data, by region; nil for generated orgs
	joined int               // the week a generated account joined; 0 when there from week 1
}

// Recorder states, as the org file spells them and Org.Recorder answers.
const (
	RecorderRecording = "recording"
	RecorderStopped   = "stopped"
	RecorderNone      = "none"
)

// Opt-in statuses, as EC2 DescribeRegions answers them.
const (
	OptInNotRequired = "opt-in-not-required"
	OptedIn          = "opted-in"
	NotOptedIn       = "not-opted-in"
)

// Tag is one Organizations tag.
type Tag struct {
	Key   string
	Value string
}

// Rule is one Config rule of an account in a region, with its evaluation
// results.
type Rule struct {
	Name string
	// SourceIdentifier is the AWS managed rule identifier
	// (S3_BUCKET_PUBLIC_READ_PROHIBITED), or CustomSource for a custom
	// Lambda rule, which awssim serves with Source.Owner CUSTOM_LAMBDA and a
	// Lambda function ARN.
	SourceIdentifier string
	Results          []Result
}

// Result is one evaluation result of a rule.
type Result struct {
	ResourceType string
	ResourceID   string
	Compliance   string // COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE
	Annotation   string // at most 256 characters; may be empty
	RecordedAt   time.Time
}

// AccountRegion names one account in one region.
type AccountRegion struct {
	AccountID string
	Region    string
}

// SourceOwner is the rule's Source.Owner as Config answers it.
func (r Rule) SourceOwner() string {
	if r.SourceIdentifier == CustomSource {
		return "CUSTOM_LAMBDA"
	}
	return "AWS"
}

// Compliance is the rule's overall compliance, derived as AWS does:
// NON_COMPLIANT if any result is, else COMPLIANT if any is, else
// INSUFFICIENT_DATA (AWS never gives a rule NOT_APPLICABLE).
func (r Rule) Compliance() string {
	compliant := false
	for _, res := range r.Results {
		switch res.Compliance {
		case NonCompliant:
			return NonCompliant
		case Compliant:
			compliant = true
		}
	}
	if compliant {
		return Compliant
	}
	return InsufficientData
}

// NonCompliantCount is the number of the rule's NON_COMPLIANT results.
func (r Rule) NonCompliantCount() int {
	n := 0
	for _, res := range r.Results {
		if res.Compliance == NonCompliant {
			n++
		}
	}
	return n
}

// Account returns the account with id.
func (o *Org) Account(id string) (Account, bool) {
	i, ok := o.byID[id]
	if !ok {
		return Account{}, false
	}
	return o.Accounts[i], true
}

// account is Account without the copy of the struct, for the lookups
// awssim makes on every call; nil for an unknown account.
func (o *Org) account(id string) *Account {
	i, ok := o.byID[id]
	if !ok {
		return nil
	}
	return &o.Accounts[i]
}

// Rules returns the Config rules of an account in a region, sorted by name,
// exactly as awssim answers them. It is nil for an unknown account or a
// region where the account has no rules. The slice is fresh; callers may
// keep it.
func (o *Org) Rules(accountID, region string) []Rule {
	i, ok := o.byID[accountID]
	if !ok {
		return nil
	}
	return cloneRules(o.rulesShared(&o.Accounts[i], region))
}

// rulesShared is Rules without the copy, for awssim's own read-only use.
func (o *Org) rulesShared(a *Account, region string) []Rule {
	if _, ok := slices.BinarySearch(a.Regions, region); !ok {
		return nil
	}
	if o.gen != nil {
		return o.gen.cachedRules(a, region)
	}
	return a.rules[region]
}

func cloneRules(rules []Rule) []Rule {
	if rules == nil {
		return nil
	}
	out := slices.Clone(rules)
	for i := range out {
		out[i].Results = slices.Clone(out[i].Results)
	}
	return out
}

// RegionFails reports whether every Config call of the account in region
// answers UnrecognizedClientException.
func (o *Org) RegionFails(accountID, region string) bool {
	a := o.account(accountID)
	if a == nil {
		return false
	}
	_, found := slices.BinarySearch(a.FailRegions, region)
	return found
}

// RegionDisabled reports whether region is an opt-in region the account
// has not enabled (DescribeRegions: not-opted-in; Config calls there answer
// UnrecognizedClientException).
func (o *Org) RegionDisabled(accountID, region string) bool {
	a := o.account(accountID)
	if a == nil {
		return false
	}
	_, found := slices.BinarySearch(a.DisabledRegions, region)
	return found
}

// Recorder is the state of the account's configuration recorder in region:
// RecorderRecording, RecorderStopped or RecorderNone. Any region not said
// otherwise has one recording, rules or not.
func (o *Org) Recorder(accountID, region string) string {
	a := o.account(accountID)
	if a == nil {
		return RecorderNone
	}
	if _, found := slices.BinarySearch(a.NoRecorderRegions, region); found {
		return RecorderNone
	}
	if _, found := slices.BinarySearch(a.StoppedRecorderRegions, region); found {
		return RecorderStopped
	}
	return RecorderRecording
}

// OptInStatus is what DescribeRegions says of region for the account:
// opt-in-not-required for a region AWS enables everywhere (or one awssim
// does not know as opt-in), otherwise opted-in when the account lists it and
// has not had it disabled, not-opted-in when not.
func (o *Org) OptInStatus(accountID, region string) string {
	if !IsOptInRegion(region) {
		return OptInNotRequired
	}
	a := o.account(accountID)
	if a == nil {
		return NotOptedIn
	}
	if _, listed := slices.BinarySearch(a.Regions, region); !listed {
		return NotOptedIn
	}
	if _, disabled := slices.BinarySearch(a.DisabledRegions, region); disabled {
		return NotOptedIn
	}
	return OptedIn
}

// Tags returns the account's tags sorted by key, as ListTagsForResource
// answers them; nil for an unknown account or one without tags.
func (o *Org) Tags(accountID string) []Tag {
	a := o.account(accountID)
	if a == nil || len(a.Tags) == 0 {
		return nil
	}
	return sortedTags(a.Tags)
}

func sortedTags(m map[string]string) []Tag {
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{Key: k, Value: v})
	}
	slices.SortFunc(out, func(x, y Tag) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// DisabledRegions lists, sorted by account then region, every (account,
// region) that is an opt-in region the account has not enabled.
func (o *Org) DisabledRegions() []AccountRegion {
	return o.pairs(func(a *Account) []string { return a.DisabledRegions })
}

// NoRecorderRegions lists, sorted by account then region, every (account,
// region) without a configuration recorder.
func (o *Org) NoRecorderRegions() []AccountRegion {
	return o.pairs(func(a *Account) []string { return a.NoRecorderRegions })
}

// StoppedRecorderRegions lists, sorted by account then region, every
// (account, region) whose configuration recorder is stopped.
func (o *Org) StoppedRecorderRegions() []AccountRegion {
	return o.pairs(func(a *Account) []string { return a.StoppedRecorderRegions })
}

// DeniedAccounts lists, sorted, the accounts that refuse AssumeRole.
func (o *Org) DeniedAccounts() []string {
	var ids []string
	for _, a := range o.Accounts {
		if a.Denied {
			ids = append(ids, a.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// FailingRegions lists, sorted by account then region, every (account,
// region) whose Config calls answer UnrecognizedClientException although
// the region is enabled: a real failure (the disabled regions are not in it).
func (o *Org) FailingRegions() []AccountRegion {
	return o.pairs(func(a *Account) []string { return a.FailRegions })
}

func (o *Org) pairs(regions func(*Account) []string) []AccountRegion {
	var out []AccountRegion
	for i := range o.Accounts {
		for _, r := range regions(&o.Accounts[i]) {
			out = append(out, AccountRegion{AccountID: o.Accounts[i].ID, Region: r})
		}
	}
	slices.SortFunc(out, func(x, y AccountRegion) int {
		if c := strings.Compare(x.AccountID, y.AccountID); c != 0 {
			return c
		}
		return strings.Compare(x.Region, y.Region)
	})
	return out
}

func (o *Org) index() {
	o.byID = make(map[string]int, len(o.Accounts))
	for i, a := range o.Accounts {
		o.byID[a.ID] = i
	}
	o.ouByID = make(map[string]int, len(o.OUs))
	for i, ou := range o.OUs {
		o.ouByID[ou.ID] = i
	}
}
