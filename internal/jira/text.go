package jira

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/events"
)

// Week is the ISO week of the run's start, e.g. "2026-W48": the team's
// name for "this week's report".
func Week(t aggregate.Ticket) string {
	y, w := t.StartedAt.UTC().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// Summary is the one-line title.
func Summary(t aggregate.Ticket) string {
	kind := ""
	if t.Trigger == events.TriggerAdhoc {
		kind = " (ad hoc)"
	}
	return fmt.Sprintf("AWS Config compliance %s%s: %s", Week(t), kind, plural(t.NonCompliantAccounts, "non-compliant account"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Description is the body in Jira wiki markup (REST API v2).
func Description(t aggregate.Ticket, attached bool, size int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "AWS Config compliance report for %s, run %s (%s), started %s, generated %s.\n\n",
		Week(t), esc(string(t.RunID)), t.Trigger,
		t.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), t.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "*Report:* {{%s}}", t.ReportLocation)
	switch {
	case attached:
		fmt.Fprintf(&b, " (attached: %s)", esc(t.Workbook.Name))
	case size > 0:
		fmt.Fprintf(&b, " (%.1f MiB, over the attachment limit: download it from S3)", float64(size)/(1<<20))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "*Accounts:* %d expected, %d scanned, %d failed, %d missing (no result before the deadline); %s.\n",
		t.AccountsExpected, t.AccountsScanned, t.AccountsFailed, t.AccountsMissing, plural(t.NonCompliantAccounts, "non-compliant account"))
	if t.AccountsFailed+t.AccountsMissing > 0 {
		b.WriteString("Failed and missing accounts are listed on the workbook's Errors sheet.\n")
	}
	b.WriteString(Changes(t) + "\n")
	writeTable(&b, "Worst accounts", "None: every scanned account is compliant.",
		"||Account ID||Account name||Non-compliant rules||Non-compliant resources||", t.WorstAccounts,
		func(a aggregate.AccountSummary) string {
			return fmt.Sprintf("|%s|%s|%d|%d|", a.AccountID, cell(a.Name), a.NonCompliantRules, a.NonCompliantResources)
		})
	writeTable(&b, "Worst rules", "None.", "||Rule||Non-compliant accounts||Non-compliant resources||", t.WorstRules,
		func(r aggregate.RuleSummary) string {
			return fmt.Sprintf("|%s|%d|%d|", cell(r.Name), r.NonCompliantAccounts, r.NonCompliantResources)
		})
	return b.String()
}

// writeTable writes a heading, then a wiki-markup table of rows under
// header, or the line empty when there are none.
func writeTable[T any](b *strings.Builder, heading, empty, header string, rows []T, row func(T) string) {
	b.WriteString("\nh3. " + heading + "\n")
	if len(rows) == 0 {
		b.WriteString(empty + "\n")
		return
	}
	b.WriteString(header + "\n")
	for _, r := range rows {
		b.WriteString(row(r) + "\n")
	}
}

// Changes is the description's line on what moved since the baseline
// (REPORT_FORMAT.md, 5. Changes): "N new, M resolved since <yyyy-mm-dd>",
// the baseline's Generated at, or a line saying there is no baseline.
func Changes(t aggregate.Ticket) string {
	c := t.Compared
	if c == nil {
		return "*Changes:* no baseline, nothing compared (no earlier scheduled report, or its findings file could not be read)."
	}
	return fmt.Sprintf("*Changes:* %d new, %d resolved since %s (run %s; the workbook's Changes sheet lists them).",
		c.New, c.Resolved, c.GeneratedAt.UTC().Format("2006-01-02"), esc(string(c.RunID)))
}

// esc escapes what Jira wiki markup would read as formatting, links,
// macros or table cells in a value that comes from AWS (account names are
// chosen by whoever creates the account).
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '|', '[', ']', '{', '}', '*', '_', '-', '+', '^', '~', '?', '!', '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cell is esc for a table cell, where an empty value would merge cells.
func cell(s string) string {
	if s == "" {
		return " "
	}
	return esc(s)
}
