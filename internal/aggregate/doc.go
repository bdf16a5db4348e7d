// Package aggregate is the aggregator stage: it records every RunStarted
// and AccountScanned from the results topic into the dedupe store, and when
// a run is complete (every expected account has a result) or its deadline
// has passed, exactly one replica claims the run, renders the workbook,
// uploads it, marks the run emitted and files the Jira ticket.
//
// All state is in the store: an aggregator (re)started with no messages in
// flight finds pending runs and unticketed runs with its Run loop, so a
// crash at any point loses nothing. Handle only records and, when a run
// becomes complete, wakes the loop: rendering never holds a message.
//
// # What goes into the report
//
//   - Expected accounts are those of the run's RunStarted, one Summary row
//     each; an expected account without a result is MISSING.
//   - A result for an account the RunStarted does not list (a stray: an
//     ad-hoc message naming a run id it was not part of, a replayed message
//     of a re-opened run) is ignored with a warning and counted: the report
//     lists what the run set out to scan, and Accounts expected must agree
//     with the rows.
//   - What would make the renderer refuse the report is dropped with a
//     warning, never left to block the run forever: rules, findings and
//     errors in a region the run did not configure, rules of a region that
//     also reported an error other than Stage recorder or that its coverage
//     does not call read (a region counts whole or not at all; a stopped
//     or absent recorder leaves it counted), rules of a FAILED account, a
//     (region, rule) listed twice (the first stands), findings of a
//     (region, rule) the account does not list. Findings whose compliance
//     is not NON_COMPLIANT are not report rows and are skipped.
//   - Each account's Coverage rows come from its result's coverage, in the
//     run's regions; a region the report does not count as read shows
//     Read `failed`, whatever the result said, so Coverage agrees with
//     Summary and Errors. The owner columns are Config.OwnerTags (-owner-tags),
//     each account's values read from its RunStarted tags.
//
// # Held results and joined ad-hoc runs
//
// A result is recorded only when it covers every region of its run
// (events.AccountScanned.Uncovered is empty); otherwise, or while its
// RunStarted is unknown, it is held (store.Store.HoldResult), so a result
// of one region sent with a live run's id cannot win first-write-wins and
// hide the others. A held result never makes a run complete. When the
// RunStarted is recorded (and once per pending run in the loop, after a
// restart), held results that cover are recorded. At the deadline an
// expected account without a recorded result counts from its held result:
// its uncovered regions are Errors rows (Stage config, Error Code
// NotScanned, Attempts 0) and contribute nothing else, and the account is
// PARTIAL (FAILED if it failed).
//
// A RunStarted is accepted once per run id: everything after RecordRun
// reads the recorded one, and a different second one is logged and
// ignored. An ad-hoc run that the store joined to its account's open
// ad-hoc run (store.RunState.JoinedTo) makes no report and no ticket; its
// result is handled as a result of the run it joined.
//
// The loop loads at most Config.MaxPending pending runs per pass, earliest
// deadline first.
//
// # Determinism
//
// The renderer gets Generated at = the claim's GeneratedAt (fixed at the
// first claim) and the findings of each account in one total order (the
// report's sort keys, then annotation and time, stable over the stored
// order, which first-write-wins fixes), so a replica that takes over a
// crashed emission renders the same bytes from the same recorded results.
// A result recorded between the crash and the takeover is included.
//
// # The findings file and the baseline
//
// Every emission renders the workbook and the findings file
// (FindingsKey: beside the workbook) in one pass into two temporary files,
// compared with the run's baseline, fixed by the store at the first claim
// (store.Claim.Baseline: the latest emitted scheduled run) or pinned before
// it (Config.Baseline: local mode's -baseline). The baseline's findings
// file is read as a stream from the blob store (Open when the store has
// it). It uploads the findings file, then the workbook, then marks the run
// emitted with both keys: a crash between them leaves objects that the
// takeover rewrites with the same bytes, and a scheduled run marked with a
// findings key becomes the next run's baseline. A baseline whose findings
// file is gone, unreadable or corrupt (at its head, or mid-stream:
// report.ErrBaseline, then the run is rendered again) gives a report
// without a baseline and a warning, never a failed report. The ticket
// gets the Changes counts (Summary.Compared); a ticket filed after a
// restart, without the emission's summary, recounts them by rendering the
// run again, to nowhere, against its stored baseline.
//
// # Tickets
//
// A failed emission (the upload, say) is retried by the loop on the same
// exponential backoff (CheckInterval doubling up to BackoffMax), its lease
// lapsing meanwhile so that another replica may try.
//
// The ticket is filed after the run is marked emitted; failures are logged,
// counted and retried by the loop with exponential backoff, each retry first
// searching Jira for the run's label, so a crash between filing and storing
// the key never opens a second ticket. The replica that emitted retries at
// once; the others wait TicketTakeover after the emission, so they do not
// race it. Whoever searches and files holds the run's ticket lease
// (store.ClaimTicket, a Lease long, renewed while Jira answers): two
// replicas taking over the same orphaned ticket at the same instant (a
// restarted pod has a new owner name) would otherwise both search, both
// miss (Jira's search is eventually consistent) and both file. A replica
// that finds another's lease live skips the run until it expires.
//
// Tickets are filed off the loop, by TicketWorkers goroutines fed through
// a queue of TicketQueue runs, each try bounded by TicketBudget
// (ticketworker.go): a Jira answering slowly, or not at all, never delays
// an emission.
//
// It is not the renderer (internal/report), the store (internal/store) nor
// the Jira client (internal/jira).
package aggregate
