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
//	RUN#<run>       RUN                       run item: claim, emission, ticket, the
//	                                          RunStarted's blob reference, `queue`
//	RUN#<run>       START#<wid>#<nnnn>        RunStarted, gzip JSON, in chunks
//	RUN#<run>       RES#<account>             result: gzip JSON inline, or a blob reference
//	RUN#<run>       BLOB#<account>#<wid>#<nnnn>  chunks of a result too large to inline
//	CNT#<run>       <account>                 tiny marker, one per recorded result
//
// Every item carries `expires_at` (epoch seconds, now + Retention), the
// table's TTL attribute. Items stay under DynamoDB's 400 KB: a body is
// gzip-compressed and, above ChunkSize (default 350 KiB compressed), split
// over several chunk items. A chunked body is written under a fresh write
// id <wid> *before* the conditional write that references it, so two
// racing writers never mix their chunks; the loser deletes its own chunks
// (TTL removes them if it dies first).
//
// Results are counted with a COUNT query over the CNT#<run> partition,
// whose items are ~40 bytes, so the completion check reads O(accounts x 40
// B), never the results themselves. The marker is written after the
// result's conditional put, by the winner and, idempotently, by every
// later duplicate: a crash between the two leaves the count short only
// until the message is redelivered (it was not acknowledged), which writes
// the marker. There is no separate counter to drift.
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
// compares exactly; a lease is live while now <= claim_until.
//
// # dynalite deviations (scripts/emulators/dynalite.sh, 4.0.0)
//
//   - UpdateTimeToLive is not implemented (UnknownOperationException):
//     CreateTable tolerates exactly that error, so against dynalite items
//     never expire. DescribeTimeToLive is implemented.
//   - TransactWriteItems is not implemented; this package does not use it.
//   - GSIs are updated synchronously, so tests do not see DynamoDB's
//     eventual consistency on Pending/Unticketed; the code re-reads each run
//     consistently anyway.
//   - Throughput, throttling and the 1 MB query page are not emulated the
//     same way: benchmark figures against dynalite measure the emulator.
package dynamo
