package scan

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// orgFile builds the explicit organisation of TestOrgFile and the handler
// tests: a management account with rules, a payments account with custom,
// never-evaluated, paginated rules, a failing opt-in region, a denied
// account and a suspended one.
func orgFile(t testing.TB) *awssim.Org {
	t.Helper()
	type result struct {
		ResourceType string    `json:"resource_type"`
		ResourceID   string    `json:"resource_id"`
		Compliance   string    `json:"compliance"`
		Annotation   string    `json:"annotation,omitempty"`
		RecordedAt   time.Time `json:"recorded_at"`
	}
	type rule struct {
		Name             string   `json:"name"`
		SourceIdentifier string   `json:"source_identifier"`
		Results          []result `json:"results"`
	}
	type region struct {
		Fail  bool   `json:"fail,omitempty"`
		Rules []rule `json:"rules"`
	}
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var many []result
	for i := range 250 {
		many = append(many, result{"AWS::S3::Bucket", fmt.Sprintf("bucket-%03d", i), "NON_COMPLIANT", "=HYPERLINK(\"x\")", at.Add(time.Duration(i) * time.Minute)})
	}
	many = append(many, result{"AWS::S3::Bucket", "good-bucket", "COMPLIANT", "", at})
	var filler []rule // 30 rules: two pages of DescribeConfigRules (25 a page)
	for i := range 27 {
		filler = append(filler, rule{fmt.Sprintf("filler-%02d", i), "EBS_OPTIMIZED_INSTANCE", []result{{"AWS::EC2::Instance", fmt.Sprintf("i-%02d", i), "COMPLIANT", "", at}}})
	}
	payments := append(filler,
		rule{"many-buckets", "S3_BUCKET_PUBLIC_READ_PROHIBITED", many},
		rule{"custom-tagging", "CUSTOM", []result{
			{"AWS::EC2::Instance", "i-0abc", "NON_COMPLIANT", "missing tag owner", at},
			{"AWS::EC2::Instance", "i-0def", "NOT_APPLICABLE", "", at},
		}},
		rule{"never-evaluated", "IAM_PASSWORD_POLICY", nil},
		rule{"not-applicable-only", "RDS_STORAGE_ENCRYPTED", []result{{"AWS::RDS::DBInstance", "db-1", "NOT_APPLICABLE", "", at}}},
	)
	doc := map[string]any{
		"management_account_id": "111111111111",
		"ous":                   []string{"Root/Prod", "Root/Prod/Payments", "Root/Sandbox"},
		"accounts": []map[string]any{
			{"id": "111111111111", "name": "management", "ou_path": "Root", "status": "ACTIVE",
				"regions": map[string]region{"us-east-1": {Rules: []rule{{"root-mfa", "ROOT_ACCOUNT_MFA_ENABLED", []result{{"AWS::::Account", "111111111111", "COMPLIANT", "", at}}}}}}},
			{"id": "222222222222", "name": "payments-prod", "ou_path": "Root/Prod/Payments", "status": "ACTIVE",
				"regions": map[string]region{"us-east-1": {Rules: payments}, "eu-west-1": {Rules: []rule{{"root-mfa", "ROOT_ACCOUNT_MFA_ENABLED", nil}}}}},
			{"id": "333333333333", "name": "sandbox", "ou_path": "Root/Sandbox", "status": "ACTIVE",
				"regions": map[string]region{"us-east-1": {Rules: []rule{{"s3-versioning", "S3_BUCKET_VERSIONING_ENABLED", []result{{"AWS::S3::Bucket", "scratch", "NON_COMPLIANT", "", at}}}}}, "ap-east-1": {Fail: true}}},
			{"id": "444444444444", "name": "locked", "ou_path": "Root/Prod", "status": "ACTIVE", "deny_assume_role": true},
			{"id": "555555555555", "name": "closed", "ou_path": "Root/Sandbox", "status": "SUSPENDED"},
		},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	org, err := awssim.ParseOrg(data)
	if err != nil {
		t.Fatal(err)
	}
	return org
}
