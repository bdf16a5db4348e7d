package local

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/cybsecops/configreport/internal/runstatus"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// runsCmd runs `configreport runs ...` in process, with its real opener.
func runsCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runstatus.Main(context.Background(), args, runstatus.Env{
		Getenv: func(string) string { return "" }, Stdout: &stdout, Stderr: &stderr, Open: runstatus.OpenStore(quiet()),
	})
	return stdout.String(), stderr.String(), code
}

// `configreport runs -out DIR` reads local mode's SQLite store: the run
// just made, with its counts, report and no ticket (local mode files none).
func TestLocalRunStatus(t *testing.T) {
	e := newEnv(t, 25, 7, awssim.Config{Deny: 2})
	org := e.sim.Org()
	active := 0
	for _, a := range org.Accounts {
		if a.Status == awssim.StatusActive {
			active++
		}
	}
	cfg := baseConfig(t)
	res, err := Run(context.Background(), cfg, e.hub, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runsCmd(t, "runs", "-out", cfg.Out, "-format", "json")
	if code != 0 {
		t.Fatalf("runs -out: exit %d: %s", code, stderr)
	}
	var rows []runstatus.Row
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(rows) != 1 {
		t.Fatalf("runs -out lists %d runs, want 1:\n%s", len(rows), stdout)
	}
	r := rows[0]
	denied := len(org.DeniedAccounts())
	if r.RunID != res.RunID || r.Trigger != "scheduled" || r.State != runstatus.StateEmitted || r.Expected != active || r.Reported != active ||
		r.Failed != denied || r.Missing != 0 || r.EmittedAt == nil || r.ReportKey == "" || !strings.HasSuffix(res.Path, r.ReportKey) || r.Ticket != "" {
		t.Errorf("runs -out lists %+v; want run %s emitted, %d expected and reported, %d failed, its report %s", r, res.RunID, active, denied, res.Path)
	}

	stdout, stderr, code = runsCmd(t, "runs", "show", string(res.RunID), "-out", cfg.Out)
	show := regexp.MustCompile(`(?m)^state:\s+emitted$[\s\S]*^findings key:\s+\S+\.findings\.jsonl\.gz$\n^baseline:\s+none$`)
	if code != 0 || !strings.Contains(stdout, "every expected account has reported") || !show.MatchString(stdout) {
		t.Errorf("runs show -out: exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	_, stderr, code = runsCmd(t, "runs", "show", "no-such-run", "-out", cfg.Out)
	if code != 1 || stderr != "configreport: run no-such-run: not found in the local store under "+cfg.Out+"\n" {
		t.Errorf("runs show of an unknown run: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runsCmd(t, "runs", "-out", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "no local-mode store there") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("runs -out of an empty folder: exit %d, stderr %q; want 2 and one line", code, stderr)
	}
}
