package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/runstatus"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// runStatus runs `configreport` (the operator's binary, built beside the
// others: it is not in the image) against dynalite and returns its
// stdout, stderr and exit status.
func runStatus(t *testing.T, bin string, ep harness.Endpoints, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(harness.BaseEnv(), "AWS_ACCESS_KEY_ID=AKIDHUB", "AWS_SECRET_ACCESS_KEY=hubsecret",
		"AWS_REGION="+harness.Region, "AWS_ENDPOINT_URL_DYNAMODB="+ep.DynamoDB)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("configreport %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// wantRun is a run as `configreport runs` must list it.
type wantRun struct {
	runstatus.Row
	checkTicket bool
}

// checkRunsList lists the table's runs as JSON until each of want is
// there with its counts, report key and ticket (the ticket key is stored
// by the aggregator's ticket worker after the ticket is filed, so it may
// lag a little), then checks the aligned table says the same.
func checkRunsList(t *testing.T, bin string, ep harness.Endpoints, table string, want []wantRun) {
	t.Helper()
	var (
		rows     []runstatus.Row
		problems []string
	)
	err := harness.Poll(context.Background(), time.Minute, time.Second, func() (bool, error) {
		stdout, stderr, code := runStatus(t, bin, ep, "runs", "-dynamodb-table", table, "-format", "json")
		if code != 0 {
			return false, fmt.Errorf("configreport runs: exit %d: %s", code, stderr)
		}
		rows = nil
		if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
			return false, fmt.Errorf("configreport runs -format json: %v\n%s", err, stdout)
		}
		problems = nil
		for _, w := range want {
			i := slices.IndexFunc(rows, func(r runstatus.Row) bool { return r.RunID == w.RunID })
			if i < 0 {
				problems = append(problems, fmt.Sprintf("run %s not listed", w.RunID))
				continue
			}
			g := rows[i]
			if g.Trigger != w.Trigger || g.State != w.State || g.Expected != w.Expected || g.Reported != w.Reported ||
				g.Failed != w.Failed || g.Missing != w.Missing || g.ReportKey != w.ReportKey || g.EmittedAt == nil || g.StartedAt == nil ||
				(w.checkTicket && g.Ticket != w.Ticket) {
				problems = append(problems, fmt.Sprintf("run %s listed as %+v, want %+v", w.RunID, g, w.Row))
			}
		}
		return len(problems) == 0, nil
	})
	if err != nil || len(problems) > 0 {
		t.Fatalf("configreport runs against %s: %v %v", table, err, problems)
	}
	if len(rows) != len(want) {
		t.Errorf("configreport runs lists %d runs, want %d: %+v", len(rows), len(want), rows)
	}
	text, _, code := runStatus(t, bin, ep, "runs", "-dynamodb-table", table)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if code != 0 || len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "RUN ID ") {
		t.Fatalf("configreport runs (table): exit %d:\n%s", code, text)
	}
	for _, w := range want {
		fields := []string{string(w.RunID), string(w.Trigger), w.State, fmt.Sprint(w.Expected), fmt.Sprint(w.Reported),
			fmt.Sprint(w.Failed), fmt.Sprint(w.Missing), w.ReportKey}
		if w.checkTicket {
			fields = append(fields, w.Ticket)
		}
		found := false
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) == 11 && f[0] == fields[0] && slices.Equal([]string{f[1], f[3], f[4], f[5], f[6], f[7], f[9]}, fields[1:8]) &&
				(!w.checkTicket || f[10] == w.Ticket) {
				found = true
			}
		}
		if !found {
			t.Errorf("configreport runs (table) has no row %v:\n%s", fields, text)
		}
	}
}

// checkRunsShow records, after the services stopped, a run of three
// accounts with one failed result in the aggregators' table, as an
// unfinished run would leave it, and checks `runs show` lists the two not
// yet reported; then that an unknown run id is one line and exit 1.
func checkRunsShow(t *testing.T, bin string, ep harness.Endpoints, hub aws.Config, table, suffix string) {
	t.Helper()
	ctx := context.Background()
	ddb := dynamodb.New(dynamodb.Options{Region: harness.Region, Credentials: hub.Credentials, BaseEndpoint: aws.String(ep.DynamoDB)})
	st, err := dynamo.New(dynamo.Config{Table: table}, ddb, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := ident.RunID("e2e-unfinished-" + suffix)
	if _, err := st.RecordRun(ctx, storetest.NewRun(id, 3)); err != nil {
		t.Fatal(err)
	}
	res := storetest.NewResult(id, storetest.Account(2), 1)
	res.Status = events.StatusFailed
	if _, err := st.RecordResult(ctx, res); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runStatus(t, bin, ep, "runs", "show", string(id), "-dynamodb-table", table, "-format", "json")
	var d runstatus.Detail
	if code != 0 {
		t.Fatalf("configreport runs show %s: exit %d: %s", id, code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatalf("configreport runs show -format json: %v\n%s", err, stdout)
	}
	var unreported []ident.AccountID
	for _, a := range d.Unreported {
		unreported = append(unreported, a.AccountID)
	}
	if d.Expected != 3 || d.Reported != 1 || d.Failed != 1 || d.Missing != 2 || d.State != runstatus.StateOverdue ||
		!slices.Equal(unreported, []ident.AccountID{storetest.Account(1), storetest.Account(3)}) {
		t.Errorf("configreport runs show %s = %+v, want 3 expected, 1 reported (failed), 2 missing: accounts 1 and 3, overdue", id, d)
	}
	text, _, code := runStatus(t, bin, ep, "runs", "show", string(id), "-dynamodb-table", table)
	if code != 0 || !strings.Contains(text, "accounts not yet reported (2):") || !strings.Contains(text, string(storetest.Account(3))+"  acct-3") {
		t.Errorf("configreport runs show %s (text): exit %d:\n%s", id, code, text)
	}
	_, stderr, code = runStatus(t, bin, ep, "runs", "show", "no-such-run", "-dynamodb-table", table)
	if want := "configreport: run no-such-run: not found in the DynamoDB table " + table + "\n"; code != 1 || stderr != want {
		t.Errorf("configreport runs show of an unknown run: exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
}
