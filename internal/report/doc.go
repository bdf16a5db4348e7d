// Package report renders one run's compliance workbook,
// config-compliance-<run_id>.xlsx, exactly as /work/shared/REPORT_FORMAT.md
// specifies it: sheets Summary, Rules, Non-compliant Resources (continued in
// "Non-compliant Resources (2)", "(3)"… past 1,048,575 rows), Errors and
// Coverage (the fifth sheet until Changes lands before it), with
// their headers, cell types, number formats, conditional formats, frozen
// header rows, auto-filters and fitted column widths, and the owner columns
// (Run.OwnerColumns) at the right end of Summary, Non-compliant Resources,
// Errors and Coverage.
//
// It is not the aggregator: it knows nothing of events, the dedupe store, S3
// or Jira. The caller converts what it stored into this package's model:
//
//	err := report.Render(ctx, w, run, accounts, errs, findings)
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
//
// Render returns the first problem it meets: invalid input (every problem
// listed at once, see Validation), an error yielded by findings (wrapped, so
// errors.Is sees it), a finding out of order, ctx's error, or a write error.
// It never closes w; on error w may hold part of a file, so the caller
// writes to a temporary object or file and publishes it only on success.
// FileName gives the workbook's name; the Sheet* constants its sheet names.
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
// small Coverage value per configured region: about 160 bytes each, the
// caller's and Render's sorted copy counted, so 14 MB for 5,000 accounts
// in 17 regions; no row is built ahead. The archive is
// assembled in a second temporary file (excelize would otherwise build the
// whole zip in a bytes.Buffer) and copied, entry by entry without
// recompressing, to w.
//
// # Determinism
//
// Same inputs and same Run.GeneratedAt give byte-identical output: the
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
// RulesTable, NonCompliantResources[N], ErrorsTable and CoverageTable. Errors rows with the
// same account, region and stage are ordered by code, message and attempts,
// so the input order never shows. The conditional format of a findings
// sheet covers the whole column (G2:G1048576), its row count being unknown
// until the stream ends. Coverage's Rules is a number cell, its Region
// Enabled "yes" or "no"; a Coverage row the caller did not give is derived
// (see Account.Coverage).
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
