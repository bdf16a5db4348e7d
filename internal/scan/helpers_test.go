package scan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// simEnv is awssim behind an httptest server, and a Scanner configured as
// production configures it (awsconf), only the endpoint and the hub keys
// changed, and a short backoff cap so that retried calls stay fast.
type simEnv struct {
	sim     *awssim.Sim
	url     string
	roles   *awsconf.Roles
	scanner *Scanner
	hub     aws.Config
}

type envOpts struct {
	concurrency  int
	regions      []ident.Region
	expiryWindow time.Duration
	maxBackoff   time.Duration
	maxFindings  int
	apiOptions   []func(*middleware.Stack) error
}

func newSim(t testing.TB, cfg awssim.Config) (*awssim.Sim, string) {
	t.Helper()
	cfg.Logger = quiet()
	sim, err := awssim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func generated(t testing.TB, accounts int, seed int64) *awssim.Org {
	t.Helper()
	org, err := awssim.Generate(awssim.GenConfig{Accounts: accounts, Seed: seed, NonCompliant: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func newEnv(t testing.TB, cfg awssim.Config, o envOpts) *simEnv {
	t.Helper()
	sim, url := newSim(t, cfg)
	if o.maxBackoff == 0 {
		o.maxBackoff = 20 * time.Millisecond
	}
	if len(o.regions) == 0 {
		o.regions = []ident.Region{"us-east-1", "ap-east-1"}
	}
	hub, err := awsconf.Load(context.Background(), awsconf.Options{
		Region:      "us-east-1",
		Concurrency: max(o.concurrency, 1),
		MaxBackoff:  o.maxBackoff,
		APIOptions:  o.apiOptions,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(url),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	roles, err := awsconf.NewRoles(hub, awsconf.RoleOptions{SessionName: "configreport-scanner", ExpiryWindow: o.expiryWindow})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(hub, roles, Config{Regions: o.regions, Concurrency: o.concurrency, MaxFindings: o.maxFindings, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return &simEnv{sim: sim, url: url, roles: roles, scanner: s, hub: hub}
}

// scannable lists the ACTIVE accounts, sorted.
func scannable(org *awssim.Org) []ident.AccountID {
	var out []ident.AccountID
	for _, a := range org.Accounts {
		if a.Status == awssim.StatusActive {
			out = append(out, ident.AccountID(a.ID))
		}
	}
	slices.Sort(out)
	return out
}

// checkResult compares one result with awssim's ground truth: status, every
// rule with its owner, source, compliance and count, every NON_COMPLIANT
// result, and the errors with their codes and attempts. exact says the sim
// injected no transient faults: then a permanent error must show exactly
// one attempt and the call counts must be exact; otherwise transient
// answers before the refusal add attempts (1 to MaxAttempts).
func checkResult(t testing.TB, sim *awssim.Sim, regions []ident.Region, got *events.AccountScanned, exact bool) {
	t.Helper()
	org := sim.Org()
	acct, ok := org.Account(string(got.AccountID))
	if !ok {
		t.Fatalf("result for unknown account %s", got.AccountID)
	}
	where := "account " + acct.ID
	if err := got.Validate(); err != nil {
		t.Errorf("%s: result does not validate: %v", where, err)
	}
	stats := sim.Stats()
	calls := func(op string) int64 { return stats.Calls[op][acct.ID] }
	// Coverage: one entry per region asked, in the request's order.
	// disabled: an opt-in region the account has not enabled, as
	// DescribeRegions says it (awssim's ground truth), not scanned.
	disabled := func(r ident.Region) bool { return org.OptInStatus(acct.ID, string(r)) == awssim.NotOptedIn }
	var wantCov []events.Coverage
	scanned := 0
	for _, r := range regions {
		c := events.Coverage{Region: r, Read: events.ReadFailed}
		switch {
		case acct.Denied:
		case disabled(r):
			c.Enabled, c.Read = ptr(false), events.ReadSkipped
		case org.RegionFails(acct.ID, string(r)):
			c.Enabled = ptr(true)
			scanned++
		default:
			scanned++
			c.Enabled, c.Read, c.Rules = ptr(true), events.ReadYes, ptr(len(org.Rules(acct.ID, string(r))))
			c.Recorder = ptr(events.Recorder(org.Recorder(acct.ID, string(r))))
		}
		wantCov = append(wantCov, c)
	}
	if !equalCoverage(got.Coverage, wantCov) {
		t.Errorf("%s: coverage %s, want %s", where, covString(got.Coverage), covString(wantCov))
	}

	if acct.Denied {
		want := events.ScanError{Stage: events.StageAssumeRole, Code: "AccessDenied", Attempts: 1}
		if got.Status != events.StatusFailed || len(got.Errors) != 1 || len(got.Rules) != 0 {
			t.Errorf("%s (denied): status %s, %d errors, %d rules; want failed, 1 error, no rules", where, got.Status, len(got.Errors), len(got.Rules))
			return
		}
		e := got.Errors[0]
		if !strings.HasPrefix(e.Message, "AssumeRole: ") {
			t.Errorf("%s (denied): message %q does not name the refused call", where, e.Message)
		}
		e.Message = ""
		if !exact && e.Attempts >= 1 && e.Attempts <= 10 {
			// Transient faults before the refusal count as attempts too.
			e.Attempts = 1
		}
		if e != want {
			t.Errorf("%s (denied): error %+v, want %+v", where, e, want)
		}
		if exact && calls("AssumeRole") != 1 {
			t.Errorf("%s (denied): %d AssumeRole calls, want 1 (AccessDenied is not retried)", where, calls("AssumeRole"))
		}
		for _, op := range []string{"DescribeRegions", "DescribeConfigurationRecorderStatus", "DescribeConfigRules"} {
			if n := calls(op); n != 0 {
				t.Errorf("%s (denied): %d %s calls after a refused AssumeRole", where, n, op)
			}
		}
		return
	}

	var wantRules []events.Rule
	var wantFindings []events.Finding
	var wantErrors []events.ScanError
	for _, r := range regions {
		if disabled(r) {
			continue
		}
		if org.RegionFails(acct.ID, string(r)) {
			wantErrors = append(wantErrors, events.ScanError{Region: r, Stage: events.StageConfig, Code: "UnrecognizedClientException", Attempts: 1})
			continue
		}
		switch org.Recorder(acct.ID, string(r)) {
		case awssim.RecorderNone:
			wantErrors = append(wantErrors, events.ScanError{Region: r, Stage: events.StageRecorder, Code: CodeNoRecorder, Attempts: 1})
		case awssim.RecorderStopped:
			wantErrors = append(wantErrors, events.ScanError{Region: r, Stage: events.StageRecorder, Code: CodeNotRecording, Attempts: 1})
		}
		for _, rule := range org.Rules(acct.ID, string(r)) {
			wantRules = append(wantRules, events.Rule{
				Region: r, Name: rule.Name, Owner: rule.SourceOwner(), SourceIdentifier: rule.SourceIdentifier,
				Compliance: rule.Compliance(), NoncompliantCount: rule.NonCompliantCount(),
			})
			for _, res := range rule.Results {
				if res.Compliance == awssim.NonCompliant {
					wantFindings = append(wantFindings, events.Finding{
						Region: r, Rule: rule.Name, ResourceType: res.ResourceType, ResourceID: res.ResourceID,
						Compliance: events.NonCompliant, Annotation: res.Annotation, RecordedAt: res.RecordedAt.UTC(),
					})
				}
			}
		}
	}
	wantStatus := events.StatusOK
	failedRegions := 0
	for _, e := range wantErrors {
		if e.Stage == events.StageConfig {
			failedRegions++
		}
	}
	if scanned > 0 && failedRegions == scanned {
		wantStatus = events.StatusFailed
	} else if len(wantErrors) > 0 {
		wantStatus = events.StatusPartial
	}
	if got.Status != wantStatus {
		t.Errorf("%s: status %s, want %s (errors %+v)", where, got.Status, wantStatus, got.Errors)
	}

	gotRules := slices.Clone(got.Rules)
	for i := range gotRules {
		if gotRules[i].Owner != "AWS" {
			// A custom rule's SourceIdentifier is its Lambda ARN; the ground
			// truth names it CUSTOM, as the report will.
			if !strings.HasPrefix(gotRules[i].SourceIdentifier, "arn:") {
				t.Errorf("%s: custom rule %s has source %q, want a Lambda ARN", where, gotRules[i].Name, gotRules[i].SourceIdentifier)
			}
			gotRules[i].SourceIdentifier = awssim.CustomSource
		}
	}
	sortRules(gotRules)
	sortRules(wantRules)
	if !slices.Equal(gotRules, wantRules) {
		t.Errorf("%s: rules differ:\n got %v\nwant %v", where, gotRules, wantRules)
	}
	gotFindings := slices.Clone(got.Findings)
	sortFindings(gotFindings)
	sortFindings(wantFindings)
	if !slices.EqualFunc(gotFindings, wantFindings, func(a, b events.Finding) bool { return a == b }) {
		t.Errorf("%s: %d findings, want %d; first difference %s", where, len(gotFindings), len(wantFindings), firstDiff(gotFindings, wantFindings))
	}
	gotErrors := slices.Clone(got.Errors)
	for i := range gotErrors {
		// A failing region's first call, the recorder status, is refused.
		if !strings.HasPrefix(gotErrors[i].Message, "DescribeConfigurationRecorderStatus: ") || len(gotErrors[i].Message) < len("DescribeConfigurationRecorderStatus: x") {
			t.Errorf("%s: error %+v: want the refused call and AWS's message", where, gotErrors[i])
		}
		gotErrors[i].Message = ""
		if !exact && gotErrors[i].Attempts >= 1 && gotErrors[i].Attempts <= 10 {
			gotErrors[i].Attempts = 1 // transient faults before the refusal count too
		}
	}
	if !slices.Equal(gotErrors, wantErrors) {
		t.Errorf("%s: errors %+v, want %+v", where, gotErrors, wantErrors)
	}
	if exact {
		// One DescribeRegions for the account; one recorder status per
		// scanned region; every region read its rules once; a failing
		// region made exactly one call (the recorder's, not retried) and
		// went no further. Both listings come in pages of 25.
		var pages int64
		for _, r := range regions {
			if disabled(r) || org.RegionFails(acct.ID, string(r)) {
				continue
			}
			pages += int64(max(1, (len(org.Rules(acct.ID, string(r)))+24)/25))
		}
		if n := calls("DescribeRegions"); n != 1 {
			t.Errorf("%s: %d DescribeRegions calls, want 1", where, n)
		}
		if n := calls("DescribeConfigurationRecorderStatus"); n != int64(scanned) {
			t.Errorf("%s: %d DescribeConfigurationRecorderStatus calls, want %d (one per scanned region)", where, n, scanned)
		}
		if n := calls("DescribeConfigRules"); n != pages {
			t.Errorf("%s: %d DescribeConfigRules calls, want %d (every page once, none in a failing region)", where, n, pages)
		}
		if n := calls("DescribeComplianceByConfigRule"); n != pages {
			t.Errorf("%s: %d DescribeComplianceByConfigRule calls, want %d", where, n, pages)
		}
	}
}

func covString(cs []events.Coverage) string {
	var b strings.Builder
	for _, c := range cs {
		rules := "nil"
		if c.Rules != nil {
			rules = strconv.Itoa(*c.Rules)
		}
		fmt.Fprintf(&b, "[%s %s rules=%s enabled=%v recorder=%v]", c.Region, c.Read, rules, c.Enabled, c.Recorder)
	}
	return b.String()
}

func sortRules(rs []events.Rule) {
	slices.SortFunc(rs, func(a, b events.Rule) int {
		return strings.Compare(string(a.Region)+"\x00"+a.Name, string(b.Region)+"\x00"+b.Name)
	})
}

func findingKey(f events.Finding) string {
	return strings.Join([]string{string(f.Region), f.Rule, f.ResourceType, f.ResourceID}, "\x00")
}

func sortFindings(fs []events.Finding) {
	slices.SortFunc(fs, func(a, b events.Finding) int { return strings.Compare(findingKey(a), findingKey(b)) })
}

func firstDiff(a, b []events.Finding) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: got %+v want %+v", i, a[i], b[i])
		}
	}
	return "(one is a prefix of the other)"
}

// equalCoverage compares coverage entries field by field, pointers by value.
func equalCoverage(a, b []events.Coverage) bool {
	return slices.EqualFunc(a, b, func(x, y events.Coverage) bool {
		return x.Region == y.Region && x.Read == y.Read && eqPtr(x.Rules, y.Rules) && eqPtr(x.Enabled, y.Enabled) && eqPtr(x.Recorder, y.Recorder)
	})
}

func eqPtr[T comparable](x, y *T) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
