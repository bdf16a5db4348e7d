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
	"strings"
	"time"

	"github.com/cybsecops/configreport/internal/chaos"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// Notifier files a run's ticket (internal/jira in production).
type Notifier interface {
	// FindByRunLabel returns the key of the ticket already filed for the run
	// (found by its run label), or "" when there is none.
	FindByRunLabel(ctx context.Context, id ident.RunID) (string, error)
	// File opens the run's ticket and returns its key.
	File(ctx context.Context, t Ticket) (string, error)
}

// Ticket is what a Notifier needs to file a run's ticket.
type Ticket struct {
	RunID       ident.RunID
	Trigger     events.Trigger
	StartedAt   time.Time // the ticket's week is StartedAt's ISO week
	GeneratedAt time.Time
	// ReportKey is the workbook's key; ReportLocation the same with the
	// configured location in front (s3://bucket/key).
	ReportKey      string
	ReportLocation string
	Summary
	Workbook Attachment
}

// Attachment is the workbook, opened only when the notifier attaches it.
type Attachment struct {
	Name string
	// Size returns the workbook's size in bytes without reading it (a HEAD
	// on S3): the notifier weighs it first and opens a workbook over its
	// attachment limit not at all. Nil: only Open tells the size.
	Size func(ctx context.Context) (int64, error)
	// Open returns the workbook and its size in bytes.
	Open func(ctx context.Context) (io.ReadCloser, int64, error)
}

func fileAttachment(name string, size int64) Attachment {
	return Attachment{Name: path.Base(name),
		Size: func(context.Context) (int64, error) { return size, nil },
		Open: func(context.Context) (io.ReadCloser, int64, error) {
			f, err := os.Open(name)
			return f, size, err
		}}
}

// blobAttachment is the uploaded workbook: Size is a HEAD, so that a
// workbook over the attachment limit is never downloaded (Get reads the
// whole object into memory).
func (a *Aggregator) blobAttachment(key string) Attachment {
	return Attachment{Name: path.Base(key),
		Size: func(ctx context.Context) (int64, error) { return a.blob.Size(ctx, key) },
		Open: func(ctx context.Context) (io.ReadCloser, int64, error) {
			b, err := a.blob.Get(ctx, key)
			if err != nil {
				return nil, 0, err
			}
			return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
		}}
}

func (a *Aggregator) location(key string) string {
	if a.cfg.ReportLocation == "" {
		return key
	}
	return strings.TrimSuffix(a.cfg.ReportLocation, "/") + "/" + key
}

// ticketDue tells whether the loop should try the run's ticket now: the
// replica that emitted it retries on its backoff; the others only once
// TicketTakeover has passed since the emission (that replica may be filing),
// and none while another replica's ticket lease is live (it is filing).
func (a *Aggregator) ticketDue(st store.RunState, now time.Time) bool {
	if st.ClaimOwner != a.cfg.Owner && now.Before(st.EmittedAt.Add(a.cfg.TicketTakeover)) {
		return false
	}
	if st.TicketOwner != "" && st.TicketOwner != a.cfg.Owner && !now.After(st.TicketUntil) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.due(a.backoff, st.RunID, now)
}

// ticketFailed counts a failed try and backs the run's next try off. A try
// cut short by ctx's end (shutdown) is no failure: the next start retries.
func (a *Aggregator) ticketFailed(ctx context.Context, id ident.RunID, err error) {
	if ctx.Err() != nil {
		a.log.Info("ticket try stopped by shutdown; the run stays unticketed in the store", slog.String("run_id", string(id)), slog.Any("error", err))
		return
	}
	a.metrics.ticketFailures.Inc()
	a.mu.Lock()
	r := a.failed(a.backoff, id)
	a.mu.Unlock()
	a.log.Error("ticket not filed; the report is uploaded, the loop retries",
		slog.String("run_id", string(id)), slog.Int("attempt", r.failures), slog.Time("next_attempt", r.next), slog.Any("error", err))
}

// ticket finds or files the run's ticket and stores its key, under the
// run's ticket lease: two replicas past the takeover at once (a restarted
// pod has a new owner name) would otherwise both search, both find nothing
// (Jira's search is eventually consistent) and both file. The lease is
// renewed every Lease/3 while Jira answers; lost, the search and filing
// are cancelled. It searches first, every time: a crash after filing and
// before storing leaves a ticket that only the search can find (by then
// the crashed holder's lease has run out, a Lease at least, long enough
// for the search to see it). The lease, the search and the filing are
// bounded by TicketBudget; the key, once Jira gave it, is stored anyway.
func (a *Aggregator) ticket(ctx context.Context, st store.RunState, sum Summary, wb Attachment) {
	log := a.log.With(slog.String("run_id", string(st.RunID)))
	if st.Started == nil || st.ReportKey == "" {
		a.ticketFailed(ctx, st.RunID, errors.New("the store returned the emitted run without its RunStarted or report key"))
		return
	}
	a.mu.Lock()
	a.summaries[st.RunID] = sum
	a.mu.Unlock()
	bctx, stopBudget := context.WithTimeoutCause(ctx, a.cfg.TicketBudget,
		fmt.Errorf("ticket budget of %s spent (Jira too slow); retried on the backoff", a.cfg.TicketBudget))
	defer stopBudget()
	_, err := a.store.ClaimTicket(bctx, st.RunID, a.cfg.Owner, a.cfg.Now(), a.cfg.Lease)
	switch {
	case errors.Is(err, store.ErrClaimed):
		log.Debug("another replica holds the ticket lease; it files", slog.Any("reason", err))
		return
	case errors.Is(err, store.ErrTicketed):
		log.Debug("ticket stored by another replica")
		a.mu.Lock()
		delete(a.backoff, st.RunID)
		delete(a.summaries, st.RunID)
		a.mu.Unlock()
		return
	case err != nil:
		a.ticketFailed(ctx, st.RunID, fmt.Errorf("take the ticket lease: %w", ticketCause(bctx, err)))
		return
	}
	jctx, cancel := context.WithCancelCause(bctx)
	defer cancel(nil)
	stopLease := a.keepRenewing(jctx, log, "ticket lease", func(now time.Time) error {
		_, err := a.store.ClaimTicket(jctx, st.RunID, a.cfg.Owner, now, a.cfg.Lease)
		if errors.Is(err, store.ErrClaimed) || errors.Is(err, store.ErrTicketed) {
			cancel(fmt.Errorf("ticket lease lost: %w", err))
			return nil
		}
		return err
	})
	defer stopLease()
	key, err := a.notifier.FindByRunLabel(jctx, st.RunID)
	if err != nil {
		err = ticketCause(jctx, err)
		a.ticketFailed(ctx, st.RunID, fmt.Errorf("search for the run's ticket: %w", err))
		return
	}
	how := "found"
	if key == "" {
		how = "filed"
		key, err = a.notifier.File(jctx, Ticket{
			RunID: st.RunID, Trigger: st.Started.Trigger, StartedAt: st.Started.StartedAt.UTC(),
			GeneratedAt: st.GeneratedAt.UTC(), ReportKey: st.ReportKey, ReportLocation: a.location(st.ReportKey),
			Summary: sum, Workbook: wb,
		})
		if err != nil {
			a.ticketFailed(ctx, st.RunID, fmt.Errorf("file ticket: %w", ticketCause(jctx, err)))
			return
		}
		chaos.Point(chaos.AfterTicketFiled)
	}
	stopLease()
	if err := a.store.SetTicket(ctx, st.RunID, key); err != nil {
		a.ticketFailed(ctx, st.RunID, fmt.Errorf("store ticket %s (filed; the next try finds it by its label): %w", key, err))
		return
	}
	a.metrics.tickets.WithLabelValues(how).Inc()
	a.mu.Lock()
	delete(a.backoff, st.RunID)
	delete(a.summaries, st.RunID)
	a.mu.Unlock()
	log.Info("ticket stored", slog.String("ticket", key), slog.String("how", how))
}

// ticketCause returns why jctx was cancelled, when it was (the ticket
// lease lost, the budget spent), rather than a bare "context canceled" or
// "deadline exceeded".
func ticketCause(jctx context.Context, err error) error {
	if cause := context.Cause(jctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// retryTicket is the loop's ticket retry, handed to the ticket workers:
// the summary is kept from the emission (or the first retry after a
// restart), so that a long Jira outage does not re-read the whole run at
// every attempt.
func (a *Aggregator) retryTicket(ctx context.Context, st store.RunState) {
	a.handTicket(ctx, st, nil, Attachment{})
}
