package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cybsecops/configreport/internal/chaos"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// ContentTypeXLSX is the workbook's media type.
const ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// Emit claims the run and, when this replica gets the claim, renders,
// uploads and marks its report, then files the ticket. It returns nil when
// another replica holds the run or it was already emitted; an error when
// this attempt failed (the lease then lapses, and the loop, here or
// elsewhere, tries again). A failed ticket is not an error of Emit: the
// report is out, and the loop retries the ticket.
func (a *Aggregator) Emit(ctx context.Context, id ident.RunID) error {
	a.mu.Lock()
	if a.emitting[id] {
		a.mu.Unlock()
		return nil
	}
	a.emitting[id] = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.emitting, id)
		a.mu.Unlock()
	}()

	log := a.log.With(slog.String("run_id", string(id)))
	start := a.cfg.Now()
	if err := a.pinBaseline(ctx, id, log); err != nil {
		a.metrics.emitFailures.WithLabelValues("claim").Inc()
		return err
	}
	claim, err := a.store.Claim(ctx, id, a.cfg.Owner, start, a.cfg.Lease)
	switch {
	case errors.Is(err, store.ErrClaimed):
		log.Debug("run claimed by another replica")
		return nil
	case errors.Is(err, store.ErrEmitted):
		log.Debug("run already emitted")
		return nil
	case err != nil:
		a.metrics.emitFailures.WithLabelValues("claim").Inc()
		return fmt.Errorf("claim run %s: %w", id, err)
	}
	st, err := a.store.Run(ctx, id)
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("read").Inc()
		return fmt.Errorf("read run %s: %w", id, err)
	}
	if st.Started == nil {
		a.metrics.emitFailures.WithLabelValues("read").Inc()
		return fmt.Errorf("run %s: claimed without a RunStarted", id)
	}
	if st.JoinedTo != "" {
		// Never pending, so only a stray kick gets here: its result counts
		// for the run it joined, which makes the report.
		log.Info("run joined another ad-hoc run; no report of its own", slog.String("joined_to", string(st.JoinedTo)))
		return nil
	}
	key := ReportKey(a.cfg.ReportPrefix, st.Started)
	fkey := FindingsKey(key, id)
	log = log.With(slog.String("report_key", key))
	log.Info("emitting report", slog.Time("generated_at", claim.GeneratedAt), slog.Time("deadline", st.Started.Deadline),
		slog.Int("results", st.Results), slog.String("baseline_run_id", claim.Baseline.String()))

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopLease := a.keepLease(rctx, cancel, id, log)
	defer stopLease()

	m, err := a.build(rctx, st, claim.GeneratedAt)
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("read").Inc()
		return fmt.Errorf("run %s: %w", id, leaseCause(rctx, err))
	}
	chaos.Point(chaos.MidRender)
	out, err := a.renderFiles(rctx, st, m, claim.Baseline, log)
	defer out.remove()
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("render").Inc()
		return fmt.Errorf("render report of run %s: %w", id, leaseCause(rctx, err))
	}
	m.summary.Compared = out.compared
	// The findings file first, then the workbook, then the mark: a crash
	// between them leaves objects that the takeover rewrites with the same
	// bytes (same Generated at, baseline and results), and a workbook is
	// never out without its findings file.
	fsize, err := a.upload(rctx, fkey, out.findings, ContentTypeFindings)
	if err != nil {
		return fmt.Errorf("upload findings file of run %s: %w", id, err)
	}
	wsize, err := a.upload(rctx, key, out.workbook, ContentTypeXLSX)
	if err != nil {
		return fmt.Errorf("upload report of run %s: %w", id, err)
	}
	chaos.Point(chaos.AfterUpload)
	stopLease()
	emittedAt := a.cfg.Now()
	if err := a.store.MarkEmitted(ctx, id, a.cfg.Owner, key, fkey, emittedAt); err != nil {
		if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrEmitted) {
			// Another replica took the run over: it uploads the same bytes
			// (same GeneratedAt, same results) and marks it.
			log.Warn("lease lost before the emitted mark; the replica that took over completes the run", slog.Any("error", err))
			return nil
		}
		a.metrics.emitFailures.WithLabelValues("mark").Inc()
		return fmt.Errorf("mark run %s emitted: %w", id, err)
	}
	a.metrics.reports.Inc()
	a.metrics.reportEmitted(st.Started, id, &m.summary, emittedAt)
	a.metrics.emitSeconds.Observe(a.cfg.Now().Sub(start).Seconds())
	changes := []any{slog.String("baseline_run_id", "none")}
	if c := out.compared; c != nil {
		changes = []any{slog.String("baseline_run_id", string(c.RunID)), slog.Int("new", c.New), slog.Int("resolved", c.Resolved)}
	}
	log.Info("report emitted", append([]any{slog.Int64("bytes", wsize), slog.Int64("findings_bytes", fsize), slog.String("findings_key", fkey),
		slog.Int("accounts_expected", m.summary.AccountsExpected), slog.Int("accounts_scanned", m.summary.AccountsScanned),
		slog.Int("accounts_failed", m.summary.AccountsFailed), slog.Int("accounts_missing", m.summary.AccountsMissing),
		slog.Int("noncompliant_accounts", m.summary.NonCompliantAccounts)}, changes...)...)

	if a.notifier != nil {
		st.Emitted, st.ReportKey, st.FindingsKey, st.GeneratedAt = true, key, fkey, claim.GeneratedAt
		a.handTicket(ctx, st, &m.summary, fileAttachment(out.workbook.Name(), wsize))
	}
	return nil
}

// leaseCause returns the lease loss, when that is why ctx was cancelled,
// rather than a bare "context canceled".
func leaseCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrLeaseLost) {
		return cause
	}
	return err
}

// keepLease renews the claim every Lease/3 while the report renders and
// uploads; when another replica has taken the run (our renewal was too
// late), it cancels the work with store.ErrLeaseLost. A store error on
// renewal is only logged: the next renewal may succeed before the lease ends.
func (a *Aggregator) keepLease(ctx context.Context, cancel context.CancelCauseFunc, id ident.RunID, log *slog.Logger) (stop func()) {
	return a.keepRenewing(ctx, log, "lease", func(now time.Time) error {
		_, err := a.store.Claim(ctx, id, a.cfg.Owner, now, a.cfg.Lease)
		switch {
		case errors.Is(err, store.ErrClaimed), errors.Is(err, store.ErrEmitted):
			cancel(fmt.Errorf("%w: renewing: %w", store.ErrLeaseLost, err))
			return nil
		}
		return err
	})
}

// keepRenewing calls renew every Lease/3 until stop is called, ctx ends or
// renew returns nil after cancelling ctx (a lease lost). A renew error is
// only logged: the next renewal may succeed before the lease ends.
func (a *Aggregator) keepRenewing(ctx context.Context, log *slog.Logger, what string, renew func(now time.Time) error) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := renew(a.cfg.Now())
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				log.Debug(what + " renewed")
			default:
				log.Warn("renew "+what+"; retrying", slog.Any("error", err))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// Rerender renders an emitted run's workbook and findings file again
// from the store, with its first claim's Generated at and its stored
// baseline, and uploads them to the run's keys: local mode's re-run of a
// finished run, without scanning again. The bytes equal the emitted ones
// unless results were recorded after the emission (late results are kept
// in the store; only this explicit re-render shows them) or the
// baseline's findings file has become unusable since. It files no ticket.
func (a *Aggregator) Rerender(ctx context.Context, id ident.RunID) (string, error) {
	st, err := a.store.Run(ctx, id)
	if err != nil {
		return "", fmt.Errorf("read run %s: %w", id, err)
	}
	if !st.Emitted || st.Started == nil {
		return "", fmt.Errorf("run %s has not been emitted: nothing to re-render (the loop emits it)", id)
	}
	log := a.log.With(slog.String("run_id", string(id)), slog.String("report_key", st.ReportKey))
	m, err := a.build(ctx, st, st.GeneratedAt)
	if err != nil {
		return "", fmt.Errorf("run %s: %w", id, err)
	}
	out, err := a.renderFiles(ctx, st, m, st.Baseline, log)
	defer out.remove()
	if err != nil {
		return "", fmt.Errorf("render report of run %s: %w", id, err)
	}
	// A run emitted before findings files has no key stored: its file
	// goes where it would have (the emitted mark cannot change).
	fkey := st.FindingsKey
	if fkey == "" {
		fkey = FindingsKey(st.ReportKey, id)
	}
	for _, up := range []struct {
		f        *os.File
		key, typ string
	}{{out.findings, fkey, ContentTypeFindings}, {out.workbook, st.ReportKey, ContentTypeXLSX}} {
		if _, err := size(up.f); err != nil {
			return "", fmt.Errorf("run %s: rewind temporary file: %w", id, err)
		}
		if err := a.blob.Put(ctx, up.key, up.f, up.typ); err != nil {
			return "", fmt.Errorf("upload %s of run %s: %w", up.key, id, err)
		}
	}
	log.Info("report re-rendered", slog.String("findings_key", fkey), slog.String("baseline_run_id", st.Baseline.String()))
	return st.ReportKey, nil
}

// upload puts a rendered file (written, its offset at its end) under key
// and returns its size; a failure is counted as the upload stage's, and
// says so when it is the lease running out.
func (a *Aggregator) upload(ctx context.Context, key string, f *os.File, contentType string) (int64, error) {
	n, err := size(f)
	if err == nil {
		err = a.blob.Put(ctx, key, f, contentType)
	}
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("upload").Inc()
		return 0, leaseCause(ctx, err)
	}
	return n, nil
}
