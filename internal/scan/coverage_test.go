package scan

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// TestScanCoverage pins the region-enabled and recorder rules
// (REPORT_FORMAT.md, "What these change on sheets 1-4") against fakes: which
// regions are scanned, their coverage, the errors and the status.
func TestScanCoverage(t *testing.T) {
	const (
		a = ident.Region("us-east-1")
		b = ident.Region("ap-east-1")
	)
	yes, no := ptr(true), ptr(false)
	recording, stopped, none := ptr(events.RecorderRecording), ptr(events.RecorderStopped), ptr(events.RecorderNone)
	type region struct {
		optIn    string // DescribeRegions' OptInStatus; "" not listed
		recorder events.Recorder
		failOp   string
	}
	tests := []struct {
		name       string
		a, b       region
		regionsErr error
		wantCov    []events.Coverage
		wantErrs   []events.ScanError // messages not compared
		wantStatus events.Status
	}{
		{
			name:       "both enabled and recording",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{optIn: "opted-in"},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}},
			wantStatus: events.StatusOK,
		},
		{
			name:       "opt-in region not enabled is skipped, no error",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{optIn: "not-opted-in"},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Enabled: no, Read: events.ReadSkipped}},
			wantStatus: events.StatusOK,
		},
		{
			name:       "no region enabled is OK with nothing scanned",
			a:          region{optIn: "not-opted-in"},
			b:          region{optIn: "not-opted-in"},
			wantCov:    []events.Coverage{{Region: a, Enabled: no, Read: events.ReadSkipped}, {Region: b, Enabled: no, Read: events.ReadSkipped}},
			wantStatus: events.StatusOK,
		},
		{
			name:       "DescribeRegions refused: every region scanned, enabled unknown",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{optIn: "not-opted-in"},
			regionsErr: apiError(403, "UnauthorizedOperation"),
			wantCov:    []events.Coverage{{Region: a, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}},
			wantStatus: events.StatusOK,
		},
		{
			name:       "region DescribeRegions does not list is scanned, enabled unknown",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}},
			wantStatus: events.StatusOK,
		},
		{
			name:       "no recorder: rules still counted, recorder error, partial",
			a:          region{optIn: "opt-in-not-required", recorder: events.RecorderNone},
			b:          region{optIn: "opted-in"},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: none, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}},
			wantErrs:   []events.ScanError{{Region: a, Stage: events.StageRecorder, Code: CodeNoRecorder, Attempts: 1}},
			wantStatus: events.StatusPartial,
		},
		{
			name:       "stopped recorder: rules still counted, recorder error, partial",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{optIn: "opted-in", recorder: events.RecorderStopped},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Enabled: yes, Recorder: stopped, Read: events.ReadYes, Rules: ptr(5)}},
			wantErrs:   []events.ScanError{{Region: b, Stage: events.StageRecorder, Code: CodeNotRecording, Attempts: 1}},
			wantStatus: events.StatusPartial,
		},
		{
			name:       "recorder call fails: one config row, region not read",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{optIn: "opted-in", failOp: "DescribeConfigurationRecorderStatus"},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Enabled: yes, Read: events.ReadFailed}},
			wantErrs:   []events.ScanError{{Region: b, Stage: events.StageConfig, Code: "AccessDeniedException", Attempts: 1}},
			wantStatus: events.StatusPartial,
		},
		{
			name:       "stopped recorder in a region that then fails: one config row",
			a:          region{optIn: "opt-in-not-required"},
			b:          region{optIn: "opted-in", recorder: events.RecorderStopped, failOp: "DescribeConfigRules"},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Recorder: recording, Read: events.ReadYes, Rules: ptr(5)}, {Region: b, Enabled: yes, Recorder: stopped, Read: events.ReadFailed}},
			wantErrs:   []events.ScanError{{Region: b, Stage: events.StageConfig, Code: "AccessDeniedException", Attempts: 1}},
			wantStatus: events.StatusPartial,
		},
		{
			name:       "every enabled region failed is failed, the skipped one aside",
			a:          region{optIn: "opt-in-not-required", failOp: "DescribeConfigurationRecorderStatus"},
			b:          region{optIn: "not-opted-in"},
			wantCov:    []events.Coverage{{Region: a, Enabled: yes, Read: events.ReadFailed}, {Region: b, Enabled: no, Read: events.ReadSkipped}},
			wantErrs:   []events.ScanError{{Region: a, Stage: events.StageConfig, Code: "AccessDeniedException", Attempts: 1}},
			wantStatus: events.StatusFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
			cfgs := map[ident.Region]*fakeConfig{}
			ec := &fakeEC2{optIn: map[ident.Region]string{}, err: tt.regionsErr}
			for r, spec := range map[ident.Region]region{a: tt.a, b: tt.b} {
				f := healthyRegion(at)
				f.recorder = spec.recorder
				f.failOp, f.failPage, f.failErr = spec.failOp, 1, apiError(400, "AccessDeniedException")
				cfgs[r] = f
				if spec.optIn != "" {
					ec.optIn[r] = spec.optIn
				}
			}
			s := fakeScanner(t, fakeRoles{}, cfgs)
			s.newEC2 = func(aws.CredentialsProvider) ec2API { return ec }
			res := s.ScanAccount(context.Background(), events.ScanRequested{RunID: "r1", AccountID: "222222222222", Regions: []ident.Region{a, b}})
			if err := res.Validate(); err != nil {
				t.Fatalf("invalid result: %v", err)
			}
			if n := ec.calls.Load(); n != 1 {
				t.Errorf("%d DescribeRegions calls, want 1", n)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status %s, want %s (errors %+v)", res.Status, tt.wantStatus, res.Errors)
			}
			if !equalCoverage(res.Coverage, tt.wantCov) {
				t.Errorf("coverage %s\nwant     %s", covString(res.Coverage), covString(tt.wantCov))
			}
			var gotErrs []events.ScanError
			for _, e := range res.Errors {
				if e.Message == "" {
					t.Errorf("error %+v without a message", e)
				}
				e.Message = ""
				gotErrs = append(gotErrs, e)
			}
			if len(gotErrs) != len(tt.wantErrs) {
				t.Fatalf("errors %+v, want %+v", gotErrs, tt.wantErrs)
			}
			for i := range gotErrs {
				if gotErrs[i] != tt.wantErrs[i] {
					t.Errorf("error %d: %+v, want %+v", i, gotErrs[i], tt.wantErrs[i])
				}
			}
			// A skipped region gets no call; a read region's rules count.
			wantRules := 0
			for _, c := range tt.wantCov {
				if c.Read == events.ReadSkipped {
					if n := cfgs[c.Region].calls.Load(); n != 0 {
						t.Errorf("%s skipped but got %d Config calls", c.Region, n)
					}
				}
				if c.Read == events.ReadYes {
					wantRules += 5
				}
			}
			if len(res.Rules) != wantRules {
				t.Errorf("%d rules, want %d", len(res.Rules), wantRules)
			}
		})
	}
}

// refuseDescribeRegions answers EC2 DescribeRegions with AWS's refusal
// without sending it, as for a read role that lacks ec2:DescribeRegions.
func refuseDescribeRegions(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("refuseDescribeRegions",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if middleware.GetServiceID(ctx) == "EC2" && middleware.GetOperationName(ctx) == "DescribeRegions" {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// TestScanDescribeRegionsRefused: against awssim, with DescribeRegions
// refused, every region is scanned as before: an opt-in region the account
// has not enabled answers UnrecognizedClientException and is a config row,
// and nothing says whether a region is enabled. Recorders are still read.
func TestScanDescribeRegionsRefused(t *testing.T) {
	regions := []ident.Region{"us-east-1", "ap-east-1"}
	e := newEnv(t, awssim.Config{Org: generated(t, 6, 11), DisabledRegions: 2, NotRecording: 2},
		envOpts{concurrency: 4, apiOptions: []func(*middleware.Stack) error{refuseDescribeRegions}})
	org := e.sim.Org()
	results := scanAll(t, e, regions)
	disabledSeen := 0
	for id, res := range results {
		if err := res.Validate(); err != nil {
			t.Fatalf("%s: invalid result: %v", id, err)
		}
		var wantErrs []events.ScanError
		failed := 0
		for i, r := range regions {
			c := res.Coverage[i]
			if c.Region != r || c.Enabled != nil {
				t.Errorf("%s: coverage %s: want region %s, enabled unknown", id, covString(res.Coverage[i:i+1]), r)
			}
			switch {
			case org.RegionDisabled(string(id), string(r)):
				disabledSeen++
				failed++
				if c.Read != events.ReadFailed {
					t.Errorf("%s %s (not enabled, scanned): read %s, want failed", id, r, c.Read)
				}
				wantErrs = append(wantErrs, events.ScanError{Region: r, Stage: events.StageConfig, Code: "UnrecognizedClientException", Attempts: 1})
			default:
				if c.Read != events.ReadYes || c.Recorder == nil || string(*c.Recorder) != org.Recorder(string(id), string(r)) {
					t.Errorf("%s %s: coverage %s, want read with recorder %s", id, r, covString(res.Coverage[i:i+1]), org.Recorder(string(id), string(r)))
				}
				switch org.Recorder(string(id), string(r)) {
				case awssim.RecorderNone:
					wantErrs = append(wantErrs, events.ScanError{Region: r, Stage: events.StageRecorder, Code: CodeNoRecorder, Attempts: 1})
				case awssim.RecorderStopped:
					wantErrs = append(wantErrs, events.ScanError{Region: r, Stage: events.StageRecorder, Code: CodeNotRecording, Attempts: 1})
				}
			}
		}
		var gotErrs []events.ScanError
		for _, se := range res.Errors {
			se.Message = ""
			gotErrs = append(gotErrs, se)
		}
		if !slices.Equal(gotErrs, wantErrs) {
			t.Errorf("%s: errors %+v, want %+v (no row for DescribeRegions itself)", id, gotErrs, wantErrs)
		}
		want := events.StatusOK
		if failed == len(regions) {
			want = events.StatusFailed
		} else if len(wantErrs) > 0 {
			want = events.StatusPartial
		}
		if res.Status != want {
			t.Errorf("%s: status %s, want %s", id, res.Status, want)
		}
	}
	if disabledSeen != 2 {
		t.Errorf("%d disabled regions scanned, want awssim's 2", disabledSeen)
	}
	// DescribeRegions never reached awssim; every region's recorder was asked.
	st := e.sim.Stats()
	if n := len(st.Calls["DescribeRegions"]); n != 0 {
		t.Errorf("DescribeRegions reached awssim for %d accounts", n)
	}
	for id := range results {
		if n := st.Calls["DescribeConfigurationRecorderStatus"][string(id)]; n != int64(len(regions)) {
			t.Errorf("%s: %d recorder status calls, want %d", id, n, len(regions))
		}
	}
}

func TestDescribeRegionsRegion(t *testing.T) {
	for _, tt := range []struct {
		regions []ident.Region
		want    ident.Region
	}{
		{[]ident.Region{"us-east-1", "ap-east-1"}, "us-east-1"},
		// The kustomize base's order: an opt-in region first.
		{[]ident.Region{"ap-east-1", "ap-southeast-1", "us-east-1"}, "ap-southeast-1"},
		{[]ident.Region{"me-south-1", "af-south-1"}, "me-south-1"},
		{[]ident.Region{"cn-north-1", "cn-northwest-1"}, "cn-north-1"},
	} {
		if got := describeRegionsRegion(tt.regions); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.regions, got, tt.want)
		}
	}
}
