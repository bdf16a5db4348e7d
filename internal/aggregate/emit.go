package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	log = log.With(slog.String("report_key", key))
	log.Info("emitting report", slog.Time("generated_at", claim.GeneratedAt), slog.Time("deadline", st.Started.Deadline), slog.Int("results", st.Results))

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopLease := a.keepLease(rctx, cancel, id, log)
	defer stopLease()

	tmp, err := os.CreateTemp("", "config-compliance-*.xlsx")
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("render").Inc()
		return fmt.Errorf("run %s: create temporary workbook: %w", id, err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	m, err := a.build(rctx, st, claim.GeneratedAt)
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("read").Inc()
		return fmt.Errorf("run %s: %w", id, leaseCause(rctx, err))
	}
	chaos.Point(chaos.MidRender)
	if err := a.render(rctx, tmp, m.run, m.accounts, m.errs, a.findings(rctx, st, m)); err != nil {
		a.metrics.emitFailures.WithLabelValues("render").Inc()
		return fmt.Errorf("render report of run %s: %w", id, leaseCause(rctx, err))
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		a.metrics.emitFailures.WithLabelValues("render").Inc()
		return fmt.Errorf("run %s: rewind temporary workbook: %w", id, err)
	}
	if err := a.blob.Put(rctx, key, tmp, ContentTypeXLSX); err != nil {
		a.metrics.emitFailures.WithLabelValues("upload").Inc()
		return fmt.Errorf("upload report of run %s: %w", id, leaseCause(rctx, err))
	}
	chaos.Point(chaos.AfterUpload)
	stopLease()
	emittedAt := a.cfg.Now()
	if err := a.store.MarkEmitted(ctx, id, a.cfg.Owner, key, "", emittedAt); err != nil {
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
	log.Info("report emitted", slog.Int64("bytes", size),
		slog.Int("accounts_expected", m.summary.AccountsExpected), slog.Int("accounts_scanned", m.summary.AccountsScanned),
		slog.Int("accounts_failed", m.summary.AccountsFailed), slog.Int("accounts_missing", m.summary.AccountsMissing),
		slog.Int("noncompliant_accounts", m.summary.NonCompliantAccounts))

	if a.notifier != nil {
		st.Emitted, st.ReportKey, st.GeneratedAt = true, key, claim.GeneratedAt
		a.handTicket(ctx, st, &m.summary, fileAttachment(tmp.Name(), size))
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

// Rerender renders an emitted run's workbook again from the store, with its
// first claim's Generated at, and uploads it to the run's report key: local
// mode's re-run of a finished run, without scanning again. The bytes equal
// the emitted ones unless results were recorded after the emission (late
// results are kept in the store; only this explicit re-render shows them).
// It files no ticket.
func (a *Aggregator) Rerender(ctx context.Context, id ident.RunID) (string, error) {
	st, err := a.store.Run(ctx, id)
	if err != nil {
		return "", fmt.Errorf("read run %s: %w", id, err)
	}
	if !st.Emitted || st.Started == nil {
		return "", fmt.Errorf("run %s has not been emitted: nothing to re-render (the loop emits it)", id)
	}
	tmp, err := os.CreateTemp("", "config-compliance-*.xlsx")
	if err != nil {
		return "", fmt.Errorf("run %s: create temporary workbook: %w", id, err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	m, err := a.build(ctx, st, st.GeneratedAt)
	if err != nil {
		return "", fmt.Errorf("run %s: %w", id, err)
	}
	if err := a.render(ctx, tmp, m.run, m.accounts, m.errs, a.findings(ctx, st, m)); err != nil {
		return "", fmt.Errorf("render report of run %s: %w", id, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("run %s: rewind temporary workbook: %w", id, err)
	}
	if err := a.blob.Put(ctx, st.ReportKey, tmp, ContentTypeXLSX); err != nil {
		return "", fmt.Errorf("upload report of run %s: %w", id, err)
	}
	a.log.Info("report re-rendered", slog.String("run_id", string(id)), slog.String("report_key", st.ReportKey))
	return st.ReportKey, nil
}
