package aggregate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// Tickets are filed off the loop, by TicketWorkers goroutines fed through
// a queue of TicketQueue runs: a Jira that answers slowly, or not at all,
// holds a worker for TicketBudget at most and never the loop, so that no
// run's emission waits behind another run's ticket (a weekly report behind
// the retries of ad-hoc runs' tickets, with Jira answering after a minute).
//
// The emission hands its run over with the summary it built; the loop's
// pass hands over every emitted run without a stored ticket that is due
// (ticketDue). A run queued or being filed is not queued again. The queue
// holds run states, not workbooks: a worker attaches the uploaded object
// (weighed with a HEAD first), as Emit's temporary file is gone by then.
// A run that finds the queue full, or is still queued at shutdown, stays
// unticketed in the store, and a later pass (here or on another replica)
// hands it over again.

// ticketQueue is the hand-over between the loop and the ticket workers.
type ticketQueue struct {
	mu sync.Mutex
	// jobs is nil while no worker runs (Check called without Run: tests,
	// a one-pass caller), and tickets are then filed inline.
	jobs chan store.RunState
	// busy holds the runs queued or being filed.
	busy map[ident.RunID]bool
}

// startTicketWorkers starts the ticket workers, which file queued tickets
// until ctx ends. wait returns once every worker has stopped: call it
// after ctx ends (a filing in progress is cancelled with ctx; its run
// stays unticketed in the store for the next start).
func (a *Aggregator) startTicketWorkers(ctx context.Context) (wait func()) {
	if a.notifier == nil {
		return func() {}
	}
	jobs := make(chan store.RunState, a.cfg.TicketQueue)
	a.tickets.mu.Lock()
	a.tickets.jobs, a.tickets.busy = jobs, map[ident.RunID]bool{}
	a.tickets.mu.Unlock()
	var wg sync.WaitGroup
	for range a.cfg.TicketWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case st := <-jobs:
					if ctx.Err() != nil {
						return
					}
					a.fileTicket(ctx, st, Attachment{})
					a.tickets.mu.Lock()
					delete(a.tickets.busy, st.RunID)
					a.tickets.mu.Unlock()
				}
			}
		})
	}
	return func() {
		a.tickets.mu.Lock()
		a.tickets.jobs, a.tickets.busy = nil, nil
		a.tickets.mu.Unlock()
		wg.Wait()
	}
}

// handTicket gives an emitted run's ticket to the ticket workers and
// returns at once. sum, when not nil, is the emission's summary, kept for
// the filing and its retries. Without running workers the ticket is filed
// here, before handTicket returns, with wb (zero: the uploaded workbook).
func (a *Aggregator) handTicket(ctx context.Context, st store.RunState, sum *Summary, wb Attachment) {
	if sum != nil {
		a.mu.Lock()
		a.summaries[st.RunID] = *sum
		a.mu.Unlock()
	}
	a.tickets.mu.Lock()
	if a.tickets.jobs == nil {
		a.tickets.mu.Unlock()
		a.fileTicket(ctx, st, wb)
		return
	}
	defer a.tickets.mu.Unlock()
	log := a.log.With(slog.String("run_id", string(st.RunID)))
	if a.tickets.busy[st.RunID] {
		log.Debug("ticket already queued or being filed")
		return
	}
	select {
	case a.tickets.jobs <- st:
		a.tickets.busy[st.RunID] = true
		log.Debug("ticket queued", slog.Int("queued", len(a.tickets.jobs)))
	default:
		log.Warn("ticket queue full; a later pass hands the run over again", slog.Int("queue", cap(a.tickets.jobs)))
	}
}

// fileTicket finds or files the run's ticket now, with the summary kept
// from the emission (or an earlier try) or else rebuilt from the store,
// and wb, or the uploaded workbook when wb is zero.
func (a *Aggregator) fileTicket(ctx context.Context, st store.RunState, wb Attachment) {
	a.mu.Lock()
	sum, ok := a.summaries[st.RunID]
	a.mu.Unlock()
	if !ok {
		m, err := a.build(ctx, st, st.GeneratedAt)
		if err == nil {
			// The Changes counts are no part of build: recounted against
			// the run's stored baseline, as the emission counted them.
			m.summary.Compared, err = a.recount(ctx, st, m)
		}
		if err != nil {
			a.ticketFailed(ctx, st.RunID, fmt.Errorf("rebuild the ticket summary: %w", err))
			return
		}
		sum = m.summary
	}
	if wb.Open == nil {
		wb = a.blobAttachment(st.ReportKey)
	}
	a.ticket(ctx, st, sum, wb)
}
