package aggregate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
)

// week2 is the run a week after runID: account 111111111111 fixed
// zeta-bucket (RESOLVED) and opened new-bucket (NEW); the rest as before.
var week2 = ident.RunID("01KN8G9B00RUN2")

func week2Messages(t testing.TB) []*message.Message {
	rs := runStarted()
	rs.RunID, rs.StartedAt, rs.Deadline = week2, t0.Add(7*24*time.Hour), t0.Add(7*24*time.Hour+45*time.Minute)
	msgs := []*message.Message{mustMsg(t, rs)}
	for _, r := range results() {
		r.RunID = week2
		r.ScannedAt = r.ScannedAt.Add(7 * 24 * time.Hour)
		if r.AccountID == "111111111111" {
			r.Findings = slices.DeleteFunc(r.Findings, func(f events.Finding) bool { return f.ResourceID == "zeta-bucket" })
			r.Findings = append(r.Findings, finding("us-east-1", "s3-public-read", "AWS::S3::Bucket", "new-bucket", events.NonCompliant))
		}
		msgs = append(msgs, mustMsg(t, r))
	}
	return msgs
}

// logBuffer collects log lines across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func withLog(l *logBuffer) func(*Config, *Deps) {
	return func(_ *Config, d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
}

// findingKeys reads a findings file's finding lines as (account, region,
// rule, type, id) keys, and its run line's baseline_run_id.
func findingKeys(t *testing.T, data []byte) (keys [][]string, baselineRunID string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := report.ReadFindingsFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("findings file: %v", err)
	}
	for f, err := range b.Findings {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, []string{f.AccountID, f.Region, f.RuleName, f.ResourceType, f.ResourceID})
	}
	sc := bufio.NewScanner(zr)
	if !sc.Scan() {
		t.Fatal("findings file without a run line")
	}
	line := sc.Text()
	if i := strings.Index(line, `"baseline_run_id":`); i >= 0 {
		baselineRunID = strings.Trim(strings.TrimSuffix(line[i+len(`"baseline_run_id":`):], "}"), `"`)
	}
	return keys, baselineRunID
}

// TestEmitWritesFindingsFile: the findings file is uploaded beside the
// workbook, before it, its key stored with the emitted mark, and it holds
// exactly the workbook's findings.
func TestEmitWritesFindingsFile(t *testing.T) {
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, allMessages(t))
	a.Check(context.Background())
	wantWB := "reports/2026/11/23/config-compliance-" + string(runID) + ".xlsx"
	wantF := "reports/2026/11/23/config-compliance-" + string(runID) + ".findings.jsonl.gz"
	if got := e.blob.order; !slices.Equal(got, []string{wantF, wantWB}) {
		t.Fatalf("puts %q, want the findings file then the workbook %q", got, []string{wantF, wantWB})
	}
	st := e.state()
	if st.ReportKey != wantWB || st.FindingsKey != wantF {
		t.Errorf("stored keys %q, %q; want %q, %q", st.ReportKey, st.FindingsKey, wantWB, wantF)
	}
	if latest, err := e.store.LatestScheduled(context.Background()); err != nil || latest == nil || latest.RunID != runID || latest.FindingsKey != wantF {
		t.Errorf("LatestScheduled = %+v, %v; want this run with its findings key", latest, err)
	}
	keys, base := findingKeys(t, e.blob.findingsUploads()[0].body)
	if base != "null" {
		t.Errorf("baseline_run_id %q, want null (the first run has none)", base)
	}
	var sheet [][]string
	for _, r := range rows(t, e.blob.uploads()[0].body, report.SheetFindings)[1:] {
		sheet = append(sheet, []string{r[0], r[2], r[3], r[4], r[5]})
	}
	if !slices.EqualFunc(keys, sheet, slices.Equal[[]string]) {
		t.Errorf("findings file keys %q\nwant the workbook's %q", keys, sheet)
	}
}

// corrupt returns a findings file whose first two finding lines are
// swapped: it opens fine and fails mid-stream (out of order).
func corrupt(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, `{"kind":"finding"`) })
	if first < 0 || first+1 >= len(lines) {
		t.Fatalf("fewer than two finding lines in %q", lines)
	}
	lines[first], lines[first+1] = lines[first+1], lines[first]
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	_ = zw.Close()
	return out.Bytes()
}

// TestWeekOverWeek: the second scheduled run compares with the first: its
// Changes sheet, its findings file's baseline, its log lines and its
// ticket say so. A baseline file gone, unreadable or corrupt (at its head
// or mid-stream) gives a report without a baseline and a warning, never a
// failed report.
func TestWeekOverWeek(t *testing.T) {
	firstKey := "reports/2026/11/23/" + report.FindingsFileName(string(runID))
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, path string)
		warn  string // "" when the baseline is used
	}{
		{name: "baseline used"},
		{name: "file gone", spoil: func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, warn: "baseline findings file unreadable"},
		{name: "not gzip", spoil: func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("PK not a findings file"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, warn: "baseline findings file corrupt"},
		{name: "out of order mid-stream", spoil: func(t *testing.T, p string) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, corrupt(t, data), 0o644); err != nil {
				t.Fatal(err)
			}
		}, warn: "baseline findings file corrupt; rendering again without a baseline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			var logs logBuffer
			a := e.aggregator("replica-a", withLog(&logs))
			handleAll(t, a, allMessages(t))
			a.Check(ctx)
			if tc.spoil != nil {
				tc.spoil(t, filepath.Join(e.blob.Dir, filepath.FromSlash(firstKey)))
			}
			e.clock.Add(7 * 24 * time.Hour)
			handleAll(t, a, week2Messages(t))
			a.Check(ctx)

			st, err := e.store.Run(ctx, week2)
			if err != nil || !st.Emitted {
				t.Fatalf("week 2 not emitted: %+v, %v\n%s", st, err, logs.String())
			}
			if st.Baseline == nil || st.Baseline.RunID != runID {
				t.Fatalf("week 2's stored baseline %v, want %s", st.Baseline, runID)
			}
			ups, fups := e.blob.uploads(), e.blob.findingsUploads()
			if len(ups) != 2 || len(fups) != 2 {
				t.Fatalf("%d workbooks, %d findings files; want 2 of each", len(ups), len(fups))
			}
			changes := rows(t, ups[1].body, report.SheetChanges)
			_, fileBase := findingKeys(t, fups[1].body)
			tickets := e.jira.filed()
			if len(tickets) != 2 {
				t.Fatalf("%d tickets, want 2", len(tickets))
			}
			got := tickets[1].Compared
			unusable := testutil.ToFloat64(a.metrics.baselineUnusable)
			if tc.warn == "" {
				wantChanges := [][]string{
					{"Change", "Account ID", "Account Name", "Region", "Rule Name", "Resource Type", "Resource ID", "First Seen (UTC)"},
					{"NEW", "111111111111", "payments-prod", "us-east-1", "s3-public-read", "AWS::S3::Bucket", "new-bucket", "2026-11-30 01:05"},
					{"RESOLVED", "111111111111", "payments-prod", "us-east-1", "s3-public-read", "AWS::S3::Bucket", "zeta-bucket", "2026-11-23 01:05"},
				}
				checkRows(t, "Changes", changes[5:], wantChanges)
				if changes[0][1] != string(runID) {
					t.Errorf("Compared with %q, want %s", changes[0][1], runID)
				}
				if fileBase != string(runID) {
					t.Errorf("findings file's baseline_run_id %q, want %s", fileBase, runID)
				}
				want := &Compared{RunID: runID, GeneratedAt: t0.Add(5 * time.Minute), New: 1, Resolved: 1}
				if got == nil || *got != *want {
					t.Errorf("ticket's Compared %+v, want %+v", got, want)
				}
				if unusable != 0 || strings.Contains(logs.String(), "level=WARN") {
					t.Errorf("baseline_unusable %v; warnings:\n%s", unusable, logs.String())
				}
				if !regexpLine(logs.String(), "emitting report", string(week2), "baseline_run_id="+string(runID)) ||
					!regexpLine(logs.String(), "report emitted", string(week2), "baseline_run_id="+string(runID)+" new=1 resolved=1") {
					t.Errorf("the emission's log lines lack the baseline or the counts:\n%s", logs.String())
				}
				return
			}
			if len(changes) != 6 || len(changes[0]) > 1 {
				t.Errorf("Changes sheet %q, want an empty block and the header only", changes)
			}
			if fileBase != "null" {
				t.Errorf("findings file's baseline_run_id %q, want null", fileBase)
			}
			if got != nil {
				t.Errorf("ticket's Compared %+v, want nil (no baseline)", got)
			}
			if unusable != 1 || !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("baseline_unusable %v, want 1; want a warning %q in:\n%s", unusable, tc.warn, logs.String())
			}
		})
	}
}

// regexpLine tells whether one line of logs has msg, the run id and want.
func regexpLine(logs, msg, id, want string) bool {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l, "run_id="+id) && strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// TestTakeoverAndRerenderSameFiles: a replica that crashed after uploading
// week 2's findings file and workbook, before its mark, is taken over; the
// replica taking over, and a later Rerender, write the same bytes for both
// files, compared with the same baseline.
func TestTakeoverAndRerenderSameFiles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, allMessages(t))
	a.Check(ctx)
	e.clock.Add(7 * 24 * time.Hour)
	e.blob.failPut = 1 // a's week-2 workbook upload "crashes"
	handleAll(t, a, week2Messages(t))
	a.Check(ctx)
	if st, _ := e.store.Run(ctx, week2); st.Emitted {
		t.Fatal("week 2 emitted despite the failed upload")
	}
	e.clock.Add(2 * time.Minute) // a's lease lapses
	b := e.aggregator("replica-b")
	b.Check(ctx)
	if st, _ := e.store.Run(ctx, week2); !st.Emitted || st.ClaimOwner != "replica-b" {
		t.Fatalf("week 2 not emitted by the takeover: %+v", st)
	}
	if _, err := b.Rerender(ctx, week2); err != nil {
		t.Fatal(err)
	}
	ups, fups := e.blob.uploads(), e.blob.findingsUploads()
	// run 1; week 2 by a, by b, re-rendered.
	if len(ups) != 4 || len(fups) != 4 {
		t.Fatalf("%d workbooks, %d findings files; want 4 of each", len(ups), len(fups))
	}
	for i := 2; i < 4; i++ {
		if ups[i].key != ups[1].key || !bytes.Equal(ups[i].body, ups[1].body) {
			t.Errorf("workbook %d (%s) differs from the crashed replica's", i, ups[i].key)
		}
		if fups[i].key != fups[1].key || !bytes.Equal(fups[i].body, fups[1].body) {
			t.Errorf("findings file %d (%s) differs from the crashed replica's", i, fups[i].key)
		}
	}
	if rows(t, ups[3].body, report.SheetChanges)[0][1] != string(runID) {
		t.Error("the re-rendered workbook does not compare with the first run")
	}
}

// TestTicketCountsAfterRestart: the replica that emitted week 2 died
// before filing its ticket; a new replica (no kept summary) files it with
// the same counts, recounted against the stored baseline.
func TestTicketCountsAfterRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.aggregator("replica-a")
	handleAll(t, a, allMessages(t))
	a.Check(ctx)
	e.clock.Add(7 * 24 * time.Hour)
	e.jira.failFile = 1
	handleAll(t, a, week2Messages(t))
	a.Check(ctx) // emitted; the ticket fails; a dies
	if st, _ := e.store.Run(ctx, week2); !st.Emitted || st.TicketKey != "" {
		t.Fatalf("week 2: emitted %v, ticket %q; want emitted without a ticket", st.Emitted, st.TicketKey)
	}
	e.clock.Add(3 * time.Minute) // past TicketTakeover and a's ticket lease
	b := e.aggregator("replica-b")
	b.Check(ctx)
	tickets := e.jira.filed()
	if len(tickets) != 2 || tickets[1].RunID != week2 {
		t.Fatalf("tickets %+v, want week 2's second", tickets)
	}
	want := &Compared{RunID: runID, GeneratedAt: t0.Add(5 * time.Minute), New: 1, Resolved: 1}
	if got := tickets[1].Compared; got == nil || *got != *want {
		t.Errorf("ticket's Compared after a restart %+v, want %+v", got, want)
	}
}

// TestPinnedBaseline: Config.Baseline pins a run's baseline before its
// first claim (local mode's -baseline); a run claimed already keeps its own.
func TestPinnedBaseline(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		pin  *BaselinePin
		want ident.RunID // "" none
	}{
		{"store's choice", nil, runID},
		{"none", &BaselinePin{}, ""},
		{"none for this run", &BaselinePin{RunID: week2}, ""},
		{"none for another run", &BaselinePin{RunID: "01KMZ8W4Y0OTHER"}, runID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.aggregator("replica-a")
			handleAll(t, a, allMessages(t))
			a.Check(ctx)
			e.clock.Add(7 * 24 * time.Hour)
			b := e.aggregator("replica-b", func(c *Config, _ *Deps) { c.Baseline = tc.pin })
			handleAll(t, b, week2Messages(t))
			b.Check(ctx)
			st, err := e.store.Run(ctx, week2)
			if err != nil || !st.Emitted {
				t.Fatalf("week 2 not emitted: %v", err)
			}
			var got ident.RunID
			if st.Baseline != nil {
				got = st.Baseline.RunID
			}
			if got != tc.want || !st.BaselineFixed {
				t.Errorf("baseline %q (fixed %v), want %q", got, st.BaselineFixed, tc.want)
			}
			wantCompared := string(tc.want)
			if c := rows(t, e.blob.uploads()[1].body, report.SheetChanges)[0]; (len(c) > 1 && c[1] != wantCompared) || (len(c) < 2 && wantCompared != "") {
				t.Errorf("Compared with %q, want %q", c, wantCompared)
			}
		})
	}
	t.Run("fixed already", func(t *testing.T) {
		e := newEnv(t)
		a := e.aggregator("replica-a")
		handleAll(t, a, allMessages(t))
		a.Check(ctx)
		e.clock.Add(7 * 24 * time.Hour)
		handleAll(t, a, week2Messages(t))
		if _, err := e.store.Claim(ctx, week2, "replica-x", e.clock.Now(), time.Second); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
		var logs logBuffer
		b := e.aggregator("replica-b", withLog(&logs), func(c *Config, _ *Deps) { c.Baseline = &BaselinePin{} })
		b.Check(ctx)
		st, _ := e.store.Run(ctx, week2)
		if !st.Emitted || st.Baseline == nil || st.Baseline.RunID != runID {
			t.Errorf("emitted %v, baseline %v; want emitted with the first claim's %s", st.Emitted, st.Baseline, runID)
		}
		if !strings.Contains(logs.String(), "the stored one stands") {
			t.Errorf("no line saying the stored baseline stands:\n%s", logs.String())
		}
	})
}
