package report

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

var changesHeaders = []string{"Change", "Account ID", "Account Name", "Region", "Rule Name", "Resource Type", "Resource ID", "First Seen (UTC)"}

// The Change column's two values.
const (
	changeNew      = "NEW"
	changeResolved = "RESOLVED"
)

// changesHeaderRow: rows 1-4 are the key/value block, row 5 is empty.
const changesHeaderRow = 6

// ChangeCounts is what the Changes sheet counted (the Jira ticket prints
// them): distinct keys NEW and RESOLVED.
type ChangeCounts struct{ New, Resolved int }

// findingKey5 is a finding's key: account, region, rule name, resource
// type, resource id.
type findingKey5 [5]string

func keyOf(f *Finding) findingKey5 {
	return findingKey5{f.AccountID, f.Region, f.RuleName, f.ResourceType, f.ResourceID}
}

func baseKeyOf(f *BaselineFinding) findingKey5 {
	return findingKey5{f.AccountID, f.Region, f.RuleName, f.ResourceType, f.ResourceID}
}

func compareKeys(a, b *findingKey5) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// differ merges this run's findings, as the findings sheet reads them, with
// the baseline's finding lines: both streams are in key order, so one pass
// over each with one line of look-ahead decides every key, and neither is
// held. It writes the findings file's finding lines as it goes (carried
// lines in their key's place) and spools the Changes rows to temporary
// files, NEW and RESOLVED apart, in key order: the sheet wants all NEW rows
// first, and is written after Errors, once the merge is over.
//
// Repeats: equal keys may repeat in this run's findings (Findings' doc) and
// so in a baseline's file. A key is one finding for the diff: one NEW row
// (its first occurrence) or one RESOLVED row, counted once, and every
// repeat of it in this run gets the same First Seen (the earliest the
// baseline recorded for it). In the findings file each result keeps its
// line, and carried lines are copied one for one.
type differ struct {
	ctx  context.Context
	in   *input
	st   styles
	gen  time.Time
	file *findingsWriter // nil: no findings file

	base    *Baseline // nil: no baseline
	next    func() (BaselineFinding, error, bool)
	stop    func()
	pending BaselineFinding // the baseline's next line, when has
	has     bool
	prev    findingKey5 // the last baseline line pulled, for the order check
	pulled  int

	last      findingKey5 // the last key of this run, and its First Seen
	lastFirst time.Time
	haveLast  bool
	resolved  findingKey5 // the last key spooled RESOLVED
	haveRes   bool

	newRows, resRows *spool
	counts           ChangeCounts
	w                widths // the Changes table's column widths
}

func newDiffer(ctx context.Context, in *input, st styles, file *findingsWriter, base *Baseline) (*differ, error) {
	d := &differ{ctx: ctx, in: in, st: st, gen: in.run.GeneratedAt.UTC(), file: file, base: base,
		w: newWidths(withOwners(changesHeaders, in.run))}
	if base == nil {
		return d, nil
	}
	var err error
	if d.newRows, err = newSpool(); err != nil {
		return nil, err
	}
	if d.resRows, err = newSpool(); err != nil {
		d.close()
		return nil, err
	}
	findings := base.Findings
	if findings == nil {
		findings = func(func(BaselineFinding, error) bool) {}
	}
	d.next, d.stop = iter.Pull2(findings)
	return d, d.pull()
}

// close releases the baseline iterator and the spools.
func (d *differ) close() {
	if d.stop != nil {
		d.stop()
	}
	d.newRows.remove()
	d.resRows.remove()
}

// pull reads the baseline's next line into pending, checking the order.
func (d *differ) pull() error {
	f, err, ok := d.next()
	if !ok {
		d.has = false
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrBaseline, d.base.RunID, err)
	}
	d.pulled++
	if d.pulled%ctxCheckEvery == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	k := baseKeyOf(&f)
	if d.pulled > 1 && compareKeys(&k, &d.prev) < 0 {
		return fmt.Errorf("%w %s: finding line %d %v sorts before the line above it %v: a corrupt baseline", ErrBaseline, d.base.RunID, d.pulled, k, d.prev)
	}
	d.prev, d.pending, d.has = k, f, true
	return nil
}

// observe takes this run's next finding (in key order) and returns its
// First Seen, after settling every baseline line that sorts before it and
// writing its findings file line.
func (d *differ) observe(f *Finding) (time.Time, error) {
	k := keyOf(f)
	if !d.haveLast || k != d.last {
		first := d.gen
		isNew := d.base != nil
		for d.has {
			c := compareKeys(&d.prev, &k)
			if c > 0 {
				break
			}
			if c == 0 {
				if isNew || d.pending.FirstSeen.Before(first) {
					first = d.pending.FirstSeen
				}
				isNew = false
			} else if err := d.baseOnly(&d.pending); err != nil {
				return time.Time{}, err
			}
			if err := d.pull(); err != nil {
				return time.Time{}, err
			}
		}
		if isNew {
			d.counts.New++
			if err := d.spoolRow(d.newRows, &k, first); err != nil {
				return time.Time{}, err
			}
		}
		d.last, d.lastFirst, d.haveLast = k, first, true
	}
	if d.file != nil {
		var ann *string
		if f.Annotation != "" {
			ann = &f.Annotation
		}
		if err := d.file.finding(f.AccountID, d.in.byID[f.AccountID].Name, f.Region, f.RuleName, f.ResourceType, f.ResourceID,
			ann, f.RecordedAt, d.lastFirst, false); err != nil {
			return time.Time{}, err
		}
	}
	return d.lastFirst, nil
}

// finish settles the baseline lines after this run's last finding.
func (d *differ) finish() error {
	for d.has {
		if err := d.baseOnly(&d.pending); err != nil {
			return err
		}
		if err := d.pull(); err != nil {
			return err
		}
	}
	return nil
}

// baseOnly settles a baseline line whose key this run does not have: what
// this run's coverage of its (account, region) says decides. An account
// not among this run's (an ad-hoc run's restriction, an account suspended
// or gone) or a region the run does not configure: nothing, the run did not
// look. Read yes: RESOLVED. Read failed or missing: carried into the
// findings file as it was. Read skipped (region not enabled): nothing.
func (d *differ) baseOnly(b *BaselineFinding) error {
	a := d.in.byID[b.AccountID]
	if a == nil {
		return nil
	}
	ri, ok := d.in.regionIdx[b.Region]
	if !ok {
		return nil
	}
	switch a.cov[ri].Read {
	case ReadYes:
		k := baseKeyOf(b)
		if d.haveRes && k == d.resolved {
			return nil
		}
		d.resolved, d.haveRes = k, true
		d.counts.Resolved++
		return d.spoolRow(d.resRows, &k, b.FirstSeen)
	case ReadFailed, ReadMissing:
		if d.file == nil {
			return nil
		}
		return d.file.finding(b.AccountID, b.AccountName, b.Region, b.RuleName, b.ResourceType, b.ResourceID,
			b.Annotation, b.LastEvaluated, b.FirstSeen, true)
	}
	return nil
}

// spoolRow records a Changes row and widens the columns it needs.
func (d *differ) spoolRow(s *spool, k *findingKey5, first time.Time) error {
	a := d.in.byID[k[0]]
	d.w.see(0, len(changeResolved))
	d.w.see(1, textWidth(k[0]))
	d.w.see(2, textWidth(cellText(a.Name)))
	for i := 1; i < 5; i++ {
		d.w.see(i+2, textWidth(cellText(k[i])))
	}
	d.w.see(7, timeWidth)
	for i := range d.in.run.OwnerColumns {
		if i < len(a.Owners) {
			d.w.see(8+i, textWidth(cellText(a.Owners[i])))
		}
	}
	return s.put(k, first)
}

// spool is a temporary file of Changes rows: each row its key's five
// strings (uvarint length, bytes) and its First Seen (varint seconds,
// uvarint nanoseconds).
type spool struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
	n   int
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "config-compliance-changes-*")
	if err != nil {
		return nil, fmt.Errorf("create changes spool: %w", err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spool) put(k *findingKey5, t time.Time) error {
	b := s.buf[:0]
	for _, p := range k {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	s.buf = b
	s.n++
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("changes spool: %w", err)
	}
	return nil
}

// rows reads the spool back from its start, in the order written.
func (s *spool) rows() iter.Seq2[changeRow, error] {
	return func(yield func(changeRow, error) bool) {
		if s == nil {
			return
		}
		if err := s.w.Flush(); err != nil {
			yield(changeRow{}, fmt.Errorf("changes spool: %w", err))
			return
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			yield(changeRow{}, fmt.Errorf("changes spool: %w", err))
			return
		}
		r := bufio.NewReaderSize(s.f, 64<<10)
		for range s.n {
			var c changeRow
			err := func() error {
				for i := range c.key {
					n, err := binary.ReadUvarint(r)
					if err != nil {
						return err
					}
					p := make([]byte, n)
					if _, err := io.ReadFull(r, p); err != nil {
						return err
					}
					c.key[i] = string(p)
				}
				sec, err := binary.ReadVarint(r)
				if err != nil {
					return err
				}
				ns, err := binary.ReadUvarint(r)
				if err != nil {
					return err
				}
				c.first = time.Unix(sec, int64(ns)).UTC()
				return nil
			}()
			if err != nil {
				yield(changeRow{}, fmt.Errorf("changes spool: %w", err))
				return
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

func (s *spool) remove() {
	if s == nil {
		return
	}
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

type changeRow struct {
	key   findingKey5
	first time.Time
}

func (st styles) changeRow(row []any, run Run, change string, c *changeRow, a *accountState) []any {
	row = append(row[:0], change, st.text(c.key[0]), st.text(a.Name), st.text(c.key[1]), st.text(c.key[2]),
		st.text(c.key[3]), st.text(c.key[4]), st.timeCell(c.first))
	return st.owners(row, run, &a.Account)
}

// writeChanges streams the Changes sheet: the key/value block, then the
// NEW rows and the RESOLVED rows from their spools.
func writeChanges(f *excelize.File, st styles, in *input, d *differ) error {
	t := table{sheet: SheetChanges, name: "ChangesTable", headers: withOwners(changesHeaders, in.run), headerRow: changesHeaderRow}
	key := func(k string) any { return excelize.Cell{StyleID: st.key, Value: k} }
	above := [][]any{{key("Compared with")}, {key("Baseline generated at (UTC)")}, {key("New")}, {key("Resolved")}}
	if d.base != nil {
		above[0] = append(above[0], st.text(d.base.RunID))
		if !d.base.GeneratedAt.Before(excelEpoch) {
			above[1] = append(above[1], excelize.Cell{StyleID: st.kvDateTime, Value: d.base.GeneratedAt.UTC()})
		}
		above[2] = append(above[2], excelize.Cell{StyleID: st.kvNumber, Value: d.counts.New})
		above[3] = append(above[3], excelize.Cell{StyleID: st.kvNumber, Value: d.counts.Resolved})
	}
	w := d.w
	for _, r := range above {
		w.see(0, st.cellWidth(r[0]))
		// As on Summary, a text value (the run id) overflows into the empty
		// cells to its right rather than widening Account ID.
		if len(r) > 1 && !st.isText(r[1]) {
			w.see(1, st.cellWidth(r[1]))
		}
	}
	n := d.counts.New + d.counts.Resolved
	last := lastDataRow(t.headerRow, n)
	ref := fmt.Sprintf("A%d:A%d", t.headerRow+1, last)
	cfs := map[string][]excelize.ConditionalFormatOptions{
		ref: {st.redWhen("==", `"`+changeNew+`"`), st.greenWhen("==", `"`+changeResolved+`"`)},
	}
	sw, err := t.open(f, w, cfs)
	if err != nil {
		return err
	}
	for i, r := range above {
		if err := sw.SetRow("A"+strconv.Itoa(i+1), r); err != nil {
			return fmt.Errorf("sheet %s: row %d: %w", t.sheet, i+1, err)
		}
	}
	if err := t.writeHeader(sw, st); err != nil {
		return err
	}
	row := make([]any, 0, len(t.headers))
	r := t.headerRow
	for _, part := range []struct {
		change string
		rows   *spool
	}{{changeNew, d.newRows}, {changeResolved, d.resRows}} {
		for c, err := range part.rows.rows() {
			if err != nil {
				return err
			}
			r++
			if err := sw.SetRow("A"+strconv.Itoa(r), st.changeRow(row, in.run, part.change, &c, in.byID[c.key[0]])); err != nil {
				return fmt.Errorf("sheet %s: row %d: %w", t.sheet, r, err)
			}
		}
	}
	if r != t.headerRow+n {
		return errors.New("changes spool: row count differs from the counts")
	}
	return t.close(sw, st, n)
}
