package aggregate

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
)

func ptr[T any](v T) *T { return &v }

// covString is a Coverage row as the sheet shows it, for comparisons.
func covString(c report.Coverage) string {
	enabled, rules := "", ""
	if c.Enabled != nil {
		enabled = fmt.Sprint(*c.Enabled)
	}
	if c.Rules != nil {
		rules = fmt.Sprint(*c.Rules)
	}
	return fmt.Sprintf("%s/%s/%s/%s/%s", c.Region, enabled, c.Recorder, rules, c.Read)
}

// TestConvertCoverage: the result's coverage becomes the account's Coverage
// rows, in the run's regions only; an uncovered region (a held result
// counted at the deadline) is read `failed`, and so is a region the result
// calls read whose rules the report leaves out; a recorder row keeps its
// region's rules.
func TestConvertCoverage(t *testing.T) {
	regionSet := map[ident.Region]bool{"us-east-1": true, "eu-west-1": true}
	rec := func(r events.Recorder) *events.Recorder { return &r }
	yes := func(r ident.Region, recorder events.Recorder, rules int) events.Coverage {
		return events.Coverage{Region: r, Enabled: ptr(true), Recorder: rec(recorder), Rules: ptr(rules), Read: events.ReadYes}
	}
	tests := []struct {
		name      string
		status    events.Status
		errs      []events.ScanError
		cov       []events.Coverage
		uncovered []ident.Region
		want      []string
		wantRules int
	}{
		{"read in full", events.StatusOK, nil,
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1), yes("eu-west-1", events.RecorderRecording, 1)}, nil,
			[]string{"us-east-1/true/recording/1/yes", "eu-west-1/true/recording/1/yes"}, 2},
		{"a recorder row leaves the region read and counted", events.StatusPartial,
			[]events.ScanError{{Region: "eu-west-1", Stage: events.StageRecorder, Code: "NotRecording", Attempts: 1}},
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1), yes("eu-west-1", events.RecorderStopped, 1)}, nil,
			[]string{"us-east-1/true/recording/1/yes", "eu-west-1/true/stopped/1/yes"}, 2},
		{"disabled region skipped, unknown fields empty", events.StatusOK, nil,
			[]events.Coverage{{Region: "us-east-1", Read: events.ReadYes, Rules: ptr(1)}, {Region: "eu-west-1", Enabled: ptr(false), Read: events.ReadSkipped}}, nil,
			[]string{"us-east-1///1/yes", "eu-west-1/false///skipped"}, 1},
		{"uncovered region of a held result: failed", events.StatusOK, nil,
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1)}, []ident.Region{"eu-west-1"},
			[]string{"us-east-1/true/recording/1/yes", "eu-west-1////failed"}, 1},
		{"read yes but a config row there: failed, no rules", events.StatusPartial,
			[]events.ScanError{{Region: "eu-west-1", Stage: events.StageConfig, Code: "Throttling", Attempts: 5}},
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1), yes("eu-west-1", events.RecorderRecording, 1)}, nil,
			[]string{"us-east-1/true/recording/1/yes", "eu-west-1/true/recording//failed"}, 1},
		{"FAILED: read regions become failed, skipped stays", events.StatusFailed,
			[]events.ScanError{{Stage: events.StageAssumeRole, Code: "AccessDenied", Attempts: 1}},
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1), {Region: "eu-west-1", Enabled: ptr(false), Read: events.ReadSkipped}}, nil,
			[]string{"us-east-1/true/recording//failed", "eu-west-1/false///skipped"}, 0},
		{"a region listed twice: the first entry stands", events.StatusOK, nil,
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1), yes("eu-west-1", events.RecorderRecording, 1), yes("us-east-1", events.RecorderNone, 7)}, nil,
			[]string{"us-east-1/true/recording/1/yes", "eu-west-1/true/recording/1/yes"}, 2},
		{"a region the run does not configure is left out", events.StatusOK, nil,
			[]events.Coverage{yes("us-east-1", events.RecorderRecording, 1), yes("eu-west-1", events.RecorderRecording, 1), yes("ap-east-1", events.RecorderNone, 0)}, nil,
			[]string{"us-east-1/true/recording/1/yes", "eu-west-1/true/recording/1/yes"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &events.AccountScanned{RunID: runID, AccountID: "111111111111", Status: tt.status, Errors: tt.errs, Coverage: tt.cov,
				Rules: []events.Rule{
					{Region: "us-east-1", Name: "r", Owner: "AWS", Compliance: events.Compliant},
					{Region: "eu-west-1", Name: "r", Owner: "AWS", Compliance: events.Compliant},
				}}
			c := convert(res, events.Account{}, regionSet, tt.uncovered)
			var got []string
			for _, cv := range c.account.Coverage {
				got = append(got, covString(cv))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("coverage %q\nwant     %q", got, tt.want)
			}
			if len(c.account.Rules) != tt.wantRules {
				t.Errorf("%d rules, want %d", len(c.account.Rules), tt.wantRules)
			}
		})
	}
}

// TestOwnerColumnsAndCoverageSheet: -owner-tags' entries become columns at
// the right end of Summary, Non-compliant Resources, Errors and Coverage,
// the first alternative an account has winning; the Coverage sheet shows
// each account's regions, a missing account's as `missing`.
func TestOwnerColumnsAndCoverageSheet(t *testing.T) {
	tags, err := events.ParseOwnerTags("Owner|owner,Team")
	if err != nil {
		t.Fatal(err)
	}
	rs := runStarted()
	rs.Accounts[0].Tags = map[string]string{"Owner": "pay@example.com", "owner": "ignored", "Team": "Payments"} // 111111111111
	rs.Accounts[1].Tags = map[string]string{"owner": "sand@example.com", "Owner": ""}                           // 012345678901
	rs.Accounts = append(rs.Accounts, events.Account{AccountID: "333333333333", Name: "gone", OUPath: "Root", Tags: map[string]string{"Team": "Ghosts"}})
	msgs := []*message.Message{mustMsg(t, rs)}
	for _, r := range results() {
		msgs = append(msgs, mustMsg(t, r))
	}
	e := newEnv(t)
	a := e.aggregator("replica-a", func(c *Config, _ *Deps) { c.OwnerTags = tags })
	handleAll(t, a, msgs)
	e.clock.Add(time.Hour) // past the deadline: 333333333333 is MISSING
	a.Check(context.Background())
	ups := e.blob.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1", len(ups))
	}
	data := ups[0].body
	checkRows(t, "Summary", rows(t, data, report.SheetSummary)[9:], [][]string{
		{"Account ID", "Account Name", "OU Path", "Rules Evaluated", "Compliant Rules", "Non-compliant Rules", "Non-compliant Resources", "Compliance %", "Scan Status", "Owner", "Team"},
		{"012345678901", "sandbox", "Root", "2", "1", "1", "1", "50.0%", "OK", "sand@example.com", ""},
		{"111111111111", "payments-prod", "Root/Prod/Payments", "3", "1", "2", "4", "33.3%", "PARTIAL", "pay@example.com", "Payments"},
		{"222222222222", "locked-down", "Root/Prod", "", "", "", "", "", "FAILED", "", ""},
		{"333333333333", "gone", "Root", "", "", "", "", "", "MISSING", "", "Ghosts"},
	})
	if f := rows(t, data, report.SheetFindings); len(f) < 2 || !slices.Equal(f[0][10:], []string{"Owner", "Team"}) || !slices.Equal(f[1][10:], []string{"sand@example.com"}) {
		t.Errorf("findings owner columns: %q", f[:min(2, len(f))])
	}
	checkRows(t, "Errors", rows(t, data, report.SheetErrors), [][]string{
		{"Account ID", "Account Name", "Region", "Stage", "Error Code", "Message", "Attempts", "Owner", "Team"},
		{"111111111111", "payments-prod", "eu-west-1", "config", "ThrottlingException", "Rate exceeded", "5", "pay@example.com", "Payments"},
		{"222222222222", "locked-down", "", "assume-role", "AccessDenied", "not authorized to perform sts:AssumeRole", "1", "", ""},
		{"333333333333", "gone", "", "missing", "NoResult", "no result before the deadline", "0", "", "Ghosts"},
	})
	checkRows(t, "Coverage", rows(t, data, report.SheetCoverage), [][]string{
		{"Account ID", "Account Name", "Region", "Region Enabled", "Config Recorder", "Rules", "Read", "Owner", "Team"},
		{"012345678901", "sandbox", "us-east-1", "", "", "", "yes", "sand@example.com", ""},
		{"012345678901", "sandbox", "eu-west-1", "", "", "", "yes", "sand@example.com", ""},
		{"111111111111", "payments-prod", "us-east-1", "", "", "", "yes", "pay@example.com", "Payments"},
		{"111111111111", "payments-prod", "eu-west-1", "", "", "", "failed", "pay@example.com", "Payments"},
		{"222222222222", "locked-down", "us-east-1", "", "", "", "failed", "", ""},
		{"222222222222", "locked-down", "eu-west-1", "", "", "", "failed", "", ""},
		{"333333333333", "gone", "us-east-1", "", "", "", "missing", "", "Ghosts"},
		{"333333333333", "gone", "eu-west-1", "", "", "", "missing", "", "Ghosts"},
	})
}
