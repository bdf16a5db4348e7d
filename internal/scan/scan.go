// Package scan is the scanner stage: for one account it assumes the read
// role from the hub's identity, reads AWS Config in every requested region
// (DescribeConfigRules, DescribeComplianceByConfigRule, and
// GetComplianceDetailsByConfigRule for the non-compliant rules, every page)
// and returns an events.AccountScanned, whatever failed. Handle is its
// watermill handler: it turns a ScanRequested (or a hand-written ad-hoc
// message) into a published result. It trusts a request only as far as it
// must: its regions must be among the configured ones (an empty list means
// all of them), and a hand-written request's account must be ACTIVE in the
// organisation, named from Organizations and never from the message.
//
// It is not a retry policy (the SDK's retryer, configured in
// internal/awsconf, retries transient errors; awserr classifies them) and
// not the aggregator: it counts nothing across accounts.
//
// A region counts whole or not at all: when any of its calls fails for
// good, none of its rules or findings are kept and the region is one
// ScanError, with coverage read "failed". The one exception is the findings
// cap (Config.MaxFindings, per account): the region in which the account's
// findings pass it stops reading, keeps what it read, and is still counted
// as not read (coverage "failed", a Truncated error), so that the findings
// it did not read are never taken as resolved. Every result has one
// coverage entry per region asked, in the request's order.
//
// Before its regions, the scan asks the account which regions it has
// enabled: one EC2 DescribeRegions (AllRegions) with the read role, sent to
// the first configured region that AWS enables in every account (see
// describeRegionsRegion: an endpoint in a region the account has not
// enabled would refuse the question itself). A region the account has not
// opted into is not scanned and is no error (coverage read "skipped"); when
// DescribeRegions fails, every region is scanned as before and their
// enabled state is unknown. Each scanned region starts with
// DescribeConfigurationRecorderStatus: a region without a recorder, or with
// a stopped one, is still read and counted (its rules and results are the
// last known state; hiding them would let anyone hide findings by stopping
// the recorder), and gets a "recorder" error (NoRecorder or NotRecording)
// that makes the account partial. Its failure is the region's failure, as
// for any other call.
//
// Calls in flight are bounded per process, not per account, and
// per attempt, not per account-region: the hub configuration's in-flight
// limit (internal/awsconf, -concurrency slots shared by every client built
// from it) holds a slot only while a call is on the wire, never during a
// retry's backoff or a throttled region's wait. An account-region's calls
// are sequential, so the account-regions in progress are the messages in
// hand times their regions; under throttling most of them are waiting,
// and many more of them than slots keep the slots busy. (A pool slot held
// for a whole account-region, as before, let 16 slots cover only 16
// account-regions, each mostly asleep in backoff: the 5,000-account load
// run drained at 21 accounts/s whatever the messages in hand.)
package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/awsconf/awserr"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// DefaultConcurrency is -concurrency's default: the design's "20+
// concurrent scans".
const DefaultConcurrency = 20

// DefaultMaxFindings is -max-findings' default: the findings one account's
// result may hold. A finding is some 300 bytes in memory and 280 of JSON
// in the claim-check payload, so the cap keeps one account's result near
// 150 MB (under events.DefaultMaxPayload) instead of an OOM kill, which
// would turn the account into MISSING; real accounts have thousands.
const DefaultMaxFindings = 500000

// Config's API limits.
const (
	// detailsLimit is GetComplianceDetailsByConfigRule's largest page
	// (Config answers InvalidParameterValueException above 100).
	detailsLimit = 100
	// maxPages bounds every listing: Config's page sizes (25 rules, 100
	// results) make this millions of items; past it the endpoint is
	// misbehaving and the region fails instead of looping.
	maxPages = 100000
)

// configAPI is the part of *configservice.Client the scanner calls.
type configAPI interface {
	DescribeConfigRules(ctx context.Context, in *configservice.DescribeConfigRulesInput, optFns ...func(*configservice.Options)) (*configservice.DescribeConfigRulesOutput, error)
	DescribeComplianceByConfigRule(ctx context.Context, in *configservice.DescribeComplianceByConfigRuleInput, optFns ...func(*configservice.Options)) (*configservice.DescribeComplianceByConfigRuleOutput, error)
	GetComplianceDetailsByConfigRule(ctx context.Context, in *configservice.GetComplianceDetailsByConfigRuleInput, optFns ...func(*configservice.Options)) (*configservice.GetComplianceDetailsByConfigRuleOutput, error)
	DescribeConfigurationRecorderStatus(ctx context.Context, in *configservice.DescribeConfigurationRecorderStatusInput, optFns ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecorderStatusOutput, error)
}

// ec2API is the part of *ec2.Client the scanner calls.
type ec2API interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// Error codes of the recorder stage (REPORT_FORMAT.md, "Config not
// recording").
const (
	CodeNoRecorder   = "NoRecorder"
	CodeNotRecording = "NotRecording"
)

// RoleSource hands out cached credentials of a role assumed from the hub;
// *awsconf.Roles is the production one.
type RoleSource interface {
	Credentials(role ident.RoleARN) aws.CredentialsProvider
}

// Config configures a Scanner.
type Config struct {
	// ReadRoleName is the role assumed in each account; default
	// events.DefaultReadRoleName.
	ReadRoleName ident.RoleName
	// Partition of the role ARNs; default "aws".
	Partition string
	// Regions are scanned when a request names none (-regions). Required.
	Regions []ident.Region
	// Concurrency bounds the AWS calls in flight in the process; default
	// DefaultConcurrency.
	Concurrency int
	// MaxFindings caps the findings of one account (-max-findings): the
	// region in which they would pass it stops reading (see the package
	// comment); default DefaultMaxFindings.
	MaxFindings int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ReadRoleName == "" {
		c.ReadRoleName = events.DefaultReadRoleName
	}
	if c.Partition == "" {
		c.Partition = "aws"
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxFindings == 0 {
		c.MaxFindings = DefaultMaxFindings
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := ident.ParseRoleName(string(c.ReadRoleName)); err != nil {
		errs = append(errs, fmt.Errorf("read role name: %w", err))
	}
	if _, err := ident.ParseRoleARN(ident.RoleIn(c.Partition, "000000000000", "x").String()); err != nil {
		errs = append(errs, fmt.Errorf("partition %q: unknown", c.Partition))
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("regions: none given"))
	}
	seen := map[ident.Region]bool{}
	for _, r := range c.Regions {
		if _, err := ident.ParseRegion(string(r)); err != nil {
			errs = append(errs, fmt.Errorf("regions: %w", err))
		}
		if seen[r] {
			errs = append(errs, fmt.Errorf("regions: %s listed twice", r))
		}
		seen[r] = true
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want at least 1", c.Concurrency))
	}
	if c.MaxFindings < 1 {
		errs = append(errs, fmt.Errorf("max findings %d: want at least 1", c.MaxFindings))
	}
	return errors.Join(errs...)
}

// Scanner scans accounts. It is safe for concurrent use; one Scanner per
// process, so that its pool bounds the process's calls in flight.
type Scanner struct {
	cfg   Config
	log   *slog.Logger
	roles RoleSource
	// newConfig builds the Config client of one account-region scan. A
	// client per scan gives each (account, region) its own pacer, as AWS
	// throttles per account and region (awsconf, pace.go).
	newConfig func(creds aws.CredentialsProvider, region ident.Region) configAPI
	// newEC2 builds the EC2 client of one account's DescribeRegions.
	newEC2 func(creds aws.CredentialsProvider) ec2API
	now    func() time.Time
	// started counts the accounts whose scan has begun: each account's
	// calls wait for a call slot in that order (awsconf.WithCallPriority),
	// so the oldest account in hand is served first.
	started atomic.Uint64
}

// New returns a Scanner reading Config with clients built from hub (its
// endpoint, retryer, HTTP client and middleware), as roles assumed through
// roles.
func New(hub aws.Config, roles RoleSource, cfg Config) (*Scanner, error) {
	cfg.setDefaults()
	errs := []error{cfg.Validate()}
	if roles == nil {
		errs = append(errs, errors.New("role source: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scanner config: %w", err)
	}
	endpoints := newConfigEndpoints()
	ec2Region := describeRegionsRegion(cfg.Regions)
	return &Scanner{
		cfg:   cfg,
		log:   cfg.Logger,
		roles: roles,
		newConfig: func(creds aws.CredentialsProvider, region ident.Region) configAPI {
			return configservice.NewFromConfig(hub, func(o *configservice.Options) {
				o.Region = string(region)
				o.Credentials = creds
				// The client has the SDK's default resolver by now; one set
				// by the configuration (another type) is left alone.
				if reflect.TypeOf(o.EndpointResolverV2) == defaultResolverType {
					o.EndpointResolverV2 = endpoints
				}
			})
		},
		newEC2: func(creds aws.CredentialsProvider) ec2API {
			return ec2.NewFromConfig(hub, func(o *ec2.Options) {
				o.Region = string(ec2Region)
				o.Credentials = creds
			})
		},
		now: time.Now,
	}, nil
}

// Regions are the regions scanned when a request names none.
func (s *Scanner) Regions() []ident.Region { return append([]ident.Region(nil), s.cfg.Regions...) }

// ScanAccount scans req.AccountID in req.Regions (the configured regions
// when it names none) for run req.RunID. It always returns a result: every
// failure is in its Errors, and its Status says how much of the account it
// covers. req must have been validated (events.ScanRequested.Validate) and
// carry a run id. When ctx ends mid-scan the result says so with
// RequestCanceled or RequestTimeout errors; callers that are shutting down
// should drop it rather than publish it.
func (s *Scanner) ScanAccount(ctx context.Context, req events.ScanRequested) *events.AccountScanned {
	start := s.now()
	ctx = awsconf.WithCallPriority(ctx, s.started.Add(1))
	regions := req.Regions
	if len(regions) == 0 {
		regions = s.cfg.Regions
	}
	res := &events.AccountScanned{
		RunID:     req.RunID,
		AccountID: req.AccountID,
		Rules:     []events.Rule{},
		Findings:  []events.Finding{},
		Errors:    []events.ScanError{},
		Coverage:  make([]events.Coverage, 0, len(regions)),
	}
	log := s.log.With(slog.String("run_id", string(req.RunID)), slog.String("account_id", string(req.AccountID)))
	defer func() {
		res.ScannedAt = s.now().UTC()
		res.DurationMS = res.ScannedAt.Sub(start).Milliseconds()
		log.Info("account scanned", slog.String("status", string(res.Status)),
			slog.Int("regions", len(regions)), slog.Int("rules", len(res.Rules)),
			slog.Int("findings", len(res.Findings)), slog.Int("errors", len(res.Errors)),
			slog.Int64("duration_ms", res.DurationMS))
	}()

	role := ident.RoleIn(s.cfg.Partition, req.AccountID, s.cfg.ReadRoleName)
	creds := s.roles.Credentials(role)
	if err := s.assume(ctx, creds); err != nil {
		res.Status = events.StatusFailed
		res.Errors = append(res.Errors, scanError("", events.StageAssumeRole, err))
		for _, r := range regions {
			res.Coverage = append(res.Coverage, events.Coverage{Region: r, Read: events.ReadFailed})
		}
		log.Warn("assume read role failed", slog.String("role", role.String()),
			slog.String("code", awserr.Code(err)), slog.String("error", awserr.Message(err)))
		return res
	}

	enabled := s.enabledRegions(ctx, log, creds, regions)
	scan := make([]int, 0, len(regions)) // indexes of the regions scanned
	for i := range regions {
		if e := enabled[i]; e == nil || *e {
			scan = append(scan, i)
		}
	}

	// Regions run side by side; results are merged in the requested order
	// so the event does not depend on timing.
	// The last region runs on this goroutine, whose stack AssumeRole has
	// already grown to the SDK's depth: a fresh goroutine grows its stack
	// again, copying it several times, for every call path it takes.
	outs := make([]regionResult, len(regions))
	left := &findingsLeft{}
	left.n.Store(int64(s.cfg.MaxFindings))
	var wg sync.WaitGroup
	for j, i := range scan {
		region := regions[i]
		run := func() {
			outs[i] = s.scanRegion(ctx, s.newConfig(creds, region), region, left)
		}
		if j == len(scan)-1 {
			run()
		} else {
			wg.Go(run)
		}
	}
	wg.Wait()

	failed, truncated, notRecording := 0, 0, 0
	for i, out := range outs {
		region := regions[i]
		cov := events.Coverage{Region: region, Enabled: enabled[i], Recorder: out.recorder, Read: events.ReadFailed}
		if e := enabled[i]; e != nil && !*e {
			// Not enabled: not scanned, and no error.
			cov.Read = events.ReadSkipped
			res.Coverage = append(res.Coverage, cov)
			continue
		}
		switch {
		case out.err != nil:
			// One config row for the region, whatever the recorder said.
			failed++
			res.Errors = append(res.Errors, scanError(region, events.StageConfig, out.err))
			log.Warn("region failed", slog.String("region", string(region)),
				slog.String("code", awserr.Code(out.err)), slog.Int("attempts", awserr.Attempts(out.err)),
				slog.String("error", awserr.Message(out.err)))
			res.Coverage = append(res.Coverage, cov)
			continue
		case out.truncated:
			// What was read before the cap is kept; the region still
			// counts as not read.
			truncated++
			res.Errors = append(res.Errors, events.ScanError{
				Region: region, Stage: events.StageConfig, Code: events.CodeTruncated, Attempts: 1,
				Message: fmt.Sprintf("the account has more findings than the cap of %d (-max-findings): %d findings of this region kept, the rest of the region not read",
					s.cfg.MaxFindings, len(out.findings)),
			})
			log.Warn("region truncated at the findings cap", slog.String("region", string(region)),
				slog.Int("max_findings", s.cfg.MaxFindings), slog.Int("kept", len(out.findings)))
		default:
			cov.Read = events.ReadYes
			cov.Rules = ptr(len(out.rules))
		}
		res.Rules = append(res.Rules, out.rules...)
		res.Findings = append(res.Findings, out.findings...)
		if se, ok := recorderError(region, *out.recorder, out.stopped); ok {
			notRecording++
			res.Errors = append(res.Errors, se)
			log.Warn("config not recording", slog.String("region", string(region)), slog.String("recorder", string(*out.recorder)))
		}
		res.Coverage = append(res.Coverage, cov)
	}
	switch {
	case len(scan) > 0 && failed == len(scan):
		res.Status = events.StatusFailed
	case failed > 0 || truncated > 0 || notRecording > 0:
		// A truncated region read something: the account is partial even
		// when no region was read whole.
		res.Status = events.StatusPartial
	default:
		// Every scanned region read, recorders recording; an account with
		// none of the regions enabled is OK with nothing scanned.
		res.Status = events.StatusOK
	}
	return res
}

// enabledRegions asks the account which of regions it has enabled (one EC2
// DescribeRegions with AllRegions, answered by the read role): per region,
// false for an opt-in region it has not opted into, true for any other
// region DescribeRegions lists, nil when it does not list it or the call
// failed (after the SDK's retries), in which case every region is scanned.
func (s *Scanner) enabledRegions(ctx context.Context, log *slog.Logger, creds aws.CredentialsProvider, regions []ident.Region) []*bool {
	out := make([]*bool, len(regions))
	resp, err := s.newEC2(creds).DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		log.Warn("describe regions failed: every region is scanned", slog.String("code", awserr.Code(err)),
			slog.Int("attempts", awserr.Attempts(err)), slog.String("error", awserr.Message(err)))
		return out
	}
	status := make(map[string]string, len(resp.Regions))
	for _, r := range resp.Regions {
		status[aws.ToString(r.RegionName)] = aws.ToString(r.OptInStatus)
	}
	for i, r := range regions {
		st, ok := status[string(r)]
		if !ok {
			continue // not listed: unknown, scanned
		}
		out[i] = ptr(st != notOptedIn)
	}
	return out
}

// enabledEverywhere are the regions AWS enables in every account of the
// aws partition: those launched before March 2019. Every region since is
// opt-in, so the list is closed.
var enabledEverywhere = map[ident.Region]bool{
	"ap-northeast-1": true, "ap-northeast-2": true, "ap-northeast-3": true, "ap-south-1": true,
	"ap-southeast-1": true, "ap-southeast-2": true, "ca-central-1": true, "eu-central-1": true,
	"eu-north-1": true, "eu-west-1": true, "eu-west-2": true, "eu-west-3": true, "sa-east-1": true,
	"us-east-1": true, "us-east-2": true, "us-west-1": true, "us-west-2": true,
}

// describeRegionsRegion is the region whose EC2 endpoint DescribeRegions
// is sent to (any region answers for all of them): the first configured
// region AWS enables in every account, else the first configured one (in
// other partitions, which have no opt-in regions, or when only opt-in
// regions are configured: then an account without the first one falls
// back to scanning every region).
func describeRegionsRegion(regions []ident.Region) ident.Region {
	for _, r := range regions {
		if enabledEverywhere[r] {
			return r
		}
	}
	return regions[0]
}

// notOptedIn is DescribeRegions' OptInStatus of an opt-in region the
// account has not enabled.
const notOptedIn = "not-opted-in"

// recorderError is the recorder-stage error of a region whose recorder is
// missing or stopped; ok false when it is recording.
func recorderError(region ident.Region, rec events.Recorder, stopped []string) (events.ScanError, bool) {
	const tail = "; its rules and results are still read, as the last known state"
	switch rec {
	case events.RecorderNone:
		return events.ScanError{Region: region, Stage: events.StageRecorder, Code: CodeNoRecorder, Attempts: 1,
			Message: "DescribeConfigurationRecorderStatus: no AWS Config configuration recorder in this region" + tail}, true
	case events.RecorderStopped:
		return events.ScanError{Region: region, Stage: events.StageRecorder, Code: CodeNotRecording, Attempts: 1,
			Message: "DescribeConfigurationRecorderStatus: configuration recorder " + strings.Join(stopped, ", ") + " is not recording" + tail}, true
	default:
		return events.ScanError{}, false
	}
}

func ptr[T any](v T) *T { return &v }

// findingsLeft is what remains of an account's findings cap, shared by its
// regions (which run side by side). It goes below zero once the cap is
// passed and stays there.
type findingsLeft struct{ n atomic.Int64 }

// take reserves room for one finding; false once the cap is reached.
func (l *findingsLeft) take() bool { return l.n.Add(-1) >= 0 }

// assume gets the read role's credentials up front, so that a refused
// AssumeRole is an account-wide assume-role error and not one config error
// per region. Later refreshes (a long scan outliving the session) happen
// inside the Config calls.
func (s *Scanner) assume(ctx context.Context, creds aws.CredentialsProvider) error {
	_, err := creds.Retrieve(ctx)
	return err
}

func scanError(region ident.Region, stage string, err error) events.ScanError {
	attempts := awserr.Attempts(err)
	if attempts == 0 {
		// No count came back (the call never reached the retry loop, or
		// the context ended first): one try was started.
		attempts = 1
	}
	// The report's reader needs to know which call was refused.
	msg := awserr.Describe(err)
	return events.ScanError{Region: region, Stage: stage, Code: awserr.Code(err), Message: msg, Attempts: attempts}
}

type regionResult struct {
	// recorder is the region's Config recorder as read, nil when its call
	// failed or was not made; stopped names the recorders not recording.
	recorder *events.Recorder
	stopped  []string
	rules    []events.Rule
	findings []events.Finding
	err      error
	// truncated: the account's findings cap was reached in this region;
	// rules and findings hold what was read before it.
	truncated bool
}

// scanRegion reads one account-region: its recorder's status, then its
// rules and results. Its calls are sequential.
func (s *Scanner) scanRegion(ctx context.Context, api configAPI, region ident.Region, left *findingsLeft) regionResult {
	rs, err := api.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
	if err != nil {
		return regionResult{err: fmt.Errorf("describe configuration recorder status: %w", err)}
	}
	rec, stopped := recorderState(rs.ConfigurationRecordersStatus)
	out := s.readRegion(ctx, api, region, left)
	out.recorder, out.stopped = &rec, stopped
	return out
}

// recorderState is a region's recorder state: none without a recorder,
// recording when any recorder records, else stopped, with the names of the
// stopped ones.
func recorderState(st []types.ConfigurationRecorderStatus) (events.Recorder, []string) {
	if len(st) == 0 {
		return events.RecorderNone, nil
	}
	var stopped []string
	for _, r := range st {
		if r.Recording {
			return events.RecorderRecording, nil
		}
		stopped = append(stopped, aws.ToString(r.Name))
	}
	return events.RecorderStopped, stopped
}

// readRegion reads the rules and results of one account-region.
func (s *Scanner) readRegion(ctx context.Context, api configAPI, region ident.Region, left *findingsLeft) regionResult {
	type ruleInfo struct{ owner, source string }
	var (
		names []string
		info  = map[string]ruleInfo{}
	)
	rp := configservice.NewDescribeConfigRulesPaginator(api, &configservice.DescribeConfigRulesInput{},
		func(o *configservice.DescribeConfigRulesPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pages := 0; rp.HasMorePages(); pages++ {
		if pages == maxPages {
			return regionResult{err: fmt.Errorf("describe config rules: more than %d pages", maxPages)}
		}
		page, err := rp.NextPage(ctx)
		if err != nil {
			return regionResult{err: fmt.Errorf("describe config rules: %w", err)}
		}
		for _, r := range page.ConfigRules {
			name := aws.ToString(r.ConfigRuleName)
			if name == "" {
				continue // Config never sends one; an unnamed rule cannot be reported
			}
			if _, dup := info[name]; dup {
				continue // names are unique per account-region; a repeated page must not double-count
			}
			ri := ruleInfo{}
			if r.Source != nil {
				ri = ruleInfo{owner: string(r.Source.Owner), source: aws.ToString(r.Source.SourceIdentifier)}
			}
			names = append(names, name)
			info[name] = ri
		}
	}

	compliance := map[string]string{}
	cp := configservice.NewDescribeComplianceByConfigRulePaginator(api, &configservice.DescribeComplianceByConfigRuleInput{},
		func(o *configservice.DescribeComplianceByConfigRulePaginatorOptions) { o.StopOnDuplicateToken = true })
	for pages := 0; cp.HasMorePages(); pages++ {
		if pages == maxPages {
			return regionResult{err: fmt.Errorf("describe compliance by config rule: more than %d pages", maxPages)}
		}
		page, err := cp.NextPage(ctx)
		if err != nil {
			return regionResult{err: fmt.Errorf("describe compliance by config rule: %w", err)}
		}
		for _, c := range page.ComplianceByConfigRules {
			if c.Compliance != nil && c.Compliance.ComplianceType != "" {
				compliance[aws.ToString(c.ConfigRuleName)] = string(c.Compliance.ComplianceType)
			}
		}
	}

	out := regionResult{rules: make([]events.Rule, 0, len(names)), findings: []events.Finding{}}
	for _, name := range names {
		rule := events.Rule{
			Region: region, Name: name,
			Owner: info[name].owner, SourceIdentifier: info[name].source,
			Compliance: ruleCompliance(compliance[name]),
		}
		if rule.Compliance == events.NonCompliant {
			findings, full, err := s.noncompliant(ctx, api, region, name, left)
			if err != nil {
				return regionResult{err: err}
			}
			rule.NoncompliantCount = len(findings)
			out.findings = append(out.findings, findings...)
			if !full {
				// The cap: no further rule of the region is read.
				out.rules = append(out.rules, rule)
				out.truncated = true
				return out
			}
		}
		out.rules = append(out.rules, rule)
	}
	return out
}

// ruleCompliance maps Config's answer to the rule's compliance: a rule
// DescribeComplianceByConfigRule does not list has not been evaluated.
func ruleCompliance(c string) string {
	switch c {
	case events.Compliant, events.NonCompliant, events.NotApplicable:
		return c
	default:
		return events.InsufficientData
	}
}

// noncompliant reads every NON_COMPLIANT evaluation result of a rule; the
// count comes from these, never from Describe's capped counts. Each one
// kept takes room from left; when there is none it stops at once and
// returns what it kept with full false, so an account's findings in memory
// never pass the cap by more than a page.
func (s *Scanner) noncompliant(ctx context.Context, api configAPI, region ident.Region, rule string, left *findingsLeft) (_ []events.Finding, full bool, _ error) {
	var out []events.Finding
	p := configservice.NewGetComplianceDetailsByConfigRulePaginator(api, &configservice.GetComplianceDetailsByConfigRuleInput{
		ConfigRuleName:  aws.String(rule),
		ComplianceTypes: []types.ComplianceType{types.ComplianceTypeNonCompliant},
	}, func(o *configservice.GetComplianceDetailsByConfigRulePaginatorOptions) {
		o.Limit = detailsLimit
		o.StopOnDuplicateToken = true
	})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == maxPages {
			return nil, false, fmt.Errorf("compliance details of %s: more than %d pages", rule, maxPages)
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("compliance details of %s: %w", rule, err)
		}
		for _, r := range page.EvaluationResults {
			f := events.Finding{
				Region:     region,
				Rule:       rule,
				Compliance: string(r.ComplianceType),
				Annotation: aws.ToString(r.Annotation),
			}
			if r.ResultRecordedTime != nil {
				f.RecordedAt = r.ResultRecordedTime.UTC()
			}
			if id := r.EvaluationResultIdentifier; id != nil && id.EvaluationResultQualifier != nil {
				f.ResourceType = aws.ToString(id.EvaluationResultQualifier.ResourceType)
				f.ResourceID = aws.ToString(id.EvaluationResultQualifier.ResourceId)
			}
			switch f.Compliance {
			case events.Compliant, events.NonCompliant, events.NotApplicable, events.InsufficientData:
			default:
				// Asked for NON_COMPLIANT only; a value this code does not
				// know must not make the result undeliverable.
				f.Compliance = events.NonCompliant
			}
			if f.ResourceType == "" || f.ResourceID == "" {
				s.log.Warn("evaluation result without a resource skipped", slog.String("region", string(region)), slog.String("rule", rule))
				continue
			}
			if !left.take() {
				return out, false, nil
			}
			out = append(out, f)
		}
	}
	return out, true, nil
}

// maxCachedEndpoints bounds configEndpoints: one entry per region (and
// endpoint override) scanned, so a few dozen at most.
const maxCachedEndpoints = 256

// configEndpoints is the SDK's endpoint resolver for Config, remembering
// its answers. The SDK evaluates the endpoint rule set on every call (every
// page); the answer depends on the parameters alone (region, FIPS, dual
// stack, endpoint override), which are the same for every call to a region.
// Shared by every client of a Scanner; the endpoints it returns are shared
// too, and the SDK only reads them.
type configEndpoints struct {
	next configservice.EndpointResolverV2
	mu   sync.Mutex
	m    map[configEndpointKey]smithyendpoints.Endpoint
}

type configEndpointKey struct {
	region, endpoint  string
	hasRegion, hasURL bool
	dualStack, fips   int8 // 0 unset, 1 false, 2 true
}

// defaultResolverType is the type of the SDK's own resolver, which every
// client gets before its option functions run.
var defaultResolverType = reflect.TypeOf(configservice.NewDefaultEndpointResolverV2())

func newConfigEndpoints() *configEndpoints {
	return &configEndpoints{next: configservice.NewDefaultEndpointResolverV2(), m: map[configEndpointKey]smithyendpoints.Endpoint{}}
}

func tri(b *bool) int8 {
	switch {
	case b == nil:
		return 0
	case *b:
		return 2
	default:
		return 1
	}
}

func (c *configEndpoints) ResolveEndpoint(ctx context.Context, p configservice.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := configEndpointKey{
		region: aws.ToString(p.Region), hasRegion: p.Region != nil,
		endpoint: aws.ToString(p.Endpoint), hasURL: p.Endpoint != nil,
		dualStack: tri(p.UseDualStack), fips: tri(p.UseFIPS),
	}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := c.next.ResolveEndpoint(ctx, p)
	if err != nil {
		return e, err // not cached: the error is the caller's to see every time
	}
	c.mu.Lock()
	if len(c.m) < maxCachedEndpoints {
		c.m[k] = e
	}
	c.mu.Unlock()
	return e, nil
}
