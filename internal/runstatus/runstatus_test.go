package runstatus

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var t0 = time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)

func started(id ident.RunID, trig events.Trigger, at time.Time, accts ...events.Account) *events.RunStarted {
	return &events.RunStarted{RunID: id, Trigger: trig, StartedAt: at, Deadline: at.Add(2 * time.Hour), Accounts: accts}
}

func acct(id, name, ou string) events.Account {
	return events.Account{AccountID: ident.AccountID(id), Name: name, OUPath: ou}
}

// fakeLister serves fixed summaries and records what it was asked.
type fakeLister struct {
	runs   []store.RunSummary
	err    error
	limits []int
}

func (f *fakeLister) Recent(_ context.Context, limit int) ([]store.RunSummary, error) {
	f.limits = append(f.limits, limit)
	if f.err != nil {
		return nil, f.err
	}
	out := make([]store.RunSummary, 0, limit)
	for _, s := range f.runs[:min(limit, len(f.runs))] {
		s.Unreported = nil
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeLister) RunSummary(_ context.Context, id ident.RunID) (store.RunSummary, error) {
	if f.err != nil {
		return store.RunSummary{}, f.err
	}
	for _, s := range f.runs {
		if s.RunID == id {
			return s, nil
		}
	}
	return store.RunSummary{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
}

func fixture() *fakeLister {
	a1, a2, a3 := acct("111111111111", "payments-prod", "Root/Prod/Payments"), acct("222222222222", "sandbox", "Root/Sandbox"), acct("333333333333", "", "Root")
	return &fakeLister{runs: []store.RunSummary{
		{RunState: store.RunState{RunID: "2026-11-30-open", Started: started("2026-11-30-open", events.TriggerScheduled, t0, a1, a2, a3)},
			Expected: 3, Reported: 1, Failed: 1, Missing: 2, Unreported: []events.Account{a2, a3}},
		{RunState: store.RunState{RunID: "adhoc-joined", Started: started("adhoc-joined", events.TriggerAdhoc, t0.Add(-time.Hour), a1), JoinedTo: "adhoc-first"},
			Expected: 1, Missing: 1, Unreported: []events.Account{a1}},
		{RunState: store.RunState{RunID: "2026-11-29-late", Started: started("2026-11-29-late", events.TriggerScheduled, t0.Add(-24*time.Hour), a1, a2)},
			Expected: 2, Reported: 1, Missing: 1, Unreported: []events.Account{a2}},
		{RunState: store.RunState{RunID: "2026-11-23-weekly", Started: started("2026-11-23-weekly", events.TriggerScheduled, t0.Add(-7*24*time.Hour), a1, a2),
			Emitted: true, EmittedAt: t0.Add(-7*24*time.Hour + 20*time.Minute), ReportKey: "reports/2026/11/23/config-compliance-2026-11-23-weekly.xlsx", TicketKey: "SEC-42",
			FindingsKey: "reports/2026/11/23/config-compliance-2026-11-23-weekly.findings.jsonl.gz", BaselineFixed: true,
			Baseline: &store.BaselineRef{RunID: "2026-11-16-weekly", GeneratedAt: t0.Add(-14*24*time.Hour + 20*time.Minute),
				FindingsKey: "reports/2026/11/16/config-compliance-2026-11-16-weekly.findings.jsonl.gz"}},
			Expected: 2, Reported: 2, Failed: 1},
		{RunState: store.RunState{RunID: "orphan"}, Reported: 1},
		{RunState: store.RunState{RunID: "2026-11-22-missing", Started: started("2026-11-22-missing", events.TriggerScheduled, t0.Add(-8*24*time.Hour), a1, a3),
			Emitted: true, EmittedAt: t0.Add(-8*24*time.Hour + 2*time.Hour), ReportKey: "reports/x.xlsx", BaselineFixed: true},
			Expected: 2, Reported: 1, Missing: 1, Unreported: []events.Account{a3}},
	}}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestMain_(t *testing.T) {
	openErr := errors.New("dial tcp 127.0.0.1:1: connection refused")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		lister     *fakeLister
		openErr    error
		wantCode   int
		wantGolden string // stdout's golden file, when set
		wantStderr string // substring of the one stderr line, when set
		wantLimit  int    // Recent's limit, when listed
	}{
		{name: "list text", args: []string{"runs", "-dynamodb-table", "t"}, wantGolden: "list.txt", wantLimit: 20},
		{name: "list json", args: []string{"runs", "-format", "json", "-limit", "3"}, env: map[string]string{"OUT": "/tmp/out"}, wantGolden: "list.json", wantLimit: 3},
		{name: "list limit from env", args: []string{"runs", "-out=/tmp/out"}, env: map[string]string{"LIMIT": "2", "FORMAT": "json"}, wantGolden: "list-2.json", wantLimit: 2},
		{name: "empty", args: []string{"runs", "-dynamodb-table", "t"}, lister: &fakeLister{}, wantGolden: "empty.txt", wantLimit: 20},
		{name: "show text", args: []string{"runs", "show", "2026-11-30-open", "-dynamodb-table", "t"}, wantGolden: "show.txt"},
		{name: "show flags first", args: []string{"-out", "/o", "runs", "show", "2026-11-30-open"}, wantGolden: "show.txt"},
		{name: "show json", args: []string{"runs", "show", "2026-11-23-weekly", "-format", "json"}, env: map[string]string{"DYNAMODB_TABLE": "t"}, wantGolden: "show-emitted.json"},
		{name: "show emitted text", args: []string{"runs", "show", "2026-11-23-weekly", "-out", "/o"}, wantGolden: "show-emitted.txt"},
		{name: "show emitted missing", args: []string{"runs", "show", "2026-11-22-missing", "-out", "/o"}, wantGolden: "show-emitted-missing.txt"},
		{name: "show orphan", args: []string{"runs", "show", "orphan", "-out", "/o"}, wantGolden: "show-orphan.txt"},
		{name: "show unknown", args: []string{"runs", "show", "nope", "-dynamodb-table", "t"}, wantCode: 1,
			wantStderr: "configreport: run nope: not found in the DynamoDB table t\n"},
		{name: "store fails", args: []string{"runs", "-dynamodb-table", "t"}, lister: &fakeLister{err: errors.New("scan t: AccessDeniedException")}, wantCode: 1,
			wantStderr: "configreport: scan t: AccessDeniedException\n", wantLimit: 20},
		{name: "open fails", args: []string{"runs", "-dynamodb-table", "t"}, openErr: openErr, wantCode: 1, wantStderr: "connection refused"},
		{name: "open config", args: []string{"runs", "-out", "/nowhere"}, openErr: ConfigError(errors.New("no local-mode store at /nowhere")), wantCode: 2, wantStderr: "configreport: no local-mode store at /nowhere\n"},
		{name: "no store", args: []string{"runs"}, wantCode: 2, wantStderr: "exactly one of -dynamodb-table"},
		{name: "both stores", args: []string{"runs", "-out", "o"}, env: map[string]string{"DYNAMODB_TABLE": "t"}, wantCode: 2, wantStderr: "exactly one of -dynamodb-table"},
		{name: "bad format and limit", args: []string{"runs", "-out", "o", "-format", "yaml", "-limit", "0"}, wantCode: 2,
			wantStderr: `configreport: -limit 0: want a positive number; -format "yaml": want text or json` + "\n"},
		{name: "bad env", args: []string{"runs", "-out", "o"}, env: map[string]string{"LIMIT": "many"}, wantCode: 2, wantStderr: `LIMIT="many"`},
		{name: "unknown flag", args: []string{"runs", "-table", "t"}, wantCode: 2, wantStderr: "flag provided but not defined: -table"},
		{name: "no command", args: []string{"-out", "o"}, wantCode: 2, wantStderr: "no command given"},
		{name: "unknown command", args: []string{"status", "-out", "o"}, wantCode: 2, wantStderr: `unknown command "status"`},
		{name: "unknown subcommand", args: []string{"runs", "list", "-out", "o"}, wantCode: 2, wantStderr: `unknown runs subcommand "list"`},
		{name: "show without id", args: []string{"runs", "show", "-out", "o"}, wantCode: 2, wantStderr: "runs show takes exactly one run id"},
		{name: "show bad id", args: []string{"runs", "show", "a/b", "-out", "o"}, wantCode: 2, wantStderr: "run id"},
		{name: "help", args: []string{"runs", "-help"}, wantGolden: "help.txt"},
		{name: "help word", args: []string{"help"}, wantGolden: "help.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.lister
			if l == nil {
				l = fixture()
			}
			var opened []Source
			var stdout, stderr bytes.Buffer
			closed := 0
			code := Main(t.Context(), tc.args, Env{
				Getenv: func(k string) string { return tc.env[k] },
				Stdout: &stdout, Stderr: &stderr,
				Open: func(_ context.Context, src Source) (Lister, func() error, error) {
					opened = append(opened, src)
					if tc.openErr != nil {
						return nil, nil, tc.openErr
					}
					return l, func() error { closed++; return nil }, nil
				},
				Now: func() time.Time { return t0.Add(30 * time.Minute) },
			})
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, stderr.String())
			}
			if tc.wantGolden != "" {
				golden(t, tc.wantGolden, stdout.String())
			}
			switch {
			case tc.wantStderr == "" && stderr.Len() > 0:
				t.Errorf("stderr %q, want none", stderr.String())
			case tc.wantStderr != "":
				if !strings.Contains(stderr.String(), tc.wantStderr) || strings.Count(stderr.String(), "\n") != 1 {
					t.Errorf("stderr %q, want one line containing %q", stderr.String(), tc.wantStderr)
				}
				if tc.wantCode == 2 && stdout.Len() > 0 {
					t.Errorf("stdout %q on a configuration error", stdout.String())
				}
			}
			if tc.wantCode == 2 && tc.openErr == nil && len(opened) > 0 {
				t.Errorf("bad configuration opened the store: %v", opened)
			}
			if len(opened) == 1 && tc.openErr == nil && closed != 1 {
				t.Errorf("store closed %d times, want 1", closed)
			}
			if tc.wantLimit != 0 && (len(l.limits) != 1 || l.limits[0] != tc.wantLimit) {
				t.Errorf("Recent called with %v, want [%d]", l.limits, tc.wantLimit)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want Source
		show ident.RunID
	}{
		{[]string{"runs", "-dynamodb-table", "cr-dedupe"}, nil, Source{Table: "cr-dedupe"}, ""},
		{[]string{"runs"}, map[string]string{"DYNAMODB_TABLE": "from-env"}, Source{Table: "from-env"}, ""},
		{[]string{"runs", "show", "r1", "-out", "flag"}, map[string]string{"OUT": "env"}, Source{Out: "flag"}, "r1"},
		{[]string{"runs", "-out", "o", "show", "--", "-r1"}, nil, Source{Out: "o"}, "-r1"}, // after --, not a flag
	}
	for i, tc := range tests {
		cfg, help, err := parse(tc.args, func(k string) string { return tc.env[k] })
		if help {
			t.Fatalf("%d: help", i)
		}
		if err != nil || cfg.Source != tc.want || cfg.show != tc.show {
			t.Errorf("%d: parse(%q) = %+v, show %q, %v; want %+v, show %q", i, tc.args, cfg.Source, cfg.show, err, tc.want, tc.show)
		}
	}
}

func TestRowState(t *testing.T) {
	now := t0.Add(time.Hour)
	st := started("r", events.TriggerScheduled, t0, acct("111111111111", "a", "Root"))
	tests := []struct {
		name string
		sum  store.RunSummary
		want string
	}{
		{"before deadline", store.RunSummary{RunState: store.RunState{RunID: "r", Started: st}}, StateOpen},
		{"past deadline", store.RunSummary{RunState: store.RunState{RunID: "r", Started: started("r", events.TriggerScheduled, t0.Add(-3*time.Hour))}}, StateOverdue},
		{"emitted past deadline", store.RunSummary{RunState: store.RunState{RunID: "r", Started: started("r", events.TriggerScheduled, t0.Add(-3*time.Hour)), Emitted: true}}, StateEmitted},
		{"joined", store.RunSummary{RunState: store.RunState{RunID: "r", Started: st, JoinedTo: "q"}}, StateJoined},
		{"results only", store.RunSummary{RunState: store.RunState{RunID: "r"}}, StateNoRunYet},
	}
	for _, tc := range tests {
		if got := rowOf(tc.sum, now).State; got != tc.want {
			t.Errorf("%s: state %q, want %q", tc.name, got, tc.want)
		}
	}
}
