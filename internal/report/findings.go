package report

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

func findingsSheetName(n int) string {
	if n == 1 {
		return SheetFindings
	}
	return SheetFindings + " (" + strconv.Itoa(n) + ")"
}

func findingsTableName(n int) string {
	if n == 1 {
		return "NonCompliantResources"
	}
	return "NonCompliantResources" + strconv.Itoa(n)
}

func compareFindings(a, b *Finding) int {
	return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region),
		cmp.Compare(a.RuleName, b.RuleName), cmp.Compare(a.ResourceType, b.ResourceType),
		cmp.Compare(a.ResourceID, b.ResourceID))
}

// findingStream pulls findings, checking order and consistency and counting
// them per account and per rule name as they pass.
type findingStream struct {
	ctx   context.Context
	next  func() (Finding, error, bool)
	in    *input
	rules map[string]*ruleAgg
	n     int // findings read so far
	prev  Finding
	acct  *accountState
	pairs map[[2]string]bool // (region, rule) of acct
	done  bool
	diff  *differ
}

// seenFinding is a finding as read, with its First Seen from the diff.
type seenFinding struct {
	Finding
	first time.Time
}

// read returns the next finding; ok is false at the end.
func (s *findingStream) read() (sf seenFinding, ok bool, err error) {
	if s.done {
		return sf, false, nil
	}
	f, err, ok := s.next()
	if !ok {
		s.done = true
		return sf, false, nil
	}
	if err != nil {
		return sf, false, fmt.Errorf("findings: %w", err)
	}
	s.n++
	if s.n%ctxCheckEvery == 0 {
		if err := s.ctx.Err(); err != nil {
			return sf, false, err
		}
	}
	if s.n > 1 && compareFindings(&f, &s.prev) < 0 {
		return sf, false, fmt.Errorf("findings out of order: finding %d %s sorts before finding %d %s; the caller must sort by account id, region, rule name, resource type, resource id",
			s.n, findingKey(&f), s.n-1, findingKey(&s.prev))
	}
	s.prev = f
	if s.acct == nil || s.acct.ID != f.AccountID {
		a := s.in.byID[f.AccountID]
		if a == nil {
			return sf, false, fmt.Errorf("finding %d %s: unknown account", s.n, findingKey(&f))
		}
		if !a.scanned() {
			return sf, false, fmt.Errorf("finding %d %s: account is %s", s.n, findingKey(&f), a.Status)
		}
		s.acct = a
		s.pairs = make(map[[2]string]bool, len(a.Rules))
		for _, r := range a.Rules {
			s.pairs[[2]string{r.Region, r.Name}] = true
		}
	}
	if !s.pairs[[2]string{f.Region, f.RuleName}] {
		return sf, false, fmt.Errorf("finding %d %s: the account has no rule %q in %q (a finding of a failed region?)", s.n, findingKey(&f), f.RuleName, f.Region)
	}
	if f.Compliance != NonCompliant {
		return sf, false, fmt.Errorf("finding %d %s: compliance %q, want %s", s.n, findingKey(&f), f.Compliance, NonCompliant)
	}
	s.acct.ncResources++
	s.rules[f.RuleName].ncResources++
	first, err := s.diff.observe(&f)
	if err != nil {
		return sf, false, err
	}
	return seenFinding{Finding: f, first: first}, true, nil
}

func findingKey(f *Finding) string {
	return fmt.Sprintf("(%q, %q, %q, %q, %q)", f.AccountID, f.Region, f.RuleName, f.ResourceType, f.ResourceID)
}

func (st styles) findingRow(row []any, f *seenFinding, run Run, a *accountState) []any {
	row = append(row[:0], st.text(f.AccountID), st.text(a.Name), st.text(f.Region), st.text(f.RuleName),
		st.text(f.ResourceType), st.text(f.ResourceID), st.text(f.Compliance), st.text(f.Annotation), st.timeCell(f.RecordedAt),
		st.timeCell(f.first))
	return st.owners(row, run, &a.Account)
}

// writeFindings streams the findings into "Non-compliant Resources" and, past
// maxDataRows, into "(2)", "(3)"…, created one after the other so they sit
// right after sheet 3 and before Errors.
func writeFindings(ctx context.Context, f *excelize.File, st styles, in *input, rules map[string]*ruleAgg, findings Findings, d *differ) error {
	if findings == nil {
		findings = func(func(Finding, error) bool) {}
	}
	// The findings are produced (read from the store and decoded, in the
	// aggregator) ahead of the rows, on another core: re-rendering a
	// 1,000-account run from its store, that is as much CPU as writing
	// them (the emit right after a local run finds them cheaper: 10-20 ms).
	next, stop := pullAhead(iter.Seq2[Finding, error](findings))
	defer stop()
	s := &findingStream{ctx: ctx, next: next, in: in, rules: rules, diff: d}
	row := make([]any, 0, len(findingsHeaders)+len(in.run.OwnerColumns))
	sample := make([]seenFinding, 0, max(1, min(widthSample, maxDataRows)))
	for n := 1; ; n++ {
		sample = sample[:0]
		for len(sample) < cap(sample) {
			fd, ok, err := s.read()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			sample = append(sample, fd)
		}
		if n > 1 && len(sample) == 0 {
			return nil
		}
		t := table{sheet: findingsSheetName(n), name: findingsTableName(n), headers: withOwners(findingsHeaders, in.run), headerRow: 1}
		if _, err := f.NewSheet(t.sheet); err != nil {
			return fmt.Errorf("create sheet %s: %w", t.sheet, err)
		}
		// Widths fit the header and the read-ahead sample: a streamed sheet
		// cannot change them once rows are written.
		w := newWidths(t.headers)
		for i := range sample {
			fd := &sample[i]
			for c, v := range st.findingRow(row, fd, in.run, in.byID[fd.AccountID]) {
				w.see(c, st.cellWidth(v))
			}
		}
		// The whole column: the row count is unknown until the stream ends.
		cfs := map[string][]excelize.ConditionalFormatOptions{
			"G2:G1048576": {st.redWhen("==", `"`+NonCompliant+`"`)},
		}
		sw, err := t.open(f, w, cfs)
		if err != nil {
			return err
		}
		if err := t.writeHeader(sw, st); err != nil {
			return err
		}
		rows := 0
		put := func(fd *seenFinding) error {
			rows++
			if err := sw.SetRow("A"+strconv.Itoa(rows+1), st.findingRow(row, fd, in.run, in.byID[fd.AccountID])); err != nil {
				return fmt.Errorf("sheet %s: row %d: %w", t.sheet, rows+1, err)
			}
			return nil
		}
		for i := range sample {
			if err := put(&sample[i]); err != nil {
				return err
			}
		}
		for rows < maxDataRows {
			fd, ok, err := s.read()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if err := put(&fd); err != nil {
				return err
			}
		}
		if err := t.close(sw, st, rows); err != nil {
			return err
		}
		if s.done {
			return nil
		}
	}
}
