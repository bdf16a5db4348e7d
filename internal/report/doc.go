// Package report renders one run's compliance workbook,
// config-compliance-<run_id>.xlsx, and its findings file,
// config-compliance-<run_id>.findings.jsonl.gz, exactly as
// the shared REPORT_FORMAT.md specifies them: sheets Summary, Rules,
// Non-compliant Resources (continued in "Non-compliant Resources (2)",
// "(3)"… past 1,048,575 rows), Errors, Changes and Coverage, with their
// headers, cell types, number formats, conditional formats, frozen header
// rows, auto-filters and fitted column widths, and the owner columns
// (Run.OwnerColumns) at the right end of Summary, Non-compliant Resources,
// Errors, Changes and Coverage.
//
// It is not the aggregator: it knows nothing of events, the dedupe store, S3
// or Jira, nor of which run is the baseline (the caller picks it and opens
// its findings file with ReadFindingsFile). The caller converts what it
// stored into this package's model:
//
//	counts, err := report.RenderRun(ctx, report.Output{Workbook: w, Findings: fw},
//		run, accounts, errs, findings, base)
//
// or, for the workbook alone with no baseline (Changes empty, First Seen =
// Generated at), report.Render(ctx, w, run, accounts, errs, findings),
//
// where:
//   - run: Run metadata (run id, Generated at, trigger, regions in their
//     configured order).
//   - accounts: one Account per expected (ACTIVE) account, in any order, with
//     its Status, the (region, rule) pairs DescribeConfigRules returned in
//     the regions scanned in full, its owner values and its Coverage rows.
//   - errs: the failed (account, region, stage) rows, in any order. Rows for
//     MISSING accounts are added by Render.
//   - findings: the NON_COMPLIANT evaluation results as an iterator, already
//     sorted by Account ID, Region, Rule Name, Resource Type, Resource ID
//     (text, code point order). Render verifies the order as it streams and
//     returns an error on the first finding out of order.
//   - base: the baseline, a previous run's findings file (nil: none).
//
// RenderRun returns the first problem it meets: invalid input (every problem
// listed at once, see Validation), an error yielded by findings (wrapped, so
// errors.Is sees it), a finding out of order, an error of the baseline
// (wrapping ErrBaseline: unreadable, or out of order), ctx's error, or a
// write error. It never closes its writers; on error they may hold part of
// a file, so the caller writes to temporary objects or files and publishes
// them only on success. FileName and FindingsFileName give the names; the
// Sheet* constants the sheet names.
//
// # Week over week
//
// A finding's key is (Account ID, Region, Rule Name, Resource Type,
// Resource ID). The diff is a merge of two key-sorted streams, this run's
// findings and the baseline's finding lines (carried ones included), in
// the one pass that streams the findings sheet and the findings file; the
// baseline's order is checked like the run's. For each key:
//   - in both: First Seen is the baseline's (the earliest, if it repeats);
//   - in this run only: NEW, First Seen = Generated at;
//   - in the baseline only, by this run's Coverage of the key's account and
//     region: Read yes, RESOLVED (First Seen the baseline's); Read failed or
//     missing, the baseline's lines are copied into this run's findings file
//     with carried true, First Seen kept, shown on no sheet; Read skipped,
//     an account not among accounts (an ad-hoc run's restriction, a
//     suspended account) or a region the run does not configure, nothing.
//
// Equal keys may repeat in this run's findings (and so in a baseline): a
// key is one finding for the diff, so it gives one NEW or one RESOLVED row
// and is counted once, and every repeat gets the same First Seen; in the
// findings file every result keeps its own line and carried lines are
// copied one for one.
//
// The findings file is gzip (BestSpeed, header mtime 0, no name) of JSON
// Lines written by hand in the documented key order: the run line, the
// coverage lines in the Coverage sheet's order, then the finding lines in
// key order; annotation, last_evaluated, recorder and rules are null when
// absent; times are RFC 3339 UTC, with a fraction of a second only when
// there is one. Invalid UTF-8 is written as U+FFFD.
//
// # Memory
//
// Findings are never held: they stream into the sheet through excelize's
// StreamWriter, which keeps 16 MiB in memory and spills the rest to a file
// under TMPDIR (os.TempDir). What Render keeps is bounded by the number of
// accounts and rule names: per-account and per-rule-name counts of the
// findings (Summary and Rules are written after the findings sheet, so their
// Non-compliant Resources counts are the rows actually written) and the
// (region, rule) set of the one account being streamed. The Coverage sheet
// (accounts x regions rows) is streamed from the accounts, which hold one
// small Coverage value per configured region (the caller's and Render's
// sorted copy); no row is built ahead. The diff holds one baseline line
// of look-ahead and the last key; its Changes rows (up to every finding of
// both runs) are spooled to two temporary files under TMPDIR, NEW and
// RESOLVED apart, about 150 bytes a row, and streamed into the sheet after
// Errors. A baseline opened with ReadFindingsFile is decompressed and parsed
// by a goroutine of its own, a few batches (a few hundred kilobytes) ahead
// of the merge, so the read runs beside the render on a second core; its own
// finding lines skip encoding/json. The Changes sheet is one more streamed
// sheet, so excelize holds one more in-memory chunk (up to 16 MiB) until the
// archive is written (docs/BENCHMARKS.md has the diff's measured cost). The
// findings file is compressed as it is written. The archive is
// assembled in a second temporary file (excelize would otherwise build the
// whole zip in a bytes.Buffer) and copied, entry by entry without
// recompressing, to w.
//
// # Determinism
//
// Same inputs (baseline included) and same Run.GeneratedAt give
// byte-identical workbooks and findings files: the
// document properties carry GeneratedAt, not the wall clock, and the zip is
// rewritten with its entries in a fixed order ([Content_Types].xml first,
// then by name) and every modification time set to GeneratedAt, because
// excelize writes streamed sheets in Go map order.
//
// # Safety
//
// Every value that comes from AWS is written as an inline string cell, never
// as a formula, whatever it starts with (=, +, -, @). Text longer than
// Excel's 32,767 UTF-16 code units per cell is cut on a character boundary
// and ends in " …[truncated]", the whole fitting the limit.
//
// # Choices REPORT_FORMAT.md leaves open
//
// An empty string (a name, an annotation, a region) is written as no cell at
// all, like a zero RecordedAt. Date-times use the format yyyy-mm-dd hh:mm.
// Column widths of a findings sheet fit its header and its first 1,000
// rows (a StreamWriter needs them before the first row). Auto-filters are
// Excel tables (TableStyleLight1, no stripes) named SummaryTable,
// RulesTable, NonCompliantResources[N], ErrorsTable, ChangesTable and
// CoverageTable. Errors rows with the
// same account, region and stage are ordered by code, message and attempts,
// so the input order never shows. The conditional format of a findings
// sheet covers the whole column (G2:G1048576), its row count being unknown
// until the stream ends. Coverage's Rules is a number cell, its Region
// Enabled "yes" or "no"; a Coverage row the caller did not give is derived
// (see Account.Coverage). The Changes block's values are all empty with no
// baseline, and New and Resolved are 0 with a baseline and no change; a
// baseline's Generated at before 1900 is left empty. A finding line's
// account_name is this run's name, a carried line's the baseline's.
//
// # Validation
//
// Render rejects input that would make an inconsistent report rather than
// print it: duplicate accounts or (region, rule) pairs, rules or findings in
// a region the run did not configure, rules for FAILED or MISSING accounts,
// rules in a region that also has an Errors row other than Stage recorder
// (a region counts whole or not at all), coverage of unconfigured regions,
// twice or with an unknown Read or recorder, rules in a region whose
// coverage says it was not read, coverage for MISSING accounts,
// more owner values than owner columns, error rows for unknown or MISSING accounts, findings for
// unknown accounts or for a (region, rule) the account does not have.
package report
