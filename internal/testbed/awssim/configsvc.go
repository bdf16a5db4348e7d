package awssim

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config's page sizes: DescribeConfigRules and DescribeComplianceByConfigRule
// answer at most 25 entries; GetComplianceDetailsByConfigRule takes a Limit
// of at most 100, 10 when absent or 0.
const (
	configPageSize    = 25
	detailsMaxLimit   = 100
	detailsDefaultLim = 10
	contributorCap    = 100
)

// The answers of the hot operations encode themselves (wire.go): they are
// what a scan asks for thousands of times.

// describeConfigRulesOutput is a page of an account's rules in a region.
type describeConfigRulesOutput struct {
	account, region string
	rules           []Rule
	next            *string
}

// complianceEntry is one rule of a DescribeComplianceByConfigRule page.
type complianceEntry struct {
	name       string
	compliance string
	nonCompl   int // NON_COMPLIANT results, for ComplianceContributorCount
}

type describeComplianceOutput struct {
	entries []complianceEntry
	next    *string
}

// complianceDetailsOutput is a page of one rule's evaluation results.
type complianceDetailsOutput struct {
	ruleName string
	results  []Result
	next     *string
}

type recorderStatusJSON struct {
	Arn                  string        `json:"arn"`
	Name                 string        `json:"name"`
	LastStartTime        epochSeconds  `json:"lastStartTime"`
	LastStopTime         *epochSeconds `json:"lastStopTime,omitempty"`
	Recording            bool          `json:"recording"`
	LastStatus           string        `json:"lastStatus"`
	LastStatusChangeTime epochSeconds  `json:"lastStatusChangeTime"`
}

// recorderStatusOutput is DescribeConfigurationRecorderStatus's answer: a
// scan asks it once per account-region (20,000 times at full size), so it
// encodes itself as encoding/json encoded the map of its one member
// (TestRecorderStatusMatchesEncodingJSON).
type recorderStatusOutput struct {
	statuses []recorderStatusJSON
}

func (o recorderStatusOutput) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"ConfigurationRecordersStatus":[`...)
	for i, st := range o.statuses {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		dst = appendKey(dst, "arn")
		dst = appendJSONString(dst, st.Arn)
		dst = appendKey(dst, "name")
		dst = appendJSONString(dst, st.Name)
		dst = appendKey(dst, "lastStartTime")
		dst = appendEpoch(dst, time.Time(st.LastStartTime))
		if st.LastStopTime != nil {
			dst = appendKey(dst, "lastStopTime")
			dst = appendEpoch(dst, time.Time(*st.LastStopTime))
		}
		dst = appendKey(dst, "recording")
		dst = strconv.AppendBool(dst, st.Recording)
		dst = appendKey(dst, "lastStatus")
		dst = appendJSONString(dst, st.LastStatus)
		dst = appendKey(dst, "lastStatusChangeTime")
		dst = appendEpoch(dst, time.Time(st.LastStatusChangeTime))
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// configInput is the input of every Config operation awssim serves.
type configInput struct {
	ConfigRuleNames            []string
	ConfigRuleName             string
	ComplianceTypes            []string
	Limit                      *int
	NextToken                  *string
	ConfigurationRecorderNames []string
}

// parseFast decodes the inputs SDKs send (compact JSON, each member once,
// named exactly, plain ASCII strings, a small Limit) and reports false for
// anything else, which json.Unmarshal then decodes, with its own errors,
// case-insensitive names and escapes. For what it accepts it gives what
// json.Unmarshal gives (TestConfigInputFastMatchesUnmarshal).
func (in *configInput) parseFast(b []byte) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	p := b[1 : len(b)-1]
	var seen [6]bool
	for len(p) > 0 {
		if p[0] != '"' {
			return false
		}
		key, rest, ok := fastString(p)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return false
		}
		p = rest[1:]
		field := -1
		switch key {
		case "ConfigRuleNames":
			field = 0
			in.ConfigRuleNames, p, ok = fastStrings(p)
		case "ConfigRuleName":
			field = 1
			in.ConfigRuleName, p, ok = fastString(p)
		case "ComplianceTypes":
			field = 2
			in.ComplianceTypes, p, ok = fastStrings(p)
		case "Limit":
			field = 3
			var n int
			n, p, ok = fastInt(p)
			in.Limit = &n
		case "NextToken":
			field = 4
			var t string
			t, p, ok = fastString(p)
			in.NextToken = &t
		case "ConfigurationRecorderNames":
			field = 5
			in.ConfigurationRecorderNames, p, ok = fastStrings(p)
		}
		if field < 0 || !ok || seen[field] {
			return false
		}
		seen[field] = true
		if len(p) > 0 {
			if p[0] != ',' || len(p) == 1 {
				return false
			}
			p = p[1:]
		}
	}
	return true
}

// fastString reads a JSON string of printable ASCII without escapes.
func fastString(p []byte) (string, []byte, bool) {
	if len(p) == 0 || p[0] != '"' {
		return "", p, false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return string(p[1:i]), p[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", p, false
		}
	}
	return "", p, false
}

// fastStrings reads a JSON array of fastString strings.
func fastStrings(p []byte) ([]string, []byte, bool) {
	if len(p) < 2 || p[0] != '[' {
		return nil, p, false
	}
	out := []string{}
	p = p[1:]
	if p[0] == ']' {
		return out, p[1:], true
	}
	for {
		s, rest, ok := fastString(p)
		if !ok || len(rest) == 0 {
			return nil, p, false
		}
		out = append(out, s)
		switch rest[0] {
		case ']':
			return out, rest[1:], true
		case ',':
			p = rest[1:]
		default:
			return nil, p, false
		}
	}
}

// fastInt reads 0 or a positive integer of at most 9 digits.
func fastInt(p []byte) (int, []byte, bool) {
	n, i := 0, 0
	for i < len(p) && i < 10 && '0' <= p[i] && p[i] <= '9' {
		n = n*10 + int(p[i]-'0')
		i++
	}
	if i == 0 || i == 10 || (p[0] == '0' && i > 1) {
		return 0, p, false
	}
	if i < len(p) && (p[i] == '.' || p[i] == 'e' || p[i] == 'E') {
		return 0, p, false
	}
	return n, p[i:], true
}

func invalidParameter(msg string) *apiError {
	return badRequest("InvalidParameterValueException", msg)
}

func noSuchRule(name string) *apiError {
	return badRequest("NoSuchConfigRuleException", "The ConfigRule '"+name+"' provided in the request is invalid. Please check the configRule name.")
}

func (s *Sim) config(c *call) (any, *apiError) {
	in := c.cfgIn
	if len(c.body) > 0 && !c.cfgParsed {
		// An unnamed struct, as before parseFast: json's errors name the
		// type ("Go struct field .Limit"), and clients see them.
		var raw struct {
			ConfigRuleNames            []string
			ConfigRuleName             string
			ComplianceTypes            []string
			Limit                      *int
			NextToken                  *string
			ConfigurationRecorderNames []string
		}
		if err := json.Unmarshal(c.body, &raw); err != nil {
			return nil, badRequest("SerializationException", "request body does not match the operation's input: "+err.Error())
		}
		in = configInput(raw)
	}
	account, region := c.id.account, c.region
	scope := c.op + "|" + account + "|" + region + "|"
	switch c.op {
	case "DescribeConfigRules":
		rules, aerr := s.selectRules(account, region, in.ConfigRuleNames)
		if aerr != nil {
			return nil, aerr
		}
		start, end, next, aerr := s.configPage(scope+strings.Join(in.ConfigRuleNames, ","), len(rules), configPageSize, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		return describeConfigRulesOutput{account: account, region: region, rules: rules[start:end], next: next}, nil

	case "DescribeComplianceByConfigRule":
		for _, t := range in.ComplianceTypes {
			if t != Compliant && t != NonCompliant && t != InsufficientData {
				return nil, invalidParameter("ComplianceTypes " + t + " is not valid: want COMPLIANT, NON_COMPLIANT or INSUFFICIENT_DATA")
			}
		}
		rules, aerr := s.selectRules(account, region, in.ConfigRuleNames)
		if aerr != nil {
			return nil, aerr
		}
		all := make([]complianceEntry, 0, len(rules))
		for _, r := range rules {
			ct := r.Compliance()
			if len(in.ComplianceTypes) > 0 && !slices.Contains(in.ComplianceTypes, ct) {
				continue
			}
			e := complianceEntry{name: r.Name, compliance: ct}
			if ct == NonCompliant {
				e.nonCompl = r.NonCompliantCount()
			}
			all = append(all, e)
		}
		start, end, next, aerr := s.configPage(scope+strings.Join(in.ConfigRuleNames, ",")+"|"+strings.Join(in.ComplianceTypes, ","), len(all), configPageSize, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		return describeComplianceOutput{entries: all[start:end], next: next}, nil

	case "GetComplianceDetailsByConfigRule":
		limit := detailsDefaultLim
		if in.Limit != nil {
			if *in.Limit < 0 || *in.Limit > detailsMaxLimit {
				return nil, invalidParameter("Limit must be between 0 and 100")
			}
			if *in.Limit > 0 {
				limit = *in.Limit
			}
		}
		for _, t := range in.ComplianceTypes {
			if t != Compliant && t != NonCompliant && t != NotApplicable && t != InsufficientData {
				return nil, invalidParameter("ComplianceTypes " + t + " is not valid")
			}
		}
		if in.ConfigRuleName == "" {
			return nil, invalidParameter("ConfigRuleName is required")
		}
		rules, aerr := s.selectRules(account, region, []string{in.ConfigRuleName})
		if aerr != nil {
			return nil, aerr
		}
		results := rules[0].Results
		if len(in.ComplianceTypes) > 0 {
			results = nil
			for _, res := range rules[0].Results {
				if slices.Contains(in.ComplianceTypes, res.Compliance) {
					results = append(results, res)
				}
			}
		}
		start, end, next, aerr := s.configPage(scope+in.ConfigRuleName+"|"+strings.Join(in.ComplianceTypes, ","), len(results), limit, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		return complianceDetailsOutput{ruleName: in.ConfigRuleName, results: results[start:end], next: next}, nil

	case "DescribeConfigurationRecorderStatus":
		// A recorder named default in every region asked, rules or not,
		// unless the org says there is none or it is stopped.
		state := s.org.Recorder(account, region)
		for _, n := range in.ConfigurationRecorderNames {
			if n != "default" || state == RecorderNone {
				return nil, badRequest("NoSuchConfigurationRecorderException", "Cannot find configuration recorder with the specified name '"+n+"'.")
			}
		}
		out := []recorderStatusJSON{}
		if state != RecorderNone {
			start := evaluatedAt.AddDate(0, -6, 0)
			st := recorderStatusJSON{
				Arn:  "arn:aws:config:" + region + ":" + account + ":configuration-recorder/default/" + hashString(account+region, lowerAlnum, 16),
				Name: "default", LastStartTime: epochSeconds(start), Recording: true,
				LastStatus: "Success", LastStatusChangeTime: epochSeconds(evaluatedAt.Add(WeekOffset(s.org.Week))),
			}
			if state == RecorderStopped {
				// Stopped nine days before the results were evaluated; its
				// last delivery, before that, succeeded.
				stop := epochSeconds(evaluatedAt.AddDate(0, 0, -9))
				st.Recording, st.LastStopTime = false, &stop
				st.LastStatusChangeTime = epochSeconds(evaluatedAt.AddDate(0, 0, -9).Add(-time.Hour))
			}
			out = append(out, st)
		}
		return recorderStatusOutput{statuses: out}, nil
	}
	return nil, badRequest("UnknownOperationException", "awssim does not implement Config "+c.op)
}

// selectRules returns the account's rules in region, or those named, in the
// order named; a name that is not a rule there is NoSuchConfigRuleException.
func (s *Sim) selectRules(account, region string, names []string) ([]Rule, *apiError) {
	a := s.org.account(account)
	if a == nil {
		return nil, nil
	}
	rules := s.org.rulesShared(a, region)
	if len(names) == 0 {
		return rules, nil
	}
	out := make([]Rule, 0, len(names))
	for _, n := range names {
		i, ok := slices.BinarySearchFunc(rules, n, func(r Rule, name string) int { return strings.Compare(r.Name, name) })
		if !ok {
			return nil, noSuchRule(n)
		}
		out = append(out, rules[i])
	}
	return out, nil
}

func (s *Sim) configPage(scope string, n, size int, token *string) (start, end int, next *string, aerr *apiError) {
	if token != nil && *token != "" {
		var ok bool
		start, _, ok = s.tokens.decode(scope, *token)
		if !ok || start > n {
			return 0, 0, nil, badRequest("InvalidNextTokenException", "The nextToken provided is invalid")
		}
	}
	end = min(start+size, n)
	if end < n {
		t := s.tokens.encode(scope, end, 0)
		next = &t
	}
	return start, end, next, nil
}

func (o describeConfigRulesOutput) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"ConfigRules":[`...)
	for i, r := range o.rules {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRuleJSON(dst, o.account, o.region, r)
	}
	dst = append(dst, ']')
	dst = appendNextToken(dst, o.next)
	return append(dst, '}')
}

// appendRuleJSON writes a ConfigRule as Config answers it. Account and
// region are ASCII (validated when the org is built) and a rule name is
// valid UTF-8, so the strings made of them are escaped part by part.
func appendRuleJSON(dst []byte, account, region string, r Rule) []byte {
	var idb [ruleIDLen]byte
	id := ruleIDSuffix(idb[:], account, region, r.Name)
	dst = append(dst, `{"ConfigRuleName":`...)
	dst = appendJSONString(dst, r.Name)
	dst = append(dst, `,"ConfigRuleArn":"arn:aws:config:`...)
	dst = appendJSONStringBody(dst, region)
	dst = append(dst, ':')
	dst = appendJSONStringBody(dst, account)
	dst = append(dst, `:config-rule/config-rule-`...)
	dst = append(dst, id...)
	dst = append(dst, `","ConfigRuleId":"config-rule-`...)
	dst = append(dst, id...)
	dst = append(dst, `","Scope":{"ComplianceResourceTypes":[`...)
	for i, res := range r.Results {
		if slices.ContainsFunc(r.Results[:i], func(x Result) bool { return x.ResourceType == res.ResourceType }) {
			continue
		}
		if dst[len(dst)-1] != '[' {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, res.ResourceType)
	}
	dst = append(dst, `]},"Source":{"Owner":`...)
	dst = appendJSONString(dst, r.SourceOwner())
	dst = append(dst, `,"SourceIdentifier":`...)
	if r.SourceIdentifier == CustomSource {
		dst = append(dst, `"arn:aws:lambda:`...)
		dst = appendJSONStringBody(dst, region)
		dst = append(dst, ':')
		dst = appendJSONStringBody(dst, account)
		dst = append(dst, `:function:`...)
		dst = appendJSONStringBody(dst, r.Name)
		dst = append(dst, `","SourceDetails":[{"EventSource":"aws.config","MessageType":"ConfigurationItemChangeNotification"}]`...)
	} else {
		dst = appendJSONString(dst, r.SourceIdentifier)
	}
	return append(dst, `},"InputParameters":"{}","ConfigRuleState":"ACTIVE","EvaluationModes":[{"Mode":"DETECTIVE"}]}`...)
}

// ruleIDLen is the length of the random part of a rule's id
// (config-rule-xxxxxx).
const ruleIDLen = 6

// ruleIDSuffix is hashString(account+"/"+region+"/"+name, lowerAlnum,
// ruleIDLen) written into b without building the key.
func ruleIDSuffix(b []byte, account, region, name string) []byte {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	write := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime64
		}
	}
	for i := range b {
		write(account)
		write("/")
		write(region)
		write("/")
		write(name)
		b[i] = lowerAlnum[h%uint64(len(lowerAlnum))]
	}
	return b
}

func (o describeComplianceOutput) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"ComplianceByConfigRules":[`...)
	for i, e := range o.entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"ConfigRuleName":`...)
		dst = appendJSONString(dst, e.name)
		dst = append(dst, `,"Compliance":{"ComplianceType":`...)
		dst = appendJSONString(dst, e.compliance)
		if e.compliance == NonCompliant {
			dst = append(dst, `,"ComplianceContributorCount":{"CappedCount":`...)
			dst = strconv.AppendInt(dst, int64(min(e.nonCompl, contributorCap)), 10)
			dst = append(dst, `,"CapExceeded":`...)
			dst = strconv.AppendBool(dst, e.nonCompl > contributorCap)
			dst = append(dst, '}')
		}
		dst = append(dst, `}}`...)
	}
	dst = append(dst, ']')
	dst = appendNextToken(dst, o.next)
	return append(dst, '}')
}

func (o complianceDetailsOutput) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"EvaluationResults":[`...)
	for i, res := range o.results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"EvaluationResultIdentifier":{"EvaluationResultQualifier":{"ConfigRuleName":`...)
		dst = appendJSONString(dst, o.ruleName)
		dst = append(dst, `,"ResourceType":`...)
		dst = appendJSONString(dst, res.ResourceType)
		dst = append(dst, `,"ResourceId":`...)
		dst = appendJSONString(dst, res.ResourceID)
		dst = append(dst, `,"EvaluationMode":"DETECTIVE"},"OrderingTimestamp":`...)
		dst = appendEpoch(dst, res.RecordedAt)
		dst = append(dst, `},"ComplianceType":`...)
		dst = appendJSONString(dst, res.Compliance)
		dst = append(dst, `,"ResultRecordedTime":`...)
		dst = appendEpoch(dst, res.RecordedAt)
		dst = append(dst, `,"ConfigRuleInvokedTime":`...)
		dst = appendEpoch(dst, res.RecordedAt.Add(-2*time.Second))
		if res.Annotation != "" {
			dst = append(dst, `,"Annotation":`...)
			dst = appendJSONString(dst, res.Annotation)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = appendNextToken(dst, o.next)
	return append(dst, '}')
}
