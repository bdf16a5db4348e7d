package harness

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
)

// The settings both suites run the services with.
const (
	Region        = "us-east-1"
	ReportPrefix  = "reports"
	PayloadPrefix = "claim-check"
)

// Regions are the regions scanned, in the order of the report, where a
// suite does not add OptInRegion.
var Regions = []string{"us-east-1", "eu-west-1"}

// OptInRegion is an opt-in region (AWS enables it in an account only on
// request; awssim knows it as one). A suite whose org has accounts that
// never enabled it (awssim's -disabled-regions, or "enabled": false in an
// org file) scans RegionsWithOptIn, so that the Coverage sheet's
// `skipped` (Region Enabled `no`, no Errors row, no PARTIAL) is checked end
// to end. Not in every suite's regions: a third region makes every account's
// scan half as long again.
const OptInRegion = "ap-east-1"

// RegionsWithOptIn are Regions and then OptInRegion, in the order of the
// report.
func RegionsWithOptIn() []string { return append(slices.Clone(Regions), OptInRegion) }

// OwnerTags is -owner-tags of every service, as the kustomize base sets it.
const OwnerTags = "Owner|owner,Team"

// OwnerTagEntries is OwnerTags parsed: the owner columns a report of the
// services carries (reportcheck.Expect.OwnerTags).
func OwnerTagEntries() []events.OwnerTag {
	ts, err := events.ParseOwnerTags(OwnerTags)
	if err != nil {
		panic(err) // a constant
	}
	return ts
}

// Endpoint returns the value of the environment variable name (an
// emulator's URL, exported by scripts/with-emulators.sh), skipping the test
// when it is unset, or failing it under REQUIRE_EMULATORS=1 (make test), so
// that an integration test can never pass by silently skipping in CI.
func Endpoint(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv("REQUIRE_EMULATORS") == "1" {
		t.Fatalf("%s is not set but REQUIRE_EMULATORS=1: the emulator did not start (see scripts/with-emulators.sh)", name)
	}
	t.Skipf("%s not set: run under `make test` (scripts/with-emulators.sh) for this integration test", name)
	return ""
}

// Endpoints are the URLs of the emulators and of awssim.
type Endpoints struct{ SQS, SNS, S3, DynamoDB, Sim string }

// EmulatorEndpoints reads the emulators' endpoints (scripts/with-emulators.sh),
// skipping or failing the test as Endpoint does. Sim is left for
// the suite, which starts its own awssim.
func EmulatorEndpoints(t testing.TB) Endpoints {
	t.Helper()
	return Endpoints{
		SQS: Endpoint(t, "SQS_ENDPOINT"), SNS: Endpoint(t, "SNS_ENDPOINT"),
		S3: Endpoint(t, "S3_ENDPOINT"), DynamoDB: Endpoint(t, "DYNAMODB_ENDPOINT"),
	}
}

// Resources are what CloudFormation makes in production and each suite
// makes for itself with Provision (names and queue settings differ between
// the suites).
type Resources struct {
	ScanQueue, ScanDLQ, ResultsQueue, PoisonQueue, TopicARN, Bucket, Table string
	Taps                                                                   []string // URLs of ProvisionConfig.Taps, in order
}

// Settings are how a suite runs the services, besides its resources: the
// environment variables ServiceEnvWith sets. A zero field is left unset
// (the service's default).
type Settings struct {
	Regions         []string
	Deadline        time.Duration
	Concurrency     int
	Consumers       int
	OwnerTags       string
	ShutdownTimeout time.Duration
}

// SuiteSettings are the end-to-end suites' (test/e2e, test/chaos).
var SuiteSettings = Settings{Regions: Regions, Deadline: 10 * time.Minute, Concurrency: 8, Consumers: 4,
	OwnerTags: OwnerTags, ShutdownTimeout: 10 * time.Second}

// ServiceEnv is ServiceEnvWith the suites' settings, scanning regions
// (REGIONS of the trigger, the scanner and the aggregator alike: awssim is
// started with the same), Regions or RegionsWithOptIn.
func ServiceEnv(ep Endpoints, res Resources, mgmt string, regions []string) []string {
	s := SuiteSettings
	s.Regions = regions
	return ServiceEnvWith(ep, res, mgmt, s)
}

// ServiceEnvWith is the configuration of every binary, by environment
// variable (each flag's name upper-cased, '-' as '_'), without Jira's
// (Jira.Env) and BaseEnv's: endpoints come from the SDK's standard
// AWS_ENDPOINT_URL_<SERVICE> variables, as they would for any emulator,
// never from flags of ours. mgmt is the organisation's management account.
func ServiceEnvWith(ep Endpoints, res Resources, mgmt string, s Settings) []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret", "AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL_SQS=" + ep.SQS, "AWS_ENDPOINT_URL_SNS=" + ep.SNS,
		"AWS_ENDPOINT_URL_S3=" + ep.S3, "AWS_ENDPOINT_URL_DYNAMODB=" + ep.DynamoDB,
		"AWS_ENDPOINT_URL_STS=" + ep.Sim, "AWS_ENDPOINT_URL_ORGANIZATIONS=" + ep.Sim, "AWS_ENDPOINT_URL_CONFIG_SERVICE=" + ep.Sim,
		"AWS_ENDPOINT_URL_EC2=" + ep.Sim,
		"LOG_FORMAT=json", "LOG_LEVEL=info",
		// messaging (internal/msg flags)
		"SCAN_QUEUE_URL=" + res.ScanQueue, "RESULTS_TOPIC_ARN=" + res.TopicARN,
		"RESULTS_QUEUE_URL=" + res.ResultsQueue, "POISON_QUEUE_URL=" + res.PoisonQueue,
		"RECEIVE_WAIT=1s",
		// storage
		"REPORT_BUCKET=" + res.Bucket, "REPORT_PREFIX=" + ReportPrefix, "PAYLOAD_PREFIX=" + PayloadPrefix,
		"DYNAMODB_TABLE=" + res.Table, "S3_PATH_STYLE=true",
		"CHECK_INTERVAL=1s",
		"ORG_ROLE_ARN=arn:aws:iam::" + mgmt + ":role/system-config-report-generator-list-org-role",
	}
	set := func(name, v string, ok bool) {
		if ok {
			env = append(env, name+"="+v)
		}
	}
	// the kustomize base has the trigger read the owner tags
	set("OWNER_TAGS", s.OwnerTags, s.OwnerTags != "")
	set("SHUTDOWN_TIMEOUT", s.ShutdownTimeout.String(), s.ShutdownTimeout > 0)
	set("CONSUMERS", strconv.Itoa(s.Consumers), s.Consumers > 0)
	// the run
	set("REGIONS", strings.Join(s.Regions, ","), len(s.Regions) > 0)
	set("DEADLINE", s.Deadline.String(), s.Deadline > 0)
	set("CONCURRENCY", strconv.Itoa(s.Concurrency), s.Concurrency > 0)
	return env
}
