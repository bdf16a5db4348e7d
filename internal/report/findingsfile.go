package report

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cybsecops/configreport/internal/jsontext"
)

// FindingsFileName is the findings file's name for a run:
// config-compliance-<run_id>.findings.jsonl.gz, beside the workbook.
func FindingsFileName(runID string) string {
	return "config-compliance-" + runID + ".findings.jsonl.gz"
}

// Baseline is a previous run's findings file, opened for reading.
type Baseline struct {
	RunID       string
	GeneratedAt time.Time
	// Findings yields its finding lines (carried ones included) in file
	// order, which must be the key order: RenderRun checks it and fails on
	// the first line out of order (a corrupt baseline). Consumed once.
	Findings iter.Seq2[BaselineFinding, error]
}

// BaselineFinding is one finding line of a findings file.
type BaselineFinding struct {
	AccountID, AccountName, Region, RuleName, ResourceType, ResourceID string
	Annotation                                                         *string   // nil when null
	LastEvaluated                                                      time.Time // zero when null
	FirstSeen                                                          time.Time
	Carried                                                            bool
}

// ErrBaseline wraps every error RenderRun meets in the baseline (a line
// that does not parse, a line out of order, a read error), so the caller
// can tell a bad baseline from a bad run and render again without one
// (a bad baseline gives a report with no baseline and a warning, never a
// failed report).
var ErrBaseline = errors.New("baseline")

// gzipLevel is the findings file's compression: BestSpeed, like the
// workbook's entries; the level is fixed, so the bytes are deterministic.
var gzipLevel = gzip.BestSpeed

// maxLineBytes bounds one line of a findings file when reading it: an
// annotation or resource id is at most a few kilobytes, a cell's worth of
// text 32,767 characters (up to 6 bytes each once JSON-escaped).
const maxLineBytes = 1 << 20

// findingsWriter writes a findings file: gzip with a zero header (mtime 0,
// no name, OS unknown: Go's defaults), JSON Lines with the keys in the
// order REPORT_FORMAT.md gives. Lines are built by hand, not with
// encoding/json, to fix the key order and keep a million lines cheap.
type findingsWriter struct {
	zw  *gzip.Writer
	buf []byte
}

func newFindingsWriter(w io.Writer) (*findingsWriter, error) {
	zw, err := gzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return nil, err
	}
	return &findingsWriter{zw: zw, buf: make([]byte, 0, 128<<10)}, nil
}

// endLine ends the line in buf and flushes buf when it is large.
func (fw *findingsWriter) endLine() error {
	fw.buf = append(fw.buf, "}\n"...)
	if len(fw.buf) < 64<<10 {
		return nil
	}
	return fw.flush()
}

func (fw *findingsWriter) flush() error {
	_, err := fw.zw.Write(fw.buf)
	fw.buf = fw.buf[:0]
	if err != nil {
		return fmt.Errorf("findings file: %w", err)
	}
	return nil
}

// close writes what is buffered and the gzip trailer; it does not close
// the underlying writer.
func (fw *findingsWriter) close() error {
	if err := fw.flush(); err != nil {
		return err
	}
	if err := fw.zw.Close(); err != nil {
		return fmt.Errorf("findings file: %w", err)
	}
	return nil
}

// head writes the run line and the coverage lines, in the Coverage sheet's
// order.
func (fw *findingsWriter) head(in *input, base *Baseline) error {
	b := append(fw.buf, `{"kind":"run","run_id":`...)
	b = appendJSONString(b, in.run.RunID)
	b = append(b, `,"generated_at":`...)
	b = appendJSONTime(b, in.run.GeneratedAt)
	b = append(b, `,"trigger":`...)
	b = appendJSONString(b, string(in.run.Trigger))
	b = append(b, `,"regions":[`...)
	for i, r := range in.run.Regions {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
	}
	b = append(b, `],"baseline_run_id":`...)
	if base == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, base.RunID)
	}
	fw.buf = b
	if err := fw.endLine(); err != nil {
		return err
	}
	for _, a := range in.accounts {
		for i := range a.cov {
			c := &a.cov[i]
			b := append(fw.buf, `{"kind":"coverage","account_id":`...)
			b = appendJSONString(b, a.ID)
			b = append(b, `,"region":`...)
			b = appendJSONString(b, c.Region)
			b = append(b, `,"read":`...)
			b = appendJSONString(b, string(c.Read))
			b = append(b, `,"recorder":`...)
			if c.Recorder == "" {
				b = append(b, "null"...)
			} else {
				b = appendJSONString(b, c.Recorder)
			}
			b = append(b, `,"rules":`...)
			if c.Rules == nil {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendInt(b, int64(*c.Rules), 10)
			}
			fw.buf = b
			if err := fw.endLine(); err != nil {
				return err
			}
		}
	}
	return nil
}

// finding writes one finding line. annotation nil is null; a zero
// lastEvaluated is null.
func (fw *findingsWriter) finding(acct, name, region, rule, typ, id string, annotation *string, lastEvaluated, firstSeen time.Time, carried bool) error {
	b := append(fw.buf, `{"kind":"finding","account_id":`...)
	b = appendJSONString(b, acct)
	b = append(b, `,"account_name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"region":`...)
	b = appendJSONString(b, region)
	b = append(b, `,"rule_name":`...)
	b = appendJSONString(b, rule)
	b = append(b, `,"resource_type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"resource_id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"annotation":`...)
	if annotation == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *annotation)
	}
	b = append(b, `,"last_evaluated":`...)
	if lastEvaluated.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, lastEvaluated)
	}
	b = append(b, `,"first_seen":`...)
	b = appendJSONTime(b, firstSeen)
	b = append(b, `,"carried":`...)
	b = strconv.AppendBool(b, carried)
	fw.buf = b
	return fw.endLine()
}

// appendJSONTime appends t as an RFC 3339 UTC string, with the fraction of
// a second only when there is one, so a baseline's times come back exact.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s as a JSON string, escaped no more than JSON
// needs (invalid UTF-8 as U+FFFD, as on the sheets).
func appendJSONString(b []byte, s string) []byte {
	return jsontext.AppendString(b, s, jsontext.Minimal)
}

// fileLine is any line of a findings file, as read back. Pointers tell a
// missing key or null from an empty value.
type fileLine struct {
	Kind string `json:"kind"`
	// run
	RunID       *string `json:"run_id"`
	GeneratedAt *string `json:"generated_at"`
	// coverage
	Read *string `json:"read"`
	// coverage and finding
	AccountID *string `json:"account_id"`
	Region    *string `json:"region"`
	// finding
	AccountName   *string `json:"account_name"`
	RuleName      *string `json:"rule_name"`
	ResourceType  *string `json:"resource_type"`
	ResourceID    *string `json:"resource_id"`
	Annotation    *string `json:"annotation"`
	LastEvaluated *string `json:"last_evaluated"`
	FirstSeen     *string `json:"first_seen"`
	Carried       *bool   `json:"carried"`
}

// ReadFindingsFile opens a findings file (gzip JSON Lines as written by
// RenderRun): it reads the run line and the coverage lines, and returns a
// Baseline whose Findings streams the finding lines lazily from r. A
// malformed file is an error (at open, or from the iterator). It does not
// close r.
func ReadFindingsFile(r io.Reader) (*Baseline, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("findings file: %w", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	n := 0
	// next reads the next line: nil at the end; a finding line the fast
	// path could read also comes back parsed, any other line is decoded by
	// encoding/json.
	var fp fastParser
	next := func() (*fileLine, *BaselineFinding, error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, nil, fmt.Errorf("findings file: line %d: %w", n+1, err)
			}
			return nil, nil, nil
		}
		n++
		if f, ok := fp.parse(sc.Bytes()); ok {
			return &fileLine{Kind: "finding"}, &f, nil
		}
		var l fileLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, nil, fmt.Errorf("findings file: line %d: %w", n, err)
		}
		return &l, nil, nil
	}
	l, _, err := next()
	if err != nil {
		return nil, err
	}
	if l == nil || l.Kind != "run" {
		return nil, errors.New("findings file: the first line is not the run line")
	}
	if l.RunID == nil || *l.RunID == "" || l.GeneratedAt == nil {
		return nil, errors.New("findings file: line 1: run line without run_id or generated_at")
	}
	gen, err := time.Parse(time.RFC3339Nano, *l.GeneratedAt)
	if err != nil {
		return nil, fmt.Errorf("findings file: line 1: generated_at: %w", err)
	}
	base := &Baseline{RunID: *l.RunID, GeneratedAt: gen.UTC()}
	var fast *BaselineFinding
	for {
		if l, fast, err = next(); err != nil {
			return nil, err
		}
		if l == nil || l.Kind != "coverage" {
			break
		}
		if l.AccountID == nil || l.Region == nil || l.Read == nil {
			return nil, fmt.Errorf("findings file: line %d: coverage line without account_id, region or read", n)
		}
	}
	first, firstFast := l, fast // the first finding line, or nil at the end of the file
	// produce parses the finding lines, from the first, into emit.
	produce := func(emit func(BaselineFinding, error) bool) {
		l, fast := first, firstFast
		for l != nil {
			var f BaselineFinding
			var err error
			if fast != nil {
				f = *fast
			} else {
				f, err = parseFinding(l, n)
			}
			if !emit(f, err) || err != nil {
				return
			}
			if l, fast, err = next(); err != nil {
				emit(BaselineFinding{}, err)
				return
			}
		}
	}
	used := false
	base.Findings = func(yield func(BaselineFinding, error) bool) {
		if used {
			yield(BaselineFinding{}, errors.New("findings file: the findings were already read"))
			return
		}
		used = true
		prefetch(produce, yield)
	}
	return base, nil
}

// prefetch passes produce's findings to yield, produce running ahead in
// its own goroutine (pullAhead), so that decompressing and parsing the
// baseline runs beside the render on another core instead of adding to
// its wall time. When yield stops early, produce is stopped and waited
// for: nothing reads the caller's reader after the iterator returns.
func prefetch(produce func(emit func(BaselineFinding, error) bool), yield func(BaselineFinding, error) bool) {
	next, stop := pullAhead(iter.Seq2[BaselineFinding, error](produce))
	defer stop()
	for {
		f, err, ok := next()
		if !ok || !yield(f, err) || err != nil {
			return
		}
	}
}

// parseFinding checks a finding line (line n) and converts it.
func parseFinding(l *fileLine, n int) (BaselineFinding, error) {
	var f BaselineFinding
	if l.Kind != "finding" {
		return f, fmt.Errorf("findings file: line %d: kind %q after the coverage lines, want finding", n, l.Kind)
	}
	for _, p := range []*string{l.AccountID, l.AccountName, l.Region, l.RuleName, l.ResourceType, l.ResourceID, l.FirstSeen} {
		if p == nil {
			return f, fmt.Errorf("findings file: line %d: finding line with a key missing or null", n)
		}
	}
	if l.Carried == nil {
		return f, fmt.Errorf("findings file: line %d: finding line without carried", n)
	}
	first, err := time.Parse(time.RFC3339Nano, *l.FirstSeen)
	if err != nil {
		return f, fmt.Errorf("findings file: line %d: first_seen: %w", n, err)
	}
	f = BaselineFinding{AccountID: *l.AccountID, AccountName: *l.AccountName, Region: *l.Region, RuleName: *l.RuleName,
		ResourceType: *l.ResourceType, ResourceID: *l.ResourceID, Annotation: l.Annotation, FirstSeen: first.UTC(), Carried: *l.Carried}
	if l.LastEvaluated != nil {
		t, err := time.Parse(time.RFC3339Nano, *l.LastEvaluated)
		if err != nil {
			return BaselineFinding{}, fmt.Errorf("findings file: line %d: last_evaluated: %w", n, err)
		}
		f.LastEvaluated = t.UTC()
	}
	return f, nil
}

// fastParser reads a finding line in exactly the form findingsWriter writes
// it (keys in order, no spaces, strings without escapes) without
// encoding/json, which cost about 5 s of CPU per million lines, a third of
// a render. Anything else, including every line a hand or another tool
// wrote, is left to encoding/json. It reuses the previous line's strings
// for the leading fields when their bytes are equal: consecutive lines
// mostly share account, region, rule and type.
type fastParser struct {
	prev    [5]string // account_id, account_name, region, rule_name, resource_type
	prevAnn *string
	// times caches parsed times: first_seen takes one value per week a
	// finding appeared, last_evaluated repeats within an evaluation.
	times map[string]time.Time
	b     []byte
	ok    bool
}

func (p *fastParser) lit(s string) {
	if p.ok && len(p.b) >= len(s) && string(p.b[:len(s)]) == s {
		p.b = p.b[len(s):]
		return
	}
	p.ok = false
}

// raw returns the bytes of a JSON string without escapes, valid UTF-8.
func (p *fastParser) raw() []byte {
	if !p.ok || len(p.b) == 0 || p.b[0] != '"' {
		p.ok = false
		return nil
	}
	for i := 1; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			v := p.b[1:i]
			p.b = p.b[i+1:]
			if !utf8.Valid(v) {
				p.ok = false
			}
			return v
		case c == '\\' || c < 0x20:
			p.ok = false
			return nil
		}
	}
	p.ok = false
	return nil
}

// str is raw as a string, the previous line's when equal.
func (p *fastParser) str(i int) string {
	v := p.raw()
	if !p.ok {
		return ""
	}
	if i >= 0 && p.prev[i] == string(v) {
		return p.prev[i]
	}
	s := string(v)
	if i >= 0 {
		p.prev[i] = s
	}
	return s
}

func (p *fastParser) null() bool {
	if p.ok && len(p.b) >= 4 && string(p.b[:4]) == "null" {
		p.b = p.b[4:]
		return true
	}
	return false
}

func (p *fastParser) time() time.Time {
	v := p.raw()
	if !p.ok {
		return time.Time{}
	}
	if t, ok := p.times[string(v)]; ok {
		return t
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		p.ok = false
		return time.Time{}
	}
	t = t.UTC()
	if p.times == nil || len(p.times) >= 4096 {
		p.times = make(map[string]time.Time)
	}
	p.times[string(v)] = t
	return t
}

func (p *fastParser) parse(line []byte) (BaselineFinding, bool) {
	var f BaselineFinding
	p.b, p.ok = line, true
	p.lit(`{"kind":"finding","account_id":`)
	f.AccountID = p.str(0)
	p.lit(`,"account_name":`)
	f.AccountName = p.str(1)
	p.lit(`,"region":`)
	f.Region = p.str(2)
	p.lit(`,"rule_name":`)
	f.RuleName = p.str(3)
	p.lit(`,"resource_type":`)
	f.ResourceType = p.str(4)
	p.lit(`,"resource_id":`)
	f.ResourceID = p.str(-1)
	p.lit(`,"annotation":`)
	if !p.null() {
		v := p.raw()
		if p.prevAnn == nil || *p.prevAnn != string(v) {
			a := string(v)
			p.prevAnn = &a
		}
		f.Annotation = p.prevAnn // shared with the lines before: read only
	}
	p.lit(`,"last_evaluated":`)
	if !p.null() {
		f.LastEvaluated = p.time()
	}
	p.lit(`,"first_seen":`)
	f.FirstSeen = p.time()
	p.lit(`,"carried":`)
	switch {
	case p.ok && len(p.b) >= 4 && string(p.b[:4]) == "true":
		f.Carried, p.b = true, p.b[4:]
	case p.ok && len(p.b) >= 5 && string(p.b[:5]) == "false":
		p.b = p.b[5:]
	default:
		p.ok = false
	}
	p.lit("}")
	return f, p.ok && len(p.b) == 0
}
