// Package dynamo is the dedupe store of the cluster: store.Store on one
// DynamoDB table, shared by every aggregator replica. First-write-wins and
// the emission lease are conditional writes; no transactions are used (one
// item decides each question), so the store also runs on dynalite.
//
// It is not a general DynamoDB layer and does not create production tables:
// those come from CloudFormation. CreateTable exists for emulators and
// -create-resources, and documents the schema the template must match.
//
// # Table layout (keys are strings)
//
//	pk              sk                        what
//	RUN#<run>       RUN                       run item: claim, emission, ticket and
//	                                          its lease, the RunStarted's blob
//	                                          reference, `queue`
//	RUN#<run>       START#<wid>#<nnnn>        RunStarted, gzip JSON, in chunks
//	RUN#<run>       RES#<account>             result: gzip JSON inline, or a blob reference
//	RUN#<run>       BLOB#<account>#<wid>#<nnnn>  chunks of a result too large to inline
//	RUN#<run>       HELD#<account>            held result (store.Store.HoldResult), `breadth`,
//	                                          `status`, `regions` (its covered regions,
//	                                          a list: store.HeldCopier promotes it
//	                                          without decoding the body)
//	RUN#<run>       HBLOB#<account>#<wid>#<nnnn> chunks of a held result too large to inline
//	CNT#<run>       <account>                 tiny marker, one per recorded result, `status`
//	PENDING         <deadline ns, 20 digits>#<run>  deadline index of pending runs
//	ADHOC#<account> OPEN                      the account's open ad-hoc run (`run_id`)
//	LATEST          SCHEDULED                 the latest emitted scheduled run with a
//	                                          findings file: `run_id`, `started_at`,
//	                                          `generated_at`, `findings_key`; no TTL
//	LATEST          OFFER#<run>               a mark with a findings key not yet offered
//
// The run item also carries `deadline` and `started_at` (unix ns), and for
// an ad-hoc run of one account `adhoc_account`, `adhoc_state` (owner,
// joined or own, once decided) and, when it joined another, `joined_to`.
// From its emission it carries `findings_key` (when the run wrote a
// findings file), and from its first claim (or store.Store.PinBaseline)
// `baseline`: the run it compares with, as JSON (`run_id`, `generated_at`
// in unix ns, `findings_key`), or `null` for none.
//
// The baseline is fixed by the first claim's conditional update itself
// (`if_not_exists`, as `generated_at`), with the LATEST pointer read just
// before it, so a takeover reads the same one; PinBaseline writes it only
// while absent. MarkEmitted of a scheduled run with a findings key then
// offers the run to LATEST with a conditional put (absent, or naming a run
// with an earlier `started_at`, ties by the smaller run id, or this one),
// so concurrent emissions end with the latest started. The mark and the
// offer are two writes, so an OFFER# entry is put before the mark and
// deleted after the offer; LatestScheduled (one Query of the LATEST
// partition, which every claim makes) finishes the offer of any entry
// whose run is emitted, so a crash between the two never loses it.
//
// Pending reads the PENDING partition (one Query, a Limit, earliest
// deadline first): the queue-index GSI below orders runs by id, which a
// sender of RunStarted chooses, so a flood with ids that sort first could
// hide a real run behind any bound. The entry is written before the run
// item's conditional update (a run item without one would never be listed),
// deleted at emission or on joining, and Pending deletes any entry whose
// run is emitted, joined or recorded with another deadline (a losing
// writer's, a crash's). Runs recorded before the index existed are still
// listed from the GSI when the index gives fewer than the limit. The
// table's key schema and indexes are unchanged.
//
// The ad-hoc slot is decided by conditional puts on the ADHOC# item (absent
// or already this run's; or, after reading it, still naming a run that is
// over: emitted, past its deadline, or with its result), then a conditional
// update of the new run item that joins it to the open run unless it was
// claimed or counted a result meanwhile. adhoc_state records the outcome,
// so a redelivered RunStarted finishes a decision a crash interrupted and
// never changes one that was made.
//
// Every item but LATEST carries `expires_at` (epoch seconds, now +
// Retention), the table's TTL attribute. Items stay under DynamoDB's 400 KB: a body is
// gzip-compressed and, above ChunkSize (default 350 KiB compressed), split
// over several chunk items. A chunked body is written under a fresh write
// id <wid> *before* the conditional write that references it, so two
// racing writers never mix their chunks; the loser deletes its own chunks
// (TTL removes them if it dies first).
//
// Results are counted on the run item (`results`), so the completion check
// the aggregator makes after every new result needs no read at all: the
// increment returns the run item (store.ResultCounter). After
// the result's conditional put, every caller (winner or duplicate) puts the
// account's ~40-byte marker under CNT#<run> if absent, and whoever created
// it adds one to the counter; increments of one run made at the same time
// in one process share one ADD (counter.go: a result then costs two
// conditional puts and a share of one update), each marker written before
// the ADD that counts it. A crash before the marker is repaired by the
// redelivery of the unacknowledged message (it creates the marker and
// counts). A crash between the marker and the increment (or a failed
// shared ADD, which fails each of its callers) leaves the counter short: while a run is incomplete, Run recounts the markers (a COUNT
// query, O(accounts x 40 B), never the results) at most once per
// RecountEvery per run, the replica that wins a conditional update of
// `recounted_at` doing it, and writes the count back if no increment landed
// meanwhile. An SDK retry of an increment that had succeeded can count its
// results twice; the aggregator confirms completion with MissingResults (one
// Query of the markers, then the RES# items of the accounts without one),
// so an early "complete" only costs those reads, and a recount fixes it
// while the run is still short.
//
// Recent (store.RunLister, the operator's `configreport runs`) is the one
// Scan: see its comment for the cost. RunSummary reads the run item and
// the CNT# markers (their `status` counts failed accounts), never writes.
//
// Pending and Unticketed query the sparse GSI `queue-index` (hash `queue`,
// range `pk`, KEYS_ONLY): `queue` is "pending" on a run item from its
// RunStarted to its emission, "unticketed" from its emission to its
// ticket, absent otherwise; each listed run is then read consistently and
// re-checked, since a GSI is eventually consistent.
//
// # Times
//
// Lease and emission times are stored as unix nanoseconds (N), so a lease
// compares exactly; a lease is live while now <= claim_until (or
// ticket_until for the ticket lease, ClaimTicket).
//
// Where dynalite, the emulator the tests run on, differs from DynamoDB:
// docs/EMULATORS.md.
package dynamo
