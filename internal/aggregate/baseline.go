package aggregate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"time"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// Renderer writes a run's workbook and, when out.Findings is set, its
// findings file, comparing with base (nil: none); report.RenderRun in
// production. An error wrapping report.ErrBaseline blames the baseline.
type Renderer func(ctx context.Context, out report.Output, run report.Run, accounts []report.Account, errs []report.ErrorRow, findings report.Findings, base *report.Baseline) (report.ChangeCounts, error)

// ContentTypeFindings is the findings file's media type: gzip, stored as
// is (no Content-Encoding, so that a download keeps the .gz it is named).
const ContentTypeFindings = "application/gzip"

// FindingsKey is where a run's findings file goes: beside its workbook
// (REPORT_FORMAT.md, The findings file).
func FindingsKey(reportKey string, id ident.RunID) string {
	return path.Join(path.Dir(reportKey), report.FindingsFileName(string(id)))
}

// BaselinePin is a baseline chosen instead of the store's (Config.Baseline)
// for run RunID, or for every run when RunID is empty. Ref nil: no
// baseline.
type BaselinePin struct {
	RunID ident.RunID
	Ref   *store.BaselineRef
}

// Compared is what a report's Changes sheet compared with: the baseline
// run (its Generated at as its findings file says) and what moved since.
type Compared struct {
	RunID         ident.RunID
	GeneratedAt   time.Time
	New, Resolved int
}

// opener is a blob store that streams an object (blob.Folder and blob.S3
// do); the others are read whole with Get.
type opener interface {
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// openBaseline opens ref's findings file as a stream. A baseline that is
// gone, unreadable, malformed at its head or not the run it should be is
// no baseline: the report goes out without one, with a warning (never a
// failed report). The caller closes what it returns.
func (a *Aggregator) openBaseline(ctx context.Context, ref *store.BaselineRef, log *slog.Logger) (*report.Baseline, io.Closer) {
	if ref == nil {
		return nil, io.NopCloser(nil)
	}
	warn := func(why string, err error) (*report.Baseline, io.Closer) {
		a.metrics.baselineUnusable.Inc()
		log.Warn("baseline "+why+"; the report has no baseline (an empty Changes sheet)",
			slog.String("baseline_run_id", string(ref.RunID)), slog.String("findings_key", ref.FindingsKey), slog.Any("error", err))
		return nil, io.NopCloser(nil)
	}
	if ref.FindingsKey == "" {
		return warn("has no findings file", errors.New("no findings key stored"))
	}
	var rc io.ReadCloser
	if o, ok := a.blob.(opener); ok {
		r, err := o.Open(ctx, ref.FindingsKey)
		if err != nil {
			return warn("findings file unreadable", err)
		}
		rc = r
	} else {
		b, err := a.blob.Get(ctx, ref.FindingsKey)
		if err != nil {
			return warn("findings file unreadable", err)
		}
		rc = io.NopCloser(bytes.NewReader(b))
	}
	base, err := report.ReadFindingsFile(rc)
	if err == nil && base.RunID != string(ref.RunID) {
		err = fmt.Errorf("its run line names run %s", base.RunID)
	}
	if err != nil {
		_ = rc.Close()
		return warn("findings file corrupt", err)
	}
	return base, rc
}

// files are a render's two temporary files and what it compared.
type files struct {
	workbook, findings *os.File
	// compared is nil when the report has no baseline (none fixed, or
	// its findings file could not be used).
	compared *Compared
}

func (f *files) remove() {
	for _, t := range []*os.File{f.workbook, f.findings} {
		if t != nil {
			_ = t.Close()
			_ = os.Remove(t.Name())
		}
	}
}

// size returns the file's size and rewinds it for the upload.
func size(f *os.File) (int64, error) {
	n, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	return n, err
}

// renderFiles renders the run's workbook and findings file into temporary
// files, in one pass, compared with ref's findings file. A baseline found
// corrupt mid-stream (report.ErrBaseline) is dropped with a warning and the
// run rendered again without it. The caller removes the files (also on
// error).
func (a *Aggregator) renderFiles(ctx context.Context, st store.RunState, m *model, ref *store.BaselineRef, log *slog.Logger) (*files, error) {
	f := &files{}
	var err error
	if f.workbook, err = os.CreateTemp("", "config-compliance-*.xlsx"); err != nil {
		return f, fmt.Errorf("create temporary workbook: %w", err)
	}
	if f.findings, err = os.CreateTemp("", "config-compliance-*.findings.jsonl.gz"); err != nil {
		return f, fmt.Errorf("create temporary findings file: %w", err)
	}
	base, closer := a.openBaseline(ctx, ref, log)
	out := report.Output{Workbook: f.workbook, Findings: f.findings}
	counts, err := a.render(ctx, out, m.run, m.accounts, m.errs, a.findings(ctx, st, m), base)
	_ = closer.Close()
	if err != nil && base != nil && errors.Is(err, report.ErrBaseline) && ctx.Err() == nil {
		a.metrics.baselineUnusable.Inc()
		log.Warn("baseline findings file corrupt; rendering again without a baseline (an empty Changes sheet)",
			slog.String("baseline_run_id", string(ref.RunID)), slog.String("findings_key", ref.FindingsKey), slog.Any("error", err))
		base = nil
		for _, t := range []*os.File{f.workbook, f.findings} {
			if err := t.Truncate(0); err != nil {
				return f, fmt.Errorf("empty temporary file: %w", err)
			}
			if _, err := t.Seek(0, io.SeekStart); err != nil {
				return f, fmt.Errorf("rewind temporary file: %w", err)
			}
		}
		counts, err = a.render(ctx, out, m.run, m.accounts, m.errs, a.findings(ctx, st, m), nil)
	}
	if err != nil {
		return f, err
	}
	if base != nil {
		f.compared = &Compared{RunID: ref.RunID, GeneratedAt: base.GeneratedAt, New: counts.New, Resolved: counts.Resolved}
	}
	return f, nil
}

// recount is the Changes counts of an emitted run whose summary was not
// kept (the ticket of a run emitted before a restart): the run rendered
// again with its stored baseline, to nowhere. It costs a render, once per
// such run (the summary is kept after); storing the counts would need a
// store field for a rare path.
func (a *Aggregator) recount(ctx context.Context, st store.RunState, m *model) (*Compared, error) {
	if st.Baseline == nil {
		return nil, nil // nothing to count against: no render
	}
	log := a.log.With(slog.String("run_id", string(st.RunID)))
	base, closer := a.openBaseline(ctx, st.Baseline, log)
	out := report.Output{Workbook: io.Discard}
	counts, err := a.render(ctx, out, m.run, m.accounts, m.errs, a.findings(ctx, st, m), base)
	_ = closer.Close()
	switch {
	case err != nil && base != nil && errors.Is(err, report.ErrBaseline) && ctx.Err() == nil:
		log.Warn("baseline findings file corrupt; the ticket says no baseline", slog.Any("error", err))
		return nil, nil
	case err != nil:
		return nil, err
	case base == nil:
		return nil, nil
	}
	return &Compared{RunID: st.Baseline.RunID, GeneratedAt: base.GeneratedAt, New: counts.New, Resolved: counts.Resolved}, nil
}

// pinBaseline fixes Config.Baseline as the run's baseline before its first
// claim. A run whose baseline is fixed already to another keeps it (a
// takeover, a resumed run): logged, not an error.
func (a *Aggregator) pinBaseline(ctx context.Context, id ident.RunID, log *slog.Logger) error {
	if a.cfg.Baseline == nil || (a.cfg.Baseline.RunID != "" && a.cfg.Baseline.RunID != id) {
		return nil
	}
	err := a.store.PinBaseline(ctx, id, a.cfg.Baseline.Ref)
	if errors.Is(err, store.ErrBaselineFixed) {
		log.Info("baseline fixed already at the run's first claim; the stored one stands",
			slog.String("wanted", a.cfg.Baseline.Ref.String()))
		return nil
	}
	if err != nil {
		return fmt.Errorf("pin baseline %s of run %s: %w", a.cfg.Baseline.Ref.String(), id, err)
	}
	return nil
}
