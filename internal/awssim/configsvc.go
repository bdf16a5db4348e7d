package awssim

import (
	"encoding/json"
	"slices"
	"strings"
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

// Typed answers of the hot operations: encoding/json is much cheaper on
// structs than on maps of interfaces.
type describeConfigRulesOutput struct {
	ConfigRules []configRuleJSON `json:"ConfigRules"`
	NextToken   *string          `json:"NextToken,omitempty"`
}

type describeComplianceOutput struct {
	ComplianceByConfigRules []complianceJSON `json:"ComplianceByConfigRules"`
	NextToken               *string          `json:"NextToken,omitempty"`
}

type complianceDetailsOutput struct {
	EvaluationResults []evaluationResultJSON `json:"EvaluationResults"`
	NextToken         *string                `json:"NextToken,omitempty"`
}

type configRuleJSON struct {
	ConfigRuleName  string     `json:"ConfigRuleName"`
	ConfigRuleArn   string     `json:"ConfigRuleArn"`
	ConfigRuleID    string     `json:"ConfigRuleId"`
	Description     string     `json:"Description,omitempty"`
	Scope           scopeJSON  `json:"Scope"`
	Source          sourceJSON `json:"Source"`
	InputParameters string     `json:"InputParameters"`
	ConfigRuleState string     `json:"ConfigRuleState"`
	EvaluationModes []evalMode `json:"EvaluationModes"`
}

type scopeJSON struct {
	ComplianceResourceTypes []string `json:"ComplianceResourceTypes"`
}

type sourceJSON struct {
	Owner            string             `json:"Owner"`
	SourceIdentifier string             `json:"SourceIdentifier"`
	SourceDetails    []sourceDetailJSON `json:"SourceDetails,omitempty"`
}

type sourceDetailJSON struct {
	EventSource string `json:"EventSource"`
	MessageType string `json:"MessageType"`
}

type evalMode struct {
	Mode string `json:"Mode"`
}

type complianceJSON struct {
	ConfigRuleName string `json:"ConfigRuleName"`
	Compliance     struct {
		ComplianceType             string            `json:"ComplianceType"`
		ComplianceContributorCount *contributorCount `json:"ComplianceContributorCount,omitempty"`
	} `json:"Compliance"`
}

type contributorCount struct {
	CappedCount int  `json:"CappedCount"`
	CapExceeded bool `json:"CapExceeded"`
}

type evaluationResultJSON struct {
	EvaluationResultIdentifier struct {
		EvaluationResultQualifier struct {
			ConfigRuleName string `json:"ConfigRuleName"`
			ResourceType   string `json:"ResourceType"`
			ResourceID     string `json:"ResourceId"`
			EvaluationMode string `json:"EvaluationMode"`
		} `json:"EvaluationResultQualifier"`
		OrderingTimestamp epochSeconds `json:"OrderingTimestamp"`
	} `json:"EvaluationResultIdentifier"`
	ComplianceType        string       `json:"ComplianceType"`
	ResultRecordedTime    epochSeconds `json:"ResultRecordedTime"`
	ConfigRuleInvokedTime epochSeconds `json:"ConfigRuleInvokedTime"`
	Annotation            string       `json:"Annotation,omitempty"`
}

type recorderStatusJSON struct {
	Arn                  string       `json:"arn"`
	Name                 string       `json:"name"`
	LastStartTime        epochSeconds `json:"lastStartTime"`
	Recording            bool         `json:"recording"`
	LastStatus           string       `json:"lastStatus"`
	LastStatusChangeTime epochSeconds `json:"lastStatusChangeTime"`
}

func invalidParameter(msg string) *apiError {
	return badRequest("InvalidParameterValueException", msg)
}

func noSuchRule(name string) *apiError {
	return badRequest("NoSuchConfigRuleException", "The ConfigRule '"+name+"' provided in the request is invalid. Please check the configRule name.")
}

func (s *Sim) config(c *call) (any, *apiError) {
	var in struct {
		ConfigRuleNames            []string
		ConfigRuleName             string
		ComplianceTypes            []string
		Limit                      *int
		NextToken                  *string
		ConfigurationRecorderNames []string
	}
	if len(c.body) > 0 {
		if err := json.Unmarshal(c.body, &in); err != nil {
			return nil, badRequest("SerializationException", "request body does not match the operation's input: "+err.Error())
		}
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
		out := make([]configRuleJSON, 0, end-start)
		for _, r := range rules[start:end] {
			out = append(out, ruleJSON(account, region, r))
		}
		return describeConfigRulesOutput{out, next}, nil

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
		var all []complianceJSON
		for _, r := range rules {
			ct := r.Compliance()
			if len(in.ComplianceTypes) > 0 && !slices.Contains(in.ComplianceTypes, ct) {
				continue
			}
			var e complianceJSON
			e.ConfigRuleName = r.Name
			e.Compliance.ComplianceType = ct
			if ct == NonCompliant {
				n := r.NonCompliantCount()
				e.Compliance.ComplianceContributorCount = &contributorCount{CappedCount: min(n, contributorCap), CapExceeded: n > contributorCap}
			}
			all = append(all, e)
		}
		start, end, next, aerr := s.configPage(scope+strings.Join(in.ConfigRuleNames, ",")+"|"+strings.Join(in.ComplianceTypes, ","), len(all), configPageSize, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		out := append(make([]complianceJSON, 0, end-start), all[start:end]...)
		return describeComplianceOutput{out, next}, nil

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
		var results []Result
		for _, res := range rules[0].Results {
			if len(in.ComplianceTypes) == 0 || slices.Contains(in.ComplianceTypes, res.Compliance) {
				results = append(results, res)
			}
		}
		start, end, next, aerr := s.configPage(scope+in.ConfigRuleName+"|"+strings.Join(in.ComplianceTypes, ","), len(results), limit, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		out := make([]evaluationResultJSON, 0, end-start)
		for _, res := range results[start:end] {
			var e evaluationResultJSON
			q := &e.EvaluationResultIdentifier.EvaluationResultQualifier
			q.ConfigRuleName, q.ResourceType, q.ResourceID, q.EvaluationMode = in.ConfigRuleName, res.ResourceType, res.ResourceID, "DETECTIVE"
			e.EvaluationResultIdentifier.OrderingTimestamp = epochSeconds(res.RecordedAt)
			e.ComplianceType = res.Compliance
			e.ResultRecordedTime = epochSeconds(res.RecordedAt)
			e.ConfigRuleInvokedTime = epochSeconds(res.RecordedAt.Add(-2 * 1e9))
			e.Annotation = res.Annotation
			out = append(out, e)
		}
		return complianceDetailsOutput{out, next}, nil

	case "DescribeConfigurationRecorderStatus":
		for _, n := range in.ConfigurationRecorderNames {
			if n != "default" || !s.hasRegion(account, region) {
				return nil, badRequest("NoSuchConfigurationRecorderException", "Cannot find configuration recorder with the specified name '"+n+"'.")
			}
		}
		out := []recorderStatusJSON{}
		if s.hasRegion(account, region) {
			start := evaluatedAt.AddDate(0, -6, 0)
			out = append(out, recorderStatusJSON{
				Arn:  "arn:aws:config:" + region + ":" + account + ":configuration-recorder/default/" + hashString(account+region, lowerAlnum, 16),
				Name: "default", LastStartTime: epochSeconds(start), Recording: true,
				LastStatus: "SUCCESS", LastStatusChangeTime: epochSeconds(evaluatedAt),
			})
		}
		return map[string]any{"ConfigurationRecordersStatus": out}, nil
	}
	return nil, badRequest("UnknownOperationException", "awssim does not implement Config "+c.op)
}

func (s *Sim) hasRegion(account, region string) bool {
	a, ok := s.org.Account(account)
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(a.Regions, region)
	return found
}

// selectRules returns the account's rules in region, or those named, in the
// order named; a name that is not a rule there is NoSuchConfigRuleException.
func (s *Sim) selectRules(account, region string, names []string) ([]Rule, *apiError) {
	a, ok := s.org.Account(account)
	if !ok {
		return nil, nil
	}
	rules := s.org.rulesShared(&a, region)
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

func ruleJSON(account, region string, r Rule) configRuleJSON {
	id := "config-rule-" + hashString(account+"/"+region+"/"+r.Name, lowerAlnum, 6)
	out := configRuleJSON{
		ConfigRuleName:  r.Name,
		ConfigRuleArn:   "arn:aws:config:" + region + ":" + account + ":config-rule/" + id,
		ConfigRuleID:    id,
		InputParameters: "{}",
		ConfigRuleState: "ACTIVE",
		EvaluationModes: []evalMode{{Mode: "DETECTIVE"}},
		Scope:           scopeJSON{ComplianceResourceTypes: resourceTypes(r)},
		Source:          sourceJSON{Owner: r.SourceOwner(), SourceIdentifier: r.SourceIdentifier},
	}
	if r.SourceIdentifier == CustomSource {
		out.Source.SourceIdentifier = "arn:aws:lambda:" + region + ":" + account + ":function:" + r.Name
		out.Source.SourceDetails = []sourceDetailJSON{{EventSource: "aws.config", MessageType: "ConfigurationItemChangeNotification"}}
	}
	return out
}

func resourceTypes(r Rule) []string {
	types := []string{}
	for _, res := range r.Results {
		if !slices.Contains(types, res.ResourceType) {
			types = append(types, res.ResourceType)
		}
	}
	return types
}
