package awssim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// OrgFile is the org file format of AWSSIM.md (-org FILE.json). Tests
// build one (often from a generated org, with Org.File) to add the cases
// they need, write it, and load it back with ParseOrg or LoadOrg.
type OrgFile struct {
	ManagementAccountID string        `json:"management_account_id"`
	OUs                 []string      `json:"ous"`
	Accounts            []AccountFile `json:"accounts"`
}

// AccountFile is one account of an OrgFile.
type AccountFile struct {
	ID             string                `json:"id"`
	Name           string                `json:"name"`
	Email          string                `json:"email"`
	OUPath         string                `json:"ou_path"`
	Status         string                `json:"status"`
	DenyAssumeRole bool                  `json:"deny_assume_role"`
	Regions        map[string]RegionFile `json:"regions"`
	// Tags are the account's Organizations tags ({"Owner": "...", ...}).
	Tags map[string]string `json:"tags,omitempty"`
}

// RegionFile is an account's Config rules in one region.
type RegionFile struct {
	Fail bool `json:"fail"`
	// Enabled false makes the region an opt-in region the account has not
	// enabled; absent or true, it is enabled.
	Enabled *bool `json:"enabled,omitempty"`
	// Recorder is the configuration recorder there: recording (the
	// default when empty), stopped or none.
	Recorder string     `json:"recorder,omitempty"`
	Rules    []RuleFile `json:"rules"`
}

// RuleFile is one Config rule; SourceIdentifier "CUSTOM" makes a custom
// Lambda rule.
type RuleFile struct {
	Name             string       `json:"name"`
	SourceIdentifier string       `json:"source_identifier"`
	Results          []ResultFile `json:"results"`
}

// ResultFile is one evaluation result.
type ResultFile struct {
	ResourceType string     `json:"resource_type"`
	ResourceID   string     `json:"resource_id"`
	Compliance   string     `json:"compliance"`
	Annotation   string     `json:"annotation"`
	RecordedAt   *time.Time `json:"recorded_at"`
}

// maxAnnotation is AWS Config's limit on an evaluation's annotation.
const maxAnnotation = 256

// Organizations' tag limits: 50 tags per resource, keys of 1 to 128
// characters not starting aws: (reserved), values of at most 256.
const (
	maxTags     = 50
	maxTagKey   = 128
	maxTagValue = 256
)

// LoadOrg reads and validates an org file. A file that breaks the format's
// rules is refused with an error of one line naming the first problem, so
// that start-up fails with something a person can act on.
func LoadOrg(path string) (*Org, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("org file: %w", err)
	}
	o, err := ParseOrg(b)
	if err != nil {
		return nil, fmt.Errorf("org file %s: %w", path, err)
	}
	return o, nil
}

// ParseOrg parses and validates the JSON of an org file.
func ParseOrg(data []byte) (*Org, error) {
	var f OrgFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", oneLine(err.Error()))
	}
	if !validAccountID(f.ManagementAccountID) {
		return nil, fmt.Errorf("management_account_id %q: want 12 digits", f.ManagementAccountID)
	}
	o := &Org{ManagementAccountID: f.ManagementAccountID, Week: 1}
	o.ID = "o-" + hashString("org/"+f.ManagementAccountID, lowerAlnum, 10)
	o.RootID = "r-" + hashString("root/"+f.ManagementAccountID, lowerAlnum, 4)
	h := fnv.New64a()
	h.Write(data)
	o.seed = int64(h.Sum64())

	ouIDs := map[string]string{"Root": o.RootID}
	for _, p := range f.OUs {
		if _, dup := ouIDs[p]; dup {
			return nil, fmt.Errorf("ou %q: listed twice", p)
		}
		if !strings.HasPrefix(p, "Root/") || slices.Contains(strings.Split(p, "/"), "") {
			return nil, fmt.Errorf("ou %q: want a path like Root/Prod/Payments", p)
		}
		parent := p[:strings.LastIndexByte(p, '/')]
		parentID, ok := ouIDs[parent]
		if !ok {
			return nil, fmt.Errorf("ou %q: parent %q is not listed before it", p, parent)
		}
		name := p[len(parent)+1:]
		if len(name) > 128 {
			return nil, fmt.Errorf("ou %q: name longer than 128 characters", p)
		}
		id := "ou-" + o.RootID[2:] + "-" + hashString("ou/"+p, lowerAlnum, 8)
		ouIDs[p] = id
		o.OUs = append(o.OUs, OU{ID: id, Name: name, Path: p, ParentID: parentID})
	}

	seen := map[string]bool{}
	for i, af := range f.Accounts {
		a, err := parseAccount(af, ouIDs)
		if err != nil {
			if af.ID != "" {
				return nil, fmt.Errorf("account %q: %w", af.ID, err)
			}
			return nil, fmt.Errorf("accounts[%d]: %w", i, err)
		}
		if seen[a.ID] {
			return nil, fmt.Errorf("account %q: listed twice", a.ID)
		}
		seen[a.ID] = true
		o.Accounts = append(o.Accounts, a)
	}
	if !seen[o.ManagementAccountID] {
		// The management account need not be described: it is then an
		// ACTIVE account under the root without Config rules.
		o.Accounts = append([]Account{{
			ID: o.ManagementAccountID, Name: "management", Email: "aws+management@example.com",
			OUPath: "Root", Status: StatusActive,
		}}, o.Accounts...)
	}
	o.index()
	return o, nil
}

func parseAccount(af AccountFile, ouIDs map[string]string) (Account, error) {
	if !validAccountID(af.ID) {
		return Account{}, fmt.Errorf("id %q: want 12 digits", af.ID)
	}
	if af.Name == "" || len(af.Name) > 50 {
		return Account{}, fmt.Errorf("name %q: want 1 to 50 characters", af.Name)
	}
	if _, ok := ouIDs[af.OUPath]; !ok {
		return Account{}, fmt.Errorf("ou_path %q: unknown OU (not Root nor in ous)", af.OUPath)
	}
	switch af.Status {
	case StatusActive, StatusSuspended, "PENDING_CLOSURE":
	default:
		return Account{}, fmt.Errorf("status %q: want ACTIVE, SUSPENDED or PENDING_CLOSURE", af.Status)
	}
	a := Account{
		ID: af.ID, Name: af.Name, Email: af.Email, OUPath: af.OUPath, Status: af.Status,
		Denied: af.DenyAssumeRole, rules: map[string][]Rule{},
	}
	if a.Email == "" {
		a.Email = "aws+" + af.Name + "@example.com"
	}
	if len(af.Tags) > maxTags {
		return Account{}, fmt.Errorf("tags: %d, AWS allows at most %d", len(af.Tags), maxTags)
	}
	for k, v := range af.Tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > maxTagKey || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return Account{}, fmt.Errorf("tag key %q: want 1 to %d characters, not starting aws:", k, maxTagKey)
		}
		if n := utf8.RuneCountInString(v); n > maxTagValue {
			return Account{}, fmt.Errorf("tag %q: value is %d characters, AWS allows at most %d", k, n, maxTagValue)
		}
	}
	if len(af.Tags) > 0 {
		a.Tags = maps.Clone(af.Tags)
	}
	for region, rf := range af.Regions {
		if !validRegion(region) {
			return Account{}, fmt.Errorf("region %q: not a region name", region)
		}
		a.Regions = append(a.Regions, region)
		if rf.Fail {
			a.FailRegions = append(a.FailRegions, region)
		}
		if rf.Enabled != nil && !*rf.Enabled {
			if !IsOptInRegion(region) {
				return Account{}, fmt.Errorf("region %s: \"enabled\": false, but AWS enables %s in every account (not an opt-in region)", region, region)
			}
			if rf.Fail {
				return Account{}, fmt.Errorf("region %s: \"fail\" with \"enabled\": false: a region not enabled already answers fail's error, and is no failure", region)
			}
			a.DisabledRegions = append(a.DisabledRegions, region)
		}
		switch rf.Recorder {
		case "", RecorderRecording:
		case RecorderStopped:
			a.StoppedRecorderRegions = append(a.StoppedRecorderRegions, region)
		case RecorderNone:
			a.NoRecorderRegions = append(a.NoRecorderRegions, region)
		default:
			return Account{}, fmt.Errorf("region %s: recorder %q: want recording, stopped or none", region, rf.Recorder)
		}
		names := map[string]bool{}
		rules := make([]Rule, 0, len(rf.Rules))
		for _, r := range rf.Rules {
			if r.Name == "" || len(r.Name) > 128 {
				return Account{}, fmt.Errorf("region %s: rule name %q: want 1 to 128 characters", region, r.Name)
			}
			if names[r.Name] {
				return Account{}, fmt.Errorf("region %s: rule %q listed twice", region, r.Name)
			}
			names[r.Name] = true
			if r.SourceIdentifier == "" {
				return Account{}, fmt.Errorf("region %s: rule %q: source_identifier missing (an AWS managed identifier or CUSTOM)", region, r.Name)
			}
			rule := Rule{Name: r.Name, SourceIdentifier: r.SourceIdentifier}
			resources := map[string]bool{}
			for j, res := range r.Results {
				where := fmt.Sprintf("region %s: rule %q: results[%d]", region, r.Name, j)
				switch res.Compliance {
				case Compliant, NonCompliant, NotApplicable:
				default:
					return Account{}, fmt.Errorf("%s: compliance %q: want COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE", where, res.Compliance)
				}
				if res.ResourceType == "" || res.ResourceID == "" {
					return Account{}, fmt.Errorf("%s: resource_type and resource_id are required", where)
				}
				// Config keeps one evaluation per rule and resource.
				if k := res.ResourceType + "\x00" + res.ResourceID; resources[k] {
					return Account{}, fmt.Errorf("%s: %s %s evaluated twice by the same rule", where, res.ResourceType, res.ResourceID)
				} else {
					resources[k] = true
				}
				if n := utf8.RuneCountInString(res.Annotation); n > maxAnnotation {
					return Account{}, fmt.Errorf("%s: annotation is %d characters, AWS allows at most %d", where, n, maxAnnotation)
				}
				at := evaluatedAt
				if res.RecordedAt != nil {
					at = res.RecordedAt.UTC()
				}
				rule.Results = append(rule.Results, Result{
					ResourceType: res.ResourceType, ResourceID: res.ResourceID,
					Compliance: res.Compliance, Annotation: res.Annotation, RecordedAt: at,
				})
			}
			rules = append(rules, rule)
		}
		slices.SortFunc(rules, func(x, y Rule) int { return strings.Compare(x.Name, y.Name) })
		a.rules[region] = rules
	}
	for _, l := range [][]string{a.Regions, a.FailRegions, a.DisabledRegions, a.NoRecorderRegions, a.StoppedRecorderRegions} {
		slices.Sort(l)
	}
	return a, nil
}

func validAccountID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// hashString derives a stable pseudo-random string from key, for ids that
// must not change between runs of the same file.
func hashString(key, alphabet string, n int) string {
	h := fnv.New64a()
	b := make([]byte, n)
	for i := range b {
		h.Write([]byte(key))
		b[i] = alphabet[h.Sum64()%uint64(len(alphabet))]
	}
	return string(b)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// File returns the org in the org file format, the picks of the fault
// knobs included (deny_assume_role, fail, enabled and recorder) and the
// tags: a generated org written out, for a test to add its cases to.
func (o *Org) File() OrgFile {
	f := OrgFile{ManagementAccountID: o.ManagementAccountID}
	for _, ou := range o.OUs {
		f.OUs = append(f.OUs, ou.Path)
	}
	for _, a := range o.Accounts {
		af := AccountFile{ID: a.ID, Name: a.Name, Email: a.Email, OUPath: a.OUPath, Status: a.Status,
			DenyAssumeRole: a.Denied, Regions: map[string]RegionFile{}, Tags: maps.Clone(a.Tags)}
		for _, region := range a.Regions {
			rf := RegionFile{Fail: slices.Contains(a.FailRegions, region)}
			if slices.Contains(a.DisabledRegions, region) {
				rf.Enabled = new(bool)
			}
			if r := o.Recorder(a.ID, region); r != RecorderRecording {
				rf.Recorder = r
			}
			for _, r := range o.Rules(a.ID, region) {
				ru := RuleFile{Name: r.Name, SourceIdentifier: r.SourceIdentifier}
				for _, res := range r.Results {
					at := res.RecordedAt
					ru.Results = append(ru.Results, ResultFile{ResourceType: res.ResourceType, ResourceID: res.ResourceID,
						Compliance: res.Compliance, Annotation: res.Annotation, RecordedAt: &at})
				}
				rf.Rules = append(rf.Rules, ru)
			}
			af.Regions[region] = rf
		}
		f.Accounts = append(f.Accounts, af)
	}
	return f
}
