package harness

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
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

func TestServiceEnvWithSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Settings
		want map[string]string // "" for unset
	}{
		{"zero: the services' defaults", Settings{}, map[string]string{
			"REGIONS": "", "DEADLINE": "", "CONCURRENCY": "", "CONSUMERS": "", "OWNER_TAGS": "", "SHUTDOWN_TIMEOUT": ""}},
		{"the suites'", SuiteSettings, map[string]string{
			"REGIONS": "us-east-1,eu-west-1", "DEADLINE": "10m0s", "CONCURRENCY": "8", "CONSUMERS": "4",
			"OWNER_TAGS": OwnerTags, "SHUTDOWN_TIMEOUT": "10s"}},
		{"the load harness's", Settings{Regions: []string{"us-east-1"}, Deadline: 45 * time.Minute, Concurrency: 32, ShutdownTimeout: 16 * time.Second},
			map[string]string{"REGIONS": "us-east-1", "DEADLINE": "45m0s", "CONCURRENCY": "32", "CONSUMERS": "", "OWNER_TAGS": "", "SHUTDOWN_TIMEOUT": "16s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, kv := range ServiceEnvWith(Endpoints{}, Resources{Table: "tbl"}, "111122223333", tc.s) {
				k, v, _ := strings.Cut(kv, "=")
				if _, dup := got[k]; dup {
					t.Errorf("%s set twice", k)
				}
				got[k] = v
			}
			for k, want := range tc.want {
				if v, ok := got[k]; v != want || ok != (want != "") {
					t.Errorf("%s=%q (set %v), want %q", k, v, ok, want)
				}
			}
			if got["DYNAMODB_TABLE"] != "tbl" {
				t.Errorf("DYNAMODB_TABLE=%q", got["DYNAMODB_TABLE"])
			}
		})
	}
}

// skipFatalTB records Skipf and Fatalf instead of ending the real test;
// run it in its own goroutine (both end it with runtime.Goexit).
type skipFatalTB struct {
	testing.TB
	skipped, fatal string
}

func (s *skipFatalTB) Skipf(format string, args ...any) {
	s.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (s *skipFatalTB) Fatalf(format string, args ...any) {
	s.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, value, require string
		want, wantSkip       string
		wantFatal            string
	}{
		{"set", "http://127.0.0.1:4566", "", "http://127.0.0.1:4566", "", ""},
		{"set, required", "http://127.0.0.1:4566", "1", "http://127.0.0.1:4566", "", ""},
		{"unset: skipped on a laptop", "", "", "", "HARNESS_TEST_ENDPOINT not set", ""},
		{"unset under make test: failed", "", "1", "", "", "HARNESS_TEST_ENDPOINT is not set but REQUIRE_EMULATORS=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HARNESS_TEST_ENDPOINT", tc.value)
			t.Setenv("REQUIRE_EMULATORS", tc.require)
			tb := &skipFatalTB{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = Endpoint(tb, "HARNESS_TEST_ENDPOINT")
			}()
			<-done
			if got != tc.want {
				t.Errorf("Endpoint = %q, want %q", got, tc.want)
			}
			if !strings.HasPrefix(tb.skipped, tc.wantSkip) || (tc.wantSkip == "") != (tb.skipped == "") {
				t.Errorf("skipped %q, want %q", tb.skipped, tc.wantSkip)
			}
			if !strings.HasPrefix(tb.fatal, tc.wantFatal) || (tc.wantFatal == "") != (tb.fatal == "") {
				t.Errorf("fatal %q, want %q", tb.fatal, tc.wantFatal)
			}
		})
	}
}
