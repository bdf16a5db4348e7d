package scan

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// fakeConfig serves one region from memory, in pages of 2, and can fail a
// chosen operation at a chosen page.
type fakeConfig struct {
	rules      []types.ConfigRule
	compliance map[string]types.ComplianceType
	results    map[string][]types.EvaluationResult
	failOp     string
	failPage   int
	failErr    error
	// recorder is the region's recorder: "" or recording, stopped, none.
	recorder events.Recorder
	calls    atomic.Int32
}

func (f *fakeConfig) DescribeConfigurationRecorderStatus(_ context.Context, _ *configservice.DescribeConfigurationRecorderStatusInput, _ ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecorderStatusOutput, error) {
	if err := f.fail("DescribeConfigurationRecorderStatus", nil); err != nil {
		return nil, err
	}
	out := &configservice.DescribeConfigurationRecorderStatusOutput{}
	switch f.recorder {
	case events.RecorderNone:
	case events.RecorderStopped:
		out.ConfigurationRecordersStatus = []types.ConfigurationRecorderStatus{{Name: aws.String("default"), Recording: false}}
	default:
		out.ConfigurationRecordersStatus = []types.ConfigurationRecorderStatus{{Name: aws.String("default"), Recording: true}}
	}
	return out, nil
}

// fakeEC2 answers DescribeRegions with optIn (region -> OptInStatus), or
// err; it counts its calls.
type fakeEC2 struct {
	optIn map[ident.Region]string
	err   error
	calls atomic.Int32
}

func (f *fakeEC2) DescribeRegions(_ context.Context, in *ec2.DescribeRegionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	if !aws.ToBool(in.AllRegions) {
		return nil, errors.New("DescribeRegions without AllRegions")
	}
	out := &ec2.DescribeRegionsOutput{}
	for r, st := range f.optIn {
		out.Regions = append(out.Regions, ec2types.Region{RegionName: aws.String(string(r)), OptInStatus: aws.String(st)})
	}
	return out, nil
}

func page[T any](items []T, token *string, size int) ([]T, *string, error) {
	start := 0
	if token != nil {
		if _, err := fmtSscan(*token, &start); err != nil {
			return nil, nil, err
		}
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = aws.String(itoa(end))
	}
	return items[start:end], next, nil
}

// fail returns failErr for op from page failPage (1-based) on; the token
// is the offset of the page, 2 items a page.
func (f *fakeConfig) fail(op string, token *string) error {
	f.calls.Add(1)
	if op != f.failOp {
		return nil
	}
	offset := 0
	if token != nil {
		_, _ = fmtSscan(*token, &offset)
	}
	if offset/2+1 >= f.failPage {
		return f.failErr
	}
	return nil
}

func (f *fakeConfig) DescribeConfigRules(_ context.Context, in *configservice.DescribeConfigRulesInput, _ ...func(*configservice.Options)) (*configservice.DescribeConfigRulesOutput, error) {
	if err := f.fail("DescribeConfigRules", in.NextToken); err != nil {
		return nil, err
	}
	items, next, err := page(f.rules, in.NextToken, 2)
	return &configservice.DescribeConfigRulesOutput{ConfigRules: items, NextToken: next}, err
}

func (f *fakeConfig) DescribeComplianceByConfigRule(_ context.Context, in *configservice.DescribeComplianceByConfigRuleInput, _ ...func(*configservice.Options)) (*configservice.DescribeComplianceByConfigRuleOutput, error) {
	if err := f.fail("DescribeComplianceByConfigRule", in.NextToken); err != nil {
		return nil, err
	}
	var all []types.ComplianceByConfigRule
	for _, r := range f.rules {
		if c, ok := f.compliance[aws.ToString(r.ConfigRuleName)]; ok {
			all = append(all, types.ComplianceByConfigRule{ConfigRuleName: r.ConfigRuleName, Compliance: &types.Compliance{ComplianceType: c}})
		}
	}
	items, next, err := page(all, in.NextToken, 2)
	return &configservice.DescribeComplianceByConfigRuleOutput{ComplianceByConfigRules: items, NextToken: next}, err
}

func (f *fakeConfig) GetComplianceDetailsByConfigRule(_ context.Context, in *configservice.GetComplianceDetailsByConfigRuleInput, _ ...func(*configservice.Options)) (*configservice.GetComplianceDetailsByConfigRuleOutput, error) {
	if err := f.fail("GetComplianceDetailsByConfigRule", in.NextToken); err != nil {
		return nil, err
	}
	if in.Limit != 100 || len(in.ComplianceTypes) != 1 || in.ComplianceTypes[0] != types.ComplianceTypeNonCompliant {
		return nil, errors.New("details asked without Limit 100 and ComplianceTypes [NON_COMPLIANT]")
	}
	items, next, err := page(f.results[aws.ToString(in.ConfigRuleName)], in.NextToken, 2)
	return &configservice.GetComplianceDetailsByConfigRuleOutput{EvaluationResults: items, NextToken: next}, err
}

func cfgRule(name string, owner types.Owner, source string) types.ConfigRule {
	return types.ConfigRule{ConfigRuleName: aws.String(name), Source: &types.Source{Owner: owner, SourceIdentifier: aws.String(source)}}
}

func evalResult(typ, id, annotation string, at time.Time) types.EvaluationResult {
	return types.EvaluationResult{
		ComplianceType:     types.ComplianceTypeNonCompliant,
		Annotation:         aws.String(annotation),
		ResultRecordedTime: aws.Time(at),
		EvaluationResultIdentifier: &types.EvaluationResultIdentifier{
			EvaluationResultQualifier: &types.EvaluationResultQualifier{ResourceType: aws.String(typ), ResourceId: aws.String(id)},
		},
	}
}

// fakeRoles hands out static credentials, or an AssumeRole failure.
type fakeRoles struct{ err error }

func (f fakeRoles) Credentials(ident.RoleARN) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		if f.err != nil {
			return aws.Credentials{}, f.err
		}
		return aws.Credentials{AccessKeyID: "ASIAFAKE", SecretAccessKey: "s"}, nil
	})
}

func apiError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "Config Service", OperationName: "X", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: code + " happened"},
	}}
}

func fakeScanner(t *testing.T, roles RoleSource, regions map[ident.Region]*fakeConfig) *Scanner {
	t.Helper()
	var names []ident.Region
	for r := range regions {
		names = append(names, r)
	}
	s, err := New(aws.Config{}, roles, Config{Regions: names, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s.newConfig = func(_ aws.CredentialsProvider, r ident.Region) configAPI { return regions[r] }
	enabled := &fakeEC2{optIn: map[ident.Region]string{}}
	for r := range regions {
		enabled.optIn[r] = "opt-in-not-required"
	}
	s.newEC2 = func(aws.CredentialsProvider) ec2API { return enabled }
	return s
}

func healthyRegion(at time.Time) *fakeConfig {
	return &fakeConfig{
		rules: []types.ConfigRule{
			cfgRule("a-managed", types.OwnerAws, "S3_BUCKET_VERSIONING_ENABLED"),
			cfgRule("b-custom", types.OwnerCustomLambda, "arn:aws:lambda:us-east-1:222222222222:function:tags"),
			cfgRule("c-policy", types.OwnerCustomPolicy, ""),
			cfgRule("d-unevaluated", types.OwnerAws, "IAM_PASSWORD_POLICY"),
			cfgRule("e-compliant", types.OwnerAws, "ROOT_ACCOUNT_MFA_ENABLED"),
		},
		compliance: map[string]types.ComplianceType{
			"a-managed": types.ComplianceTypeNonCompliant, "b-custom": types.ComplianceTypeNonCompliant,
			"c-policy": types.ComplianceTypeInsufficientData, "e-compliant": types.ComplianceTypeCompliant,
		},
		results: map[string][]types.EvaluationResult{
			"a-managed": {evalResult("AWS::S3::Bucket", "b1", "no versioning", at), evalResult("AWS::S3::Bucket", "b2", "", at),
				evalResult("AWS::S3::Bucket", "b3", "", at)},
			"b-custom": {evalResult("AWS::EC2::Instance", "i-1", "tag", at)},
		},
	}
}

func TestScanRegionWholeOrNothing(t *testing.T) {
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	exhausted := &retry.MaxAttemptsError{Attempt: 10, Err: apiError(400, "ThrottlingException")}
	tests := []struct {
		name        string
		failOp      string
		failErr     error
		wantStatus  events.Status
		wantCode    string
		wantAttempt int
	}{
		{"healthy", "", nil, events.StatusOK, "", 0},
		{"rules listing fails on page 2", "DescribeConfigRules", apiError(400, "AccessDeniedException"), events.StatusPartial, "AccessDeniedException", 1},
		{"compliance fails", "DescribeComplianceByConfigRule", apiError(503, "ServiceUnavailable"), events.StatusPartial, "ServiceUnavailable", 1},
		{"details give up after retries", "GetComplianceDetailsByConfigRule", exhausted, events.StatusPartial, "ThrottlingException", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := healthyRegion(at)
			bad := healthyRegion(at)
			bad.failOp, bad.failPage, bad.failErr = tt.failOp, 2, tt.failErr
			s := fakeScanner(t, fakeRoles{}, map[ident.Region]*fakeConfig{"us-east-1": good, "eu-west-1": bad})
			res := s.ScanAccount(context.Background(), events.ScanRequested{RunID: "r1", AccountID: "222222222222", Regions: []ident.Region{"us-east-1", "eu-west-1"}})
			if err := res.Validate(); err != nil {
				t.Fatalf("invalid result: %v", err)
			}
			if res.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s (%+v)", res.Status, tt.wantStatus, res.Errors)
			}
			wantRegions := map[ident.Region]bool{"us-east-1": true, "eu-west-1": tt.failOp == ""}
			for _, r := range res.Rules {
				if !wantRegions[r.Region] {
					t.Errorf("rule %s of failed region %s kept", r.Name, r.Region)
				}
			}
			for _, f := range res.Findings {
				if !wantRegions[f.Region] {
					t.Errorf("finding %s/%s of failed region %s kept", f.Rule, f.ResourceID, f.Region)
				}
			}
			if len(res.Rules) != 5*countTrue(wantRegions) {
				t.Errorf("%d rules, want 5 per scanned region", len(res.Rules))
			}
			if tt.failOp == "" {
				if len(res.Errors) != 0 {
					t.Errorf("errors %+v", res.Errors)
				}
				return
			}
			if len(res.Errors) != 1 {
				t.Fatalf("errors %+v, want one", res.Errors)
			}
			e := res.Errors[0]
			if e.Region != "eu-west-1" || e.Stage != events.StageConfig || e.Code != tt.wantCode || e.Attempts != tt.wantAttempt || e.Message == "" {
				t.Errorf("error %+v, want eu-west-1/config/%s/%d attempts", e, tt.wantCode, tt.wantAttempt)
			}
		})
	}
}

func TestScanRuleFields(t *testing.T) {
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	s := fakeScanner(t, fakeRoles{}, map[ident.Region]*fakeConfig{"us-east-1": healthyRegion(at)})
	res := s.ScanAccount(context.Background(), events.ScanRequested{RunID: "r1", AccountID: "222222222222"})
	want := []events.Rule{
		{Region: "us-east-1", Name: "a-managed", Owner: "AWS", SourceIdentifier: "S3_BUCKET_VERSIONING_ENABLED", Compliance: events.NonCompliant, NoncompliantCount: 3},
		{Region: "us-east-1", Name: "b-custom", Owner: "CUSTOM_LAMBDA", SourceIdentifier: "arn:aws:lambda:us-east-1:222222222222:function:tags", Compliance: events.NonCompliant, NoncompliantCount: 1},
		{Region: "us-east-1", Name: "c-policy", Owner: "CUSTOM_POLICY", Compliance: events.InsufficientData},
		{Region: "us-east-1", Name: "d-unevaluated", Owner: "AWS", SourceIdentifier: "IAM_PASSWORD_POLICY", Compliance: events.InsufficientData},
		{Region: "us-east-1", Name: "e-compliant", Owner: "AWS", SourceIdentifier: "ROOT_ACCOUNT_MFA_ENABLED", Compliance: events.Compliant},
	}
	if len(res.Rules) != len(want) {
		t.Fatalf("rules %+v", res.Rules)
	}
	for i := range want {
		if res.Rules[i] != want[i] {
			t.Errorf("rule %d: %+v, want %+v", i, res.Rules[i], want[i])
		}
	}
	wantF := events.Finding{Region: "us-east-1", Rule: "a-managed", ResourceType: "AWS::S3::Bucket", ResourceID: "b1", Compliance: events.NonCompliant, Annotation: "no versioning", RecordedAt: at}
	if len(res.Findings) != 4 || res.Findings[0] != wantF {
		t.Errorf("findings %+v", res.Findings)
	}
	if res.Status != events.StatusOK || res.RunID != "r1" || res.ScannedAt.IsZero() {
		t.Errorf("result header %+v", res)
	}
}

func TestScanAssumeRoleFails(t *testing.T) {
	region := healthyRegion(time.Now())
	s := fakeScanner(t, fakeRoles{err: &retry.MaxAttemptsError{Attempt: 10, Err: apiError(503, "ServiceUnavailable")}},
		map[ident.Region]*fakeConfig{"us-east-1": region})
	res := s.ScanAccount(context.Background(), events.ScanRequested{RunID: "r1", AccountID: "222222222222"})
	want := events.ScanError{Stage: events.StageAssumeRole, Code: "ServiceUnavailable", Message: "X: ServiceUnavailable happened", Attempts: 10}
	if res.Status != events.StatusFailed || len(res.Errors) != 1 || res.Errors[0] != want {
		t.Fatalf("result %+v, want failed with %+v", res, want)
	}
	if n := region.calls.Load(); n != 0 {
		t.Errorf("%d Config calls after AssumeRole failed", n)
	}
}

func TestScanEveryRegionFails(t *testing.T) {
	mk := func() *fakeConfig {
		f := healthyRegion(time.Now())
		f.failOp, f.failPage, f.failErr = "DescribeConfigRules", 1, apiError(400, "UnrecognizedClientException")
		return f
	}
	s := fakeScanner(t, fakeRoles{}, map[ident.Region]*fakeConfig{"us-east-1": mk(), "ap-east-1": mk()})
	res := s.ScanAccount(context.Background(), events.ScanRequested{RunID: "r1", AccountID: "222222222222", Regions: []ident.Region{"ap-east-1", "us-east-1"}})
	if res.Status != events.StatusFailed || len(res.Errors) != 2 || res.Errors[0].Region != "ap-east-1" || res.Errors[1].Region != "us-east-1" {
		t.Fatalf("result %+v, want failed with one error per region in request order", res)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSscan(s string, n *int) (int, error) {
	v, err := strconv.Atoi(s)
	*n = v
	return 1, err
}

func countTrue(m map[ident.Region]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
