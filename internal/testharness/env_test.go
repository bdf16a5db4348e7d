package testharness

import (
	"strings"
	"testing"

	"github.com/cybsecops/configreport/internal/awssim"
)

func TestServiceEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		regions []string
		want    string
	}{
		{"two regions", Regions, "us-east-1,eu-west-1"},
		{"with the opt-in region", RegionsWithOptIn(), "us-east-1,eu-west-1,ap-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkServiceEnv(t, tc.regions, tc.want) })
	}
}

func checkServiceEnv(t *testing.T, regions []string, wantRegions string) {
	t.Helper()
	env := ServiceEnv(Endpoints{SQS: "http://sqs", SNS: "http://sns", S3: "http://s3", DynamoDB: "http://ddb", Sim: "http://sim"},
		Resources{ScanQueue: "scanq", ScanDLQ: "dlq", ResultsQueue: "resq", PoisonQueue: "poisonq", TopicARN: "arn:topic", Bucket: "bkt", Table: "tbl"},
		"111122223333", regions)
	got := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%q is not KEY=VALUE", kv)
		}
		if _, dup := got[k]; dup {
			t.Errorf("%s set twice", k)
		}
		got[k] = v
	}
	for k, want := range map[string]string{
		"AWS_ENDPOINT_URL_SQS": "http://sqs", "AWS_ENDPOINT_URL_SNS": "http://sns", "AWS_ENDPOINT_URL_S3": "http://s3",
		"AWS_ENDPOINT_URL_DYNAMODB": "http://ddb", "AWS_ENDPOINT_URL_STS": "http://sim",
		"AWS_ENDPOINT_URL_ORGANIZATIONS": "http://sim", "AWS_ENDPOINT_URL_CONFIG_SERVICE": "http://sim", "AWS_ENDPOINT_URL_EC2": "http://sim",
		"SCAN_QUEUE_URL": "scanq", "RESULTS_TOPIC_ARN": "arn:topic", "RESULTS_QUEUE_URL": "resq", "POISON_QUEUE_URL": "poisonq",
		"REPORT_BUCKET": "bkt", "DYNAMODB_TABLE": "tbl", "REPORT_PREFIX": ReportPrefix, "PAYLOAD_PREFIX": PayloadPrefix,
		"AWS_REGION": Region, "REGIONS": wantRegions, "OWNER_TAGS": "Owner|owner,Team",
		"ORG_ROLE_ARN": "arn:aws:iam::111122223333:role/system-config-report-generator-list-org-role",
	} {
		if got[k] != want {
			t.Errorf("%s=%q, want %q", k, got[k], want)
		}
	}
	// The DLQ is the queue's redrive target, never a service setting.
	for k, v := range got {
		if v == "dlq" {
			t.Errorf("%s is the DLQ", k)
		}
	}
}

// The opt-in region must be one to awssim, or -disabled-regions refuses
// the suites' regions and an org file's "enabled": false means nothing;
// the others must not be, or a suite without it would skip them.
func TestOptInRegion(t *testing.T) {
	for _, r := range RegionsWithOptIn() {
		if got, want := awssim.IsOptInRegion(r), r == OptInRegion; got != want {
			t.Errorf("awssim.IsOptInRegion(%s) = %v, want %v", r, got, want)
		}
	}
	if got := RegionsWithOptIn(); len(got) != len(Regions)+1 || got[len(got)-1] != OptInRegion || len(Regions) != 2 {
		t.Errorf("RegionsWithOptIn() = %v beside Regions %v: want Regions then %s", got, Regions, OptInRegion)
	}
}
