package aggregate

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"time"
	"unsafe"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/store"
)

// TopN is how many accounts and rules the ticket names.
const TopN = 10

// AccountSummary is one account of the ticket's worst list.
type AccountSummary struct {
	AccountID             ident.AccountID
	Name                  string
	NonCompliantRules     int // (region, rule) pairs NON_COMPLIANT
	NonCompliantResources int
}

// RuleSummary is one rule of the ticket's worst list.
type RuleSummary struct {
	Name                  string
	NonCompliantAccounts  int
	NonCompliantResources int
}

// Summary is what the ticket says about a run, computed from the same
// inputs as the workbook so the two agree.
type Summary struct {
	AccountsExpected     int
	AccountsScanned      int // OK or PARTIAL
	AccountsFailed       int
	AccountsMissing      int
	NonCompliantAccounts int // scanned accounts with a NON_COMPLIANT rule or resource
	// WorstAccounts: most non-compliant rules, then resources, then account
	// id; at most TopN, only non-compliant ones.
	WorstAccounts []AccountSummary
	// WorstRules: most non-compliant accounts, then resources, then name (the
	// Rules sheet's order); at most TopN, only non-compliant ones.
	WorstRules []RuleSummary
	// Compared is what the report's Changes sheet compared with and
	// counted; nil when it has no baseline (none, or its findings file
	// could not be used).
	Compared *Compared
}

// model is the renderer's input for one run, less the findings, which a
// second pass over the store streams.
type model struct {
	run      report.Run
	accounts []report.Account
	errs     []report.ErrorRow
	// scanned: the accounts rendered OK or PARTIAL by this pass, the only
	// ones whose findings the second pass may yield (a result recorded
	// between the passes would otherwise bring findings of a MISSING row).
	scanned map[ident.AccountID]bool
	// heldScanned: those of scanned counted from a held result (no recorded
	// one), whose findings the second pass reads from the held results.
	heldScanned map[ident.AccountID]bool
	summary     Summary
	// kept: each scanned account's report rows, sorted, as the first pass
	// found them, while their estimated size stays within
	// Config.KeptFindingsBytes (keptBytes so far); then the findings are
	// served from here, in account order, and the results are not read
	// and decoded a second time. Nil: over the budget (or none), the
	// second pass reads the store.
	kept      map[ident.AccountID][]report.Finding
	keptBytes int64
}

// keep adds an account's sorted rows to m.kept, or drops them all when
// the budget would be passed.
func (m *model) keep(acct ident.AccountID, rows []report.Finding, budget int64) {
	if m.kept == nil {
		return
	}
	rows = slices.Clip(rows) // sortedFindings sized it for every finding, kept or not
	m.keptBytes += rowsBytes(rows)
	if m.keptBytes > budget {
		m.kept, m.keptBytes = nil, 0
		return
	}
	m.kept[acct] = rows
}

// rowsBytes estimates the memory kept rows hold: the slice and each row's
// strings (the account id is shared by the account's rows; the strings are
// the decoded result's, each its own allocation, so rounded up to 16).
func rowsBytes(rows []report.Finding) int64 {
	n := int64(cap(rows)) * int64(unsafe.Sizeof(report.Finding{}))
	for i := range rows {
		f := &rows[i]
		for _, s := range [...]string{f.Region, f.RuleName, f.ResourceType, f.ResourceID, f.Compliance, f.Annotation} {
			n += int64(len(s)+15) &^ 15
		}
	}
	return n
}

// Rows of a region that an account's counted held result did not cover
// (DESIGN.md, Contracts): Stage config, Error Code NotScanned, Attempts 0
// (nothing of it was tried for this result), like a missing account's row.
const messageNotScanned = "region not covered by the account's result (a held result, counted at the deadline)"

// dropCounts counts what convert left out of one result.
type dropCounts struct{ rules, findings, errors int }

// converted is one result in the report's terms.
type converted struct {
	account report.Account
	errs    []report.ErrorRow
	pairs   map[[2]string]bool // kept (region, rule)
	drops   dropCounts
}

// keep tells whether f is a row of the report.
func (c *converted) keep(f *events.Finding) bool {
	return f.Compliance == events.NonCompliant && c.pairs[[2]string{string(f.Region), f.Rule}]
}

var statusOf = map[events.Status]report.Status{
	events.StatusOK:      report.StatusOK,
	events.StatusPartial: report.StatusPartial,
	events.StatusFailed:  report.StatusFailed,
}

// convert turns one result into its Summary row, Errors rows and Coverage
// rows, leaving out what the renderer would refuse (see the package doc).
// uncovered are the run's regions a held result did not cover: each is a
// NotScanned Errors row (unless the result has a config row there already)
// and a Coverage row read `failed`, and contributes nothing else, and the
// account is PARTIAL, or FAILED if it failed. A recorder row (Config not
// recording) leaves its region read and counted.
func convert(res *events.AccountScanned, meta events.Account, regions map[ident.Region]bool, uncovered []ident.Region) *converted {
	status, ok := statusOf[res.Status]
	if !ok {
		status = report.StatusFailed // Validate refuses other values; be safe
	}
	if len(uncovered) > 0 && status == report.StatusOK {
		status = report.StatusPartial
	}
	c := &converted{
		account: report.Account{ID: string(res.AccountID), Name: meta.Name, OUPath: meta.OUPath, Status: status},
		pairs:   map[[2]string]bool{},
	}
	failedRegions := map[ident.Region]bool{}
	configRow := map[ident.Region]bool{}
	for _, e := range res.Errors {
		if e.Region != "" && !regions[e.Region] {
			c.drops.errors++
			continue
		}
		if e.Stage != events.StageRecorder {
			failedRegions[e.Region] = true
		}
		if e.Stage == events.StageConfig {
			configRow[e.Region] = true
		}
		c.errs = append(c.errs, report.ErrorRow{
			AccountID: string(res.AccountID), Region: string(e.Region), Stage: e.Stage,
			Code: e.Code, Message: e.Message, Attempts: e.Attempts,
		})
	}
	for _, r := range uncovered {
		failedRegions[r] = true
		if configRow[r] {
			continue // one row per (account, region, stage)
		}
		c.errs = append(c.errs, report.ErrorRow{
			AccountID: string(res.AccountID), Region: string(r), Stage: events.StageConfig,
			Code: events.CodeNotScanned, Message: messageNotScanned, Attempts: 0,
		})
	}
	c.coverage(res, regions, uncovered, failedRegions, status == report.StatusFailed)
	if status == report.StatusFailed {
		c.drops.rules += len(res.Rules)
		return c
	}
	for _, r := range res.Rules {
		k := [2]string{string(r.Region), r.Name}
		if !regions[r.Region] || failedRegions[r.Region] || r.Name == "" || c.pairs[k] {
			c.drops.rules++
			continue
		}
		c.pairs[k] = true
		c.account.Rules = append(c.account.Rules, report.RuleResult{
			Region: string(r.Region), Name: r.Name, SourceOwner: r.Owner,
			SourceIdentifier: r.SourceIdentifier, Compliance: r.Compliance,
		})
	}
	for i := range res.Findings {
		f := &res.Findings[i]
		if f.Compliance == events.NonCompliant && !c.pairs[[2]string{string(f.Region), f.Rule}] {
			c.drops.findings++
		}
	}
	return c
}

// coverage sets the account's Coverage rows from the result's coverage, in
// the run's regions only: an uncovered region is read `failed`, and so is a
// region the result says it read but whose rules the report leaves out (an
// Errors row there, or a FAILED account), so the sheets cannot disagree; a
// region it does not call read adds to failedRegions, whose rules convert
// leaves out.
func (c *converted) coverage(res *events.AccountScanned, regions map[ident.Region]bool, uncovered []ident.Region, failedRegions map[ident.Region]bool, failed bool) {
	seen := make(map[ident.Region]bool, len(res.Coverage))
	for _, cv := range res.Coverage {
		// A region twice (Validate refuses it): the first entry stands,
		// as the renderer takes one row per region.
		if !regions[cv.Region] || slices.Contains(uncovered, cv.Region) || seen[cv.Region] {
			continue
		}
		seen[cv.Region] = true
		rc := report.Coverage{Region: string(cv.Region), Enabled: cv.Enabled, Rules: cv.Rules, Read: report.Read(cv.Read)}
		if cv.Recorder != nil {
			rc.Recorder = string(*cv.Recorder)
		}
		if rc.Read == report.ReadYes && (failed || failedRegions[cv.Region]) {
			rc.Read, rc.Rules = report.ReadFailed, nil
		}
		if rc.Read != report.ReadYes {
			// Not read (skipped, or failed without an Errors row): its
			// rules, if the result has any, do not count either.
			failedRegions[cv.Region] = true
		}
		c.account.Coverage = append(c.account.Coverage, rc)
	}
	for _, r := range uncovered {
		c.account.Coverage = append(c.account.Coverage, report.Coverage{Region: string(r), Read: report.ReadFailed})
	}
}

// owners is the account's value for each owner column.
func owners(tags []events.OwnerTag, meta events.Account) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Value(meta.Tags)
	}
	return out
}

// sortedFindings returns the account's report rows in the report's order,
// with annotation and time as last keys and a stable sort so that equal
// rows keep their stored order: every render yields the same sequence.
func (c *converted) sortedFindings(res *events.AccountScanned) []report.Finding {
	out := make([]report.Finding, 0, len(res.Findings))
	for i := range res.Findings {
		f := &res.Findings[i]
		if !c.keep(f) {
			continue
		}
		out = append(out, report.Finding{
			AccountID: string(res.AccountID), Region: string(f.Region), RuleName: f.Rule,
			ResourceType: f.ResourceType, ResourceID: f.ResourceID, Compliance: f.Compliance,
			Annotation: f.Annotation, RecordedAt: f.RecordedAt,
		})
	}
	slices.SortStableFunc(out, func(a, b report.Finding) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.RuleName, b.RuleName),
			cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceID, b.ResourceID),
			cmp.Compare(a.Annotation, b.Annotation), a.RecordedAt.Compare(b.RecordedAt))
	})
	return out
}

// build reads the run's results once, in account order, and returns the
// renderer's input and the ticket's summary. Memory: the Summary rows (the
// renderer needs them all) plus one result at a time, and the report rows
// up to Config.KeptFindingsBytes (model.kept).
func (a *Aggregator) build(ctx context.Context, st store.RunState, generatedAt time.Time) (*model, error) {
	if !a.cfg.FixedGeneratedAt.IsZero() {
		generatedAt = a.cfg.FixedGeneratedAt
	}
	started := st.Started
	if started == nil {
		return nil, fmt.Errorf("run %s: no RunStarted", st.RunID)
	}
	regions := make(map[ident.Region]bool, len(started.Regions))
	regionNames := make([]string, 0, len(started.Regions))
	for _, r := range started.Regions {
		regions[r] = true
		regionNames = append(regionNames, string(r))
	}
	expected := make(map[ident.AccountID]events.Account, len(started.Accounts))
	for _, acc := range started.Accounts {
		expected[acc.AccountID] = acc
	}
	var ownerColumns []string
	for _, t := range a.cfg.OwnerTags {
		ownerColumns = append(ownerColumns, t.Header())
	}
	m := &model{
		run: report.Run{
			RunID: string(st.RunID), GeneratedAt: generatedAt.UTC(),
			Trigger: report.Trigger(started.Trigger), Regions: regionNames,
			OwnerColumns: ownerColumns,
		},
		accounts:    make([]report.Account, 0, len(started.Accounts)),
		scanned:     make(map[ident.AccountID]bool, len(started.Accounts)),
		heldScanned: map[ident.AccountID]bool{},
	}
	if a.cfg.KeptFindingsBytes > 0 {
		m.kept = map[ident.AccountID][]report.Finding{}
	}
	type ruleAgg struct{ accounts, resources int }
	rules := map[string]*ruleAgg{}
	var worst []AccountSummary
	seen := make(map[ident.AccountID]bool, len(started.Accounts))
	var drops dropCounts
	strays := 0
	count := func(res *events.AccountScanned, meta events.Account, uncovered []ident.Region) {
		c := convert(res, meta, regions, uncovered)
		c.account.Owners = owners(a.cfg.OwnerTags, meta)
		drops.rules += c.drops.rules
		drops.findings += c.drops.findings
		drops.errors += c.drops.errors
		if c.drops != (dropCounts{}) {
			a.log.Warn("result parts the report cannot hold were left out",
				slog.String("run_id", string(st.RunID)), slog.String("account_id", string(res.AccountID)),
				slog.Int("rules", c.drops.rules), slog.Int("findings", c.drops.findings), slog.Int("errors", c.drops.errors))
		}
		m.accounts = append(m.accounts, c.account)
		m.errs = append(m.errs, c.errs...)
		switch c.account.Status {
		case report.StatusFailed:
			m.summary.AccountsFailed++
			return
		default:
			m.summary.AccountsScanned++
			m.scanned[res.AccountID] = true
		}
		if m.kept != nil { // not sorted for nothing once over the budget
			m.keep(res.AccountID, c.sortedFindings(res), a.cfg.KeptFindingsBytes)
		}
		// Per-account and per-rule counts for the ticket.
		as := AccountSummary{AccountID: res.AccountID, Name: meta.Name}
		ncRule := map[string]bool{}
		for _, r := range c.account.Rules {
			if r.Compliance == report.NonCompliant {
				as.NonCompliantRules++
				ncRule[r.Name] = true
			}
		}
		resByRule := map[string]int{}
		for i := range res.Findings {
			if f := &res.Findings[i]; c.keep(f) {
				as.NonCompliantResources++
				resByRule[f.Rule]++
			}
		}
		for name := range ncRule {
			ra := rules[name]
			if ra == nil {
				ra = &ruleAgg{}
				rules[name] = ra
			}
			ra.accounts++
		}
		for name, n := range resByRule {
			ra := rules[name]
			if ra == nil {
				ra = &ruleAgg{}
				rules[name] = ra
			}
			ra.resources += n
		}
		if as.NonCompliantRules > 0 || as.NonCompliantResources > 0 {
			m.summary.NonCompliantAccounts++
			worst = append(worst, as)
		}
	}
	for res, err := range a.store.Results(ctx, st.RunID) {
		if err != nil {
			return nil, fmt.Errorf("read results of run %s: %w", st.RunID, err)
		}
		meta, ok := expected[res.AccountID]
		if !ok {
			strays++
			a.log.Warn("result for an account the run does not expect; left out of the report",
				slog.String("run_id", string(st.RunID)), slog.String("account_id", string(res.AccountID)))
			continue
		}
		if seen[res.AccountID] {
			continue // a store yielding one account twice: the first stands
		}
		seen[res.AccountID] = true
		count(res, meta, nil)
	}
	// An expected account without a recorded result counts from its held
	// result, if any: the deadline has come (or the run is complete, and
	// then there is none to use).
	if len(seen) < len(expected) {
		for res, err := range a.store.Held(ctx, st.RunID) {
			if err != nil {
				return nil, fmt.Errorf("read held results of run %s: %w", st.RunID, err)
			}
			meta, ok := expected[res.AccountID]
			if !ok || seen[res.AccountID] {
				continue
			}
			seen[res.AccountID] = true
			uncovered := res.Uncovered(started.Regions)
			a.metrics.heldCounted.Inc()
			a.log.Info("held result counted at the deadline; its uncovered regions are NotScanned errors",
				slog.String("run_id", string(st.RunID)), slog.String("account_id", string(res.AccountID)),
				slog.Any("uncovered", uncovered))
			count(res, meta, uncovered)
			if m.scanned[res.AccountID] {
				m.heldScanned[res.AccountID] = true
			}
		}
	}
	for _, acc := range started.Accounts {
		if !seen[acc.AccountID] {
			m.accounts = append(m.accounts, report.Account{ID: string(acc.AccountID), Name: acc.Name, OUPath: acc.OUPath,
				Status: report.StatusMissing, Owners: owners(a.cfg.OwnerTags, acc)})
			m.summary.AccountsMissing++
		}
	}
	m.summary.AccountsExpected = len(started.Accounts)
	if strays > 0 {
		a.metrics.dropped.WithLabelValues("result").Add(float64(strays))
	}
	for what, n := range map[string]int{"rule": drops.rules, "finding": drops.findings, "error": drops.errors} {
		if n > 0 {
			a.metrics.dropped.WithLabelValues(what).Add(float64(n))
		}
	}
	slices.SortFunc(worst, func(x, y AccountSummary) int {
		return cmp.Or(cmp.Compare(y.NonCompliantRules, x.NonCompliantRules),
			cmp.Compare(y.NonCompliantResources, x.NonCompliantResources), cmp.Compare(x.AccountID, y.AccountID))
	})
	m.summary.WorstAccounts = worst[:min(len(worst), TopN)]
	var wr []RuleSummary
	for name, ra := range rules {
		if ra.accounts > 0 || ra.resources > 0 {
			wr = append(wr, RuleSummary{Name: name, NonCompliantAccounts: ra.accounts, NonCompliantResources: ra.resources})
		}
	}
	slices.SortFunc(wr, func(x, y RuleSummary) int {
		return cmp.Or(cmp.Compare(y.NonCompliantAccounts, x.NonCompliantAccounts),
			cmp.Compare(y.NonCompliantResources, x.NonCompliantResources), cmp.Compare(x.Name, y.Name))
	})
	m.summary.WorstRules = wr[:min(len(wr), TopN)]
	return m, nil
}

// findings is the second pass: the scanned accounts' rows, each account
// sorted in memory, accounts in the store's (ascending id) order.
func (a *Aggregator) findings(ctx context.Context, st store.RunState, m *model) report.Findings {
	regions := make(map[ident.Region]bool, len(st.Started.Regions))
	for _, r := range st.Started.Regions {
		regions[r] = true
	}
	if m.kept != nil {
		return m.keptFindings()
	}
	return func(yield func(report.Finding, error) bool) {
		account := func(res *events.AccountScanned, uncovered []ident.Region) bool {
			c := convert(res, events.Account{}, regions, uncovered)
			for _, f := range c.sortedFindings(res) {
				if !yield(f, nil) {
					return false
				}
			}
			return true
		}
		// The accounts counted from held results are merged, in account
		// order, with the recorded ones: one result of each stream in
		// memory at a time.
		var (
			next func() (*events.AccountScanned, error, bool)
			h    *events.AccountScanned
			herr error
			hok  bool
		)
		advance := func() {
			for {
				if h, herr, hok = next(); !hok || herr != nil || m.heldScanned[h.AccountID] {
					return
				}
			}
		}
		if len(m.heldScanned) > 0 {
			var stop func()
			next, stop = iter.Pull2(a.store.Held(ctx, st.RunID))
			defer stop()
			advance()
		}
		// heldUpTo yields the held accounts before acct (all when acct is "").
		heldUpTo := func(acct ident.AccountID) bool {
			for hok && (herr != nil || acct == "" || h.AccountID < acct) {
				if herr != nil {
					yield(report.Finding{}, fmt.Errorf("read held results of run %s: %w", st.RunID, herr))
					return false
				}
				if !account(h, h.Uncovered(st.Started.Regions)) {
					return false
				}
				advance()
			}
			return true
		}
		var prev ident.AccountID
		for res, err := range a.store.Results(ctx, st.RunID) {
			if err != nil {
				yield(report.Finding{}, fmt.Errorf("read results of run %s: %w", st.RunID, err))
				return
			}
			if !m.scanned[res.AccountID] || m.heldScanned[res.AccountID] || res.AccountID == prev {
				continue
			}
			prev = res.AccountID
			if !heldUpTo(res.AccountID) || !account(res, nil) {
				return
			}
		}
		heldUpTo("")
	}
}

// keptFindings serves the second pass from m.kept: the accounts in
// ascending id order, as the stores yield them (and the merge with the
// held results above keeps), each account's rows as sortedFindings gave
// them. It can be iterated again (a render retried without its baseline).
func (m *model) keptFindings() report.Findings {
	accts := make([]ident.AccountID, 0, len(m.kept))
	for acct := range m.kept {
		accts = append(accts, acct)
	}
	slices.Sort(accts)
	return func(yield func(report.Finding, error) bool) {
		for _, acct := range accts {
			for _, f := range m.kept[acct] {
				if !yield(f, nil) {
					return
				}
			}
		}
	}
}
