package awssim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The reference encoding of the hand-encoded answers: the typed structs
// awssim answered with through encoding/json before wire.go, kept here as
// the oracle the fast path must match byte for byte.

type refConfigRulesOutput struct {
	ConfigRules []configRuleJSON `json:"ConfigRules"`
	NextToken   *string          `json:"NextToken,omitempty"`
}

type refComplianceOutput struct {
	ComplianceByConfigRules []complianceJSON `json:"ComplianceByConfigRules"`
	NextToken               *string          `json:"NextToken,omitempty"`
}

type refDetailsOutput struct {
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

func refRules(account, region string, rules []Rule, next *string) refConfigRulesOutput {
	out := make([]configRuleJSON, 0, len(rules))
	for _, r := range rules {
		out = append(out, ruleJSON(account, region, r))
	}
	return refConfigRulesOutput{out, next}
}

func refCompliance(entries []complianceEntry, next *string) refComplianceOutput {
	out := make([]complianceJSON, 0, len(entries))
	for _, en := range entries {
		var e complianceJSON
		e.ConfigRuleName = en.name
		e.Compliance.ComplianceType = en.compliance
		if en.compliance == NonCompliant {
			n := en.nonCompl
			e.Compliance.ComplianceContributorCount = &contributorCount{CappedCount: min(n, contributorCap), CapExceeded: n > contributorCap}
		}
		out = append(out, e)
	}
	return refComplianceOutput{out, next}
}

func refDetails(ruleName string, results []Result, next *string) refDetailsOutput {
	out := make([]evaluationResultJSON, 0, len(results))
	for _, res := range results {
		var e evaluationResultJSON
		q := &e.EvaluationResultIdentifier.EvaluationResultQualifier
		q.ConfigRuleName, q.ResourceType, q.ResourceID, q.EvaluationMode = ruleName, res.ResourceType, res.ResourceID, "DETECTIVE"
		e.EvaluationResultIdentifier.OrderingTimestamp = epochSeconds(res.RecordedAt)
		e.ComplianceType = res.Compliance
		e.ResultRecordedTime = epochSeconds(res.RecordedAt)
		e.ConfigRuleInvokedTime = epochSeconds(res.RecordedAt.Add(-2 * 1e9))
		e.Annotation = res.Annotation
		out = append(out, e)
	}
	return refDetailsOutput{out, next}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendJSONMatchesEncodingJSON checks the hand-written encoders against
// encoding/json on every account-region of a generated org (custom rules,
// every compliance mix, NextTokens) and on the org of wireOrgFile, whose
// strings need every kind of escape.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	gen, err := Generate(GenConfig{Accounts: 300, Seed: 11, NonCompliant: 0.4, Regions: []string{"us-east-1", "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	file, err := ParseOrg([]byte(wireOrgFile))
	if err != nil {
		t.Fatal(err)
	}
	token := "tok<&>\u2028en"
	checked := 0
	for _, o := range []*Org{gen, file} {
		for _, a := range o.Accounts {
			for _, region := range a.Regions {
				rules := o.Rules(a.ID, region)
				for _, next := range []*string{nil, &token} {
					check := func(what string, fast jsonAppender, ref any) {
						t.Helper()
						got, want := fast.appendJSON([]byte("x")), mustMarshal(t, ref)
						if !bytes.Equal(got[1:], want) || got[0] != 'x' {
							t.Fatalf("%s of %s/%s:\n got: %s\nwant: %s", what, a.ID, region, got[1:], want)
						}
						checked++
					}
					check("DescribeConfigRules", describeConfigRulesOutput{account: a.ID, region: region, rules: rules, next: next}, refRules(a.ID, region, rules, next))
					var entries []complianceEntry
					for _, r := range rules {
						entries = append(entries, complianceEntry{name: r.Name, compliance: r.Compliance(), nonCompl: r.NonCompliantCount()})
					}
					entries = append(entries, complianceEntry{name: "capped", compliance: NonCompliant, nonCompl: 101}, complianceEntry{name: "at-cap", compliance: NonCompliant, nonCompl: 100})
					check("DescribeComplianceByConfigRule", describeComplianceOutput{entries: entries, next: next}, refCompliance(entries, next))
					for _, r := range rules {
						check("GetComplianceDetailsByConfigRule", complianceDetailsOutput{ruleName: r.Name, results: r.Results, next: next}, refDetails(r.Name, r.Results, next))
					}
				}
				check0 := describeConfigRulesOutput{account: a.ID, region: region}
				if got, want := check0.appendJSON(nil), mustMarshal(t, refRules(a.ID, region, nil, nil)); !bytes.Equal(got, want) {
					t.Fatalf("empty page: got %s, want %s", got, want)
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d answers compared", checked)
	}
}

// TestEpochSeconds compares appendEpoch with the encoding of epochSeconds.
func TestEpochSeconds(t *testing.T) {
	for _, tm := range []time.Time{evaluatedAt, evaluatedAt.Add(250 * time.Millisecond), evaluatedAt.Add(999999999), evaluatedAt.Add(1), time.Unix(0, 0), time.Unix(-1, 5e8)} {
		got, want := appendEpoch(nil, tm), mustMarshal(t, epochSeconds(tm))
		if !bytes.Equal(got, want) {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
}

// errAfter yields data, then err.
type errAfter struct {
	data []byte
	err  error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data[:min(len(e.data), 100)])
	e.data = e.data[n:]
	return n, nil
}

// TestReadBodyMatchesReadAll compares readBody with the
// io.ReadAll(io.LimitReader(body, maxBody+1)) it replaces, for announced
// lengths that are right, short, long or unknown, and failing bodies.
func TestReadBodyMatchesReadAll(t *testing.T) {
	for _, size := range []int{0, 1, 2, 511, 512, 513, 5000, maxBody - 1, maxBody, maxBody + 1, maxBody + 5000} {
		data := bytes.Repeat([]byte("x"), size)
		for _, announced := range []int64{int64(size), -1, int64(size) + 7, int64(size) / 2} {
			for _, fail := range []error{io.EOF, io.ErrUnexpectedEOF} {
				mk := func() *http.Request {
					r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(&errAfter{data: data, err: fail}))
					r.ContentLength = announced
					return r
				}
				want, wantErr := io.ReadAll(io.LimitReader(mk().Body, maxBody+1))
				got, gotErr := readBody(mk(), make([]byte, 0, 8))
				if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
					t.Errorf("size %d, announced %d, ending %v: got %d bytes, %v; want %d bytes, %v", size, announced, fail, len(got), gotErr, len(want), wantErr)
				}
			}
		}
	}
}

// TestConfigInputFastMatchesUnmarshal: whatever parseFast accepts,
// json.Unmarshal decodes to the same value; and it accepts what SDKs send.
func TestConfigInputFastMatchesUnmarshal(t *testing.T) {
	keys := []string{`"ConfigRuleNames"`, `"ConfigRuleName"`, `"ComplianceTypes"`, `"Limit"`, `"NextToken"`, `"ConfigurationRecorderNames"`, `"configrulename"`, `"Other"`, `"Limit "`}
	values := []string{`"x"`, `""`, `"a b-c_d.e"`, `"caf\u00e9"`, `"é"`, `"a\"b"`, `"<&>"`, `"\t"`, `[]`, `["a"]`, `["a","b"]`, `["a",]`, `[,]`, `[1]`, `null`,
		`0`, `1`, `100`, `101`, `007`, `-1`, `1.5`, `1e2`, `999999999`, `1000000000`, `99999999999999999999`, `true`, `{}`, `"x`, `[`, ``}
	rng := rand.New(rand.NewPCG(3, 4))
	bodies := []string{`{}`, `{"ComplianceTypes":["NON_COMPLIANT"],"ConfigRuleName":"s3-bucket-logging-enabled","Limit":100}`,
		`{"ConfigRuleNames":["a","b"],"NextToken":"MjUuMA.abc_-"}`, ` {}`, `{} `, `{ }`, `{"Limit":1}x`, `[]`, `{`, `}`, `{"Limit":1,}`}
	for range 30000 {
		var b strings.Builder
		b.WriteByte('{')
		for i := range rng.IntN(4) {
			if i > 0 {
				b.WriteString([]string{",", ",", ",", "", ", "}[rng.IntN(5)])
			}
			b.WriteString(keys[rng.IntN(len(keys))])
			b.WriteString([]string{":", ":", ":", " :", ""}[rng.IntN(5)])
			b.WriteString(values[rng.IntN(len(values))])
		}
		b.WriteString([]string{"}", "}", "}", "", "},", "} "}[rng.IntN(6)])
		bodies = append(bodies, b.String())
	}
	accepted := 0
	for _, body := range bodies {
		var fast configInput
		if !fast.parseFast([]byte(body)) {
			continue
		}
		accepted++
		var ref configInput
		if err := json.Unmarshal([]byte(body), &ref); err != nil {
			t.Fatalf("%s: accepted by parseFast, refused by json.Unmarshal: %v", body, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%s: parseFast %+v, json.Unmarshal %+v", body, fast, ref)
		}
	}
	if accepted < 1000 {
		t.Fatalf("parseFast accepted only %d bodies", accepted)
	}
	var in configInput
	if !in.parseFast([]byte(bodies[1])) || !in.parseFast([]byte(bodies[2])) {
		t.Error("an SDK's body is not on the fast path")
	}
}

// TestAppendXMLMatchesEncodingXML compares the STS results' encoders with
// encoding/xml on values that need escaping and on ordinary ones.
func TestAppendXMLMatchesEncodingXML(t *testing.T) {
	vals := []string{"", "plain", "arn:aws:sts::111111111111:assumed-role/r/s@x.y", "a<b>&\"c'", "tab\tnl\nret\r", "\x00\x01\x1f", "\x7f", "é日😀", "\xff\xfe", "\ufffd", "a+b/c=", "]]>"}
	n := 0
	for i, a := range vals {
		b, c := vals[(i+3)%len(vals)], vals[(i+7)%len(vals)]
		for _, v := range []interface{ appendXML([]byte) []byte }{
			assumeRoleResult{AssumedRoleUser: xmlAssumedRoleUser{AssumedRoleID: a, Arn: b},
				Credentials: xmlCredentials{AccessKeyID: c, SecretAccessKey: a, SessionToken: b, Expiration: c}},
			getCallerIdentityResult{UserID: a, Account: b, Arn: c},
		} {
			want, err := xml.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.appendXML([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("%+v:\n got %s\nwant %s", v, got[1:], want)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("nothing compared")
	}
}
