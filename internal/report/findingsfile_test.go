package report

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFindingsFileName(t *testing.T) {
	if got := FindingsFileName("01ABC"); got != "config-compliance-01ABC.findings.jsonl.gz" {
		t.Errorf("FindingsFileName = %q", got)
	}
}

// TestFindingsFileRoundTrip: what RenderRun writes, ReadFindingsFile reads
// back exactly (run line, finding lines, null annotation and time), and
// the file is gzip with a zero header and keys in the documented order.
func TestFindingsFileRoundTrip(t *testing.T) {
	fx := loadFixture(t, filepath.Join("testdata", "small.json"))
	base := loadBaseline(t, filepath.Join("testdata", "small_baseline.json"))
	_, ff, _ := renderRun(t, fx, base)

	zr, err := gzip.NewReader(bytes.NewReader(ff))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" || zr.Comment != "" || len(zr.Extra) != 0 {
		t.Errorf("gzip header %+v, want mtime 0 and no name", zr.Header)
	}
	if mtime := ff[4:8]; !bytes.Equal(mtime, []byte{0, 0, 0, 0}) {
		t.Errorf("gzip MTIME bytes %v", mtime)
	}

	// Keys in the documented order, on every kind of line.
	wantKeys := map[string][]string{
		"run":      {"kind", "run_id", "generated_at", "trigger", "regions", "baseline_run_id"},
		"coverage": {"kind", "account_id", "region", "read", "recorder", "rules"},
		"finding": {"kind", "account_id", "account_name", "region", "rule_name", "resource_type", "resource_id",
			"annotation", "last_evaluated", "first_seen", "carried"},
	}
	for i, line := range strings.Split(strings.TrimSuffix(gunzip(t, ff), "\n"), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		var keys []string
		if _, err := dec.Token(); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		var kind string
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			if k == "kind" {
				kind = v.(string)
			}
		}
		if strings.Join(keys, ",") != strings.Join(wantKeys[kind], ",") {
			t.Errorf("line %d (%s): keys %v, want %v", i+1, kind, keys, wantKeys[kind])
		}
	}

	b, err := ReadFindingsFile(bytes.NewReader(ff))
	if err != nil {
		t.Fatal(err)
	}
	if b.RunID != fx.Run.RunID || !b.GeneratedAt.Equal(fx.Run.GeneratedAt) {
		t.Errorf("run %s at %v", b.RunID, b.GeneratedAt)
	}
	var got []BaselineFinding
	for f, err := range b.Findings {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	if len(got) != len(fx.Findings)+3 { // the three carried lines of the baseline
		t.Fatalf("%d finding lines, want %d", len(got), len(fx.Findings)+3)
	}
	// Every field of a run finding comes back.
	var sawNull, sawZero, sawHyperlink bool
	for _, g := range got {
		if g.Carried {
			continue
		}
		var f *Finding
		for i := range fx.Findings {
			if keyOf(&fx.Findings[i]) == baseKeyOf(&g) {
				f = &fx.Findings[i]
			}
		}
		if f == nil {
			t.Fatalf("line %+v: no such finding", g)
		}
		if (g.Annotation == nil) != (f.Annotation == "") || (g.Annotation != nil && *g.Annotation != f.Annotation) {
			t.Errorf("%s: annotation %v, want %q", f.ResourceID, g.Annotation, f.Annotation)
		}
		if !g.LastEvaluated.Equal(f.RecordedAt) && !(g.LastEvaluated.IsZero() && f.RecordedAt.IsZero()) {
			t.Errorf("%s: last evaluated %v, want %v", f.ResourceID, g.LastEvaluated, f.RecordedAt)
		}
		sawNull = sawNull || g.Annotation == nil
		sawZero = sawZero || g.LastEvaluated.IsZero()
		sawHyperlink = sawHyperlink || strings.HasPrefix(g.ResourceID, "=HYPERLINK")
	}
	if !sawNull || !sawZero || !sawHyperlink {
		t.Errorf("fixture no longer covers a null annotation (%v), a null time (%v) and a formula-like id (%v)", sawNull, sawZero, sawHyperlink)
	}
	// Consumed once.
	for _, err := range b.Findings {
		if err == nil {
			t.Errorf("a second read of the findings yielded no error")
		}
	}

	// A findings file read back is a baseline that renders the same way as
	// the lines it was written from: nothing is lost between two weeks.
	b2, err := ReadFindingsFile(bytes.NewReader(ff))
	if err != nil {
		t.Fatal(err)
	}
	next := fx
	next.Run.RunID, next.Run.GeneratedAt = "next", fx.Run.GeneratedAt.Add(7*24*time.Hour)
	_, ff2, counts := renderRun(t, next, b2)
	if counts != (ChangeCounts{}) {
		t.Errorf("the same findings a week later: counts %+v, want none", counts)
	}
	if a, b := strings.Count(gunzip(t, ff2), `"carried":true`), strings.Count(gunzip(t, ff), `"carried":true`); a != b {
		t.Errorf("carried lines %d, want %d", a, b)
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

// TestReadFindingsFileMalformed: a file that is not what RenderRun writes
// is an error, at open or from the iterator.
func TestReadFindingsFileMalformed(t *testing.T) {
	const run = `{"kind":"run","run_id":"r","generated_at":"2026-11-16T01:00:00Z","trigger":"scheduled","regions":["us-east-1"],"baseline_run_id":null}` + "\n"
	const cov = `{"kind":"coverage","account_id":"1","region":"us-east-1","read":"yes","recorder":null,"rules":1}` + "\n"
	const fnd = `{"kind":"finding","account_id":"1","account_name":"n","region":"us-east-1","rule_name":"r","resource_type":"t","resource_id":"i","annotation":null,"last_evaluated":null,"first_seen":"2026-11-16T01:00:00Z","carried":false}` + "\n"
	good := gz(run + cov + fnd)
	cases := []struct {
		name   string
		data   []byte
		atOpen bool
	}{
		{"not gzip", []byte(run), true},
		{"empty gzip", gz(""), true},
		{"no run line", gz(cov + fnd), true},
		{"run line without run id", gz(`{"kind":"run","generated_at":"2026-11-16T01:00:00Z"}` + "\n"), true},
		{"bad generated_at", gz(strings.Replace(run, "2026-11-16T01:00:00Z", "16/11/2026", 1)), true},
		{"not JSON", gz(run + "{oops\n"), true},
		{"coverage without read", gz(run + `{"kind":"coverage","account_id":"1","region":"us-east-1"}` + "\n"), true},
		{"coverage after a finding", gz(run + fnd + cov), false},
		{"unknown kind", gz(run + fnd + `{"kind":"other"}` + "\n"), false},
		{"finding without resource_id", gz(run + strings.Replace(fnd, `"resource_id":"i",`, "", 1)), false},
		{"finding with a null key", gz(run + strings.Replace(fnd, `"region":"us-east-1"`, `"region":null`, 1)), false},
		{"finding without carried", gz(run + strings.Replace(fnd, `,"carried":false`, "", 1)), false},
		{"bad first_seen", gz(run + strings.Replace(fnd, `"first_seen":"2026-11-16T01:00:00Z"`, `"first_seen":"yesterday"`, 1)), false},
		{"bad last_evaluated", gz(run + strings.Replace(fnd, `"last_evaluated":null`, `"last_evaluated":"x"`, 1)), false},
		{"truncated", good[:len(good)-6], false},
		{"line too long", gz(run + fnd + `{"kind":"finding","account_id":"` + strings.Repeat("x", maxLineBytes) + "\"}\n"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := ReadFindingsFile(bytes.NewReader(c.data))
			if c.atOpen {
				if err == nil {
					t.Fatal("opened without error")
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v (want the error from the iterator)", err)
			}
			var iterErr error
			for _, err := range b.Findings {
				if err != nil {
					iterErr = err
				}
			}
			if iterErr == nil {
				t.Error("read without error")
			}
		})
	}
	// And the well-formed file reads.
	b, err := ReadFindingsFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for f, err := range b.Findings {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if f.Annotation != nil || !f.LastEvaluated.IsZero() || f.AccountName != "n" {
			t.Errorf("finding %+v", f)
		}
	}
	if n != 1 {
		t.Errorf("%d findings, want 1", n)
	}
}

// TestFastParserAgrees: the fast path reads every line it accepts exactly
// as encoding/json does, and leaves to encoding/json the lines it cannot
// read (escapes, another key order, spaces).
func TestFastParserAgrees(t *testing.T) {
	fx := loadFixture(t, filepath.Join("testdata", "small.json"))
	_, ff, _ := renderRun(t, fx, loadBaseline(t, filepath.Join("testdata", "small_baseline.json")))
	lines := strings.Split(strings.TrimSuffix(gunzip(t, ff), "\n"), "\n")
	lines = append(lines,
		`{"kind":"finding", "account_id":"1","account_name":"n","region":"r","rule_name":"x","resource_type":"t","resource_id":"i","annotation":null,"last_evaluated":null,"first_seen":"2026-11-16T01:00:00Z","carried":false}`,
		`{"account_id":"1","kind":"finding","account_name":"n","region":"r","rule_name":"x","resource_type":"t","resource_id":"i","annotation":null,"last_evaluated":null,"first_seen":"2026-11-16T01:00:00Z","carried":false}`,
		`{"kind":"finding","account_id":"1","account_name":"n","region":"r","rule_name":"x","resource_type":"t","resource_id":"i","annotation":"a","last_evaluated":"2026-11-16T01:00:00.123+01:00","first_seen":"2026-11-16T01:00:00Z","carried":true}`)
	var fp fastParser
	fast, slow := 0, 0
	for i, line := range lines {
		got, ok := fp.parse([]byte(line))
		var l fileLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Kind != "finding" {
			if ok {
				t.Errorf("line %d (%s) taken for a finding", i+1, l.Kind)
			}
			continue
		}
		if !ok {
			slow++
			continue
		}
		fast++
		want, err := parseFinding(&l, i+1)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Annotation == nil) != (want.Annotation == nil) || (got.Annotation != nil && *got.Annotation != *want.Annotation) {
			t.Errorf("line %d: annotation %v, want %v", i+1, got.Annotation, want.Annotation)
		}
		got.Annotation, want.Annotation = nil, nil
		if got != want {
			t.Errorf("line %d:\n fast %+v\n json %+v", i+1, got, want)
		}
	}
	if fast < 5 || slow != 4 { // slow: the quoted id, the escaped annotation, the two hand-written lines
		t.Errorf("fast path took %d lines, encoding/json %d", fast, slow)
	}
}

// watchedReader fails the test on a Read once closed is set.
type watchedReader struct {
	t      *testing.T
	r      io.Reader
	closed atomic.Bool
}

func (w *watchedReader) Read(p []byte) (int, error) {
	if w.closed.Load() {
		w.t.Error("the baseline's reader was read after its iterator returned")
	}
	return w.r.Read(p)
}

// TestBaselineStopsEarly: a consumer that stops early stops the read-ahead
// too, and the read-ahead yields every line, in order, to one that does not.
func TestBaselineStopsEarly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "base.jsonl.gz")
	writeSynthBaseline(t, path, 3, 2000) // 6,000 lines: several batches
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stopAt := range []int{1, prefetchBatch, prefetchBatch*prefetchDepth + 3, -1} {
		wr := &watchedReader{t: t, r: bytes.NewReader(data)}
		b, err := ReadFindingsFile(wr)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		var prev findingKey5
		for f, err := range b.Findings {
			if err != nil {
				t.Fatal(err)
			}
			if k := baseKeyOf(&f); n > 0 && compareKeys(&k, &prev) < 0 {
				t.Fatalf("line %d out of order", n+1)
			} else {
				prev = k
			}
			n++
			if n == stopAt {
				break
			}
		}
		wr.closed.Store(true)
		if want := stopAt; want < 0 && n != 6000 || want > 0 && n != want {
			t.Errorf("stop at %d: %d lines", stopAt, n)
		}
	}
}
