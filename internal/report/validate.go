package report

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Strings of the missing-account Errors row, fixed by REPORT_FORMAT.md.
const (
	stageMissing   = "missing"
	codeNoResult   = "NoResult"
	messageMissing = "no result before the deadline"
)

// input is the validated, sorted form of Render's arguments.
type input struct {
	run       Run
	regionIdx map[string]int
	accounts  []*accountState // sorted by ID
	byID      map[string]*accountState
	errs      []ErrorRow // sorted, missing-account rows included
}

type accountState struct {
	Account
	ncResources int // findings counted while streaming
	// cov is the account's Coverage row per configured region, in the
	// run's order, entries not given derived (see Account.Coverage).
	cov []Coverage
}

func (a *accountState) scanned() bool {
	return a.Status == StatusOK || a.Status == StatusPartial
}

// prepare validates the inputs, returning every problem at once, and sorts
// copies of them; the caller's slices are not modified.
func prepare(run Run, accounts []Account, errs []ErrorRow) (*input, error) {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if run.RunID == "" {
		bad("run: empty run id")
	}
	if run.GeneratedAt.Before(excelEpoch) {
		bad("run: GeneratedAt %s is zero or before 1900, which Excel cannot show", run.GeneratedAt.Format(time.RFC3339))
	}
	if run.Trigger != TriggerScheduled && run.Trigger != TriggerAdhoc {
		bad("run: trigger %q is neither %q nor %q", run.Trigger, TriggerScheduled, TriggerAdhoc)
	}
	in := &input{run: run, regionIdx: make(map[string]int, len(run.Regions)), byID: make(map[string]*accountState, len(accounts))}
	for i, r := range run.Regions {
		if r == "" {
			bad("run: empty region at position %d", i)
			continue
		}
		if _, dup := in.regionIdx[r]; dup {
			bad("run: region %s listed twice", r)
			continue
		}
		in.regionIdx[r] = i
	}
	owners := make(map[string]bool, len(run.OwnerColumns))
	for i, h := range run.OwnerColumns {
		switch {
		case h == "":
			bad("run: empty owner column header at position %d", i)
		case owners[h]:
			bad("run: owner column %q listed twice", h)
		}
		owners[h] = true
	}

	// Regions of each account that hold at least one rule, to check that a
	// failed region contributes no rule.
	ruleRegions := make(map[string]map[string]bool, len(accounts))
	for i := range accounts {
		a := &accountState{Account: accounts[i]}
		switch {
		case a.ID == "":
			bad("account %d: empty account id", i)
			continue
		case in.byID[a.ID] != nil:
			bad("account %s: listed twice", a.ID)
			continue
		}
		in.byID[a.ID] = a
		in.accounts = append(in.accounts, a)
		switch a.Status {
		case StatusOK, StatusPartial:
		case StatusFailed, StatusMissing:
			if len(a.Rules) > 0 {
				bad("account %s: %s but has %d rules", a.ID, a.Status, len(a.Rules))
			}
		default:
			bad("account %s: unknown status %q", a.ID, a.Status)
		}
		seen := make(map[[2]string]bool, len(a.Rules))
		regions := map[string]bool{}
		for _, r := range a.Rules {
			if _, ok := in.regionIdx[r.Region]; !ok {
				bad("account %s: rule %q in region %q, which the run does not configure", a.ID, r.Name, r.Region)
			}
			if r.Name == "" {
				bad("account %s: rule with an empty name in %s", a.ID, r.Region)
			}
			k := [2]string{r.Region, r.Name}
			if seen[k] {
				bad("account %s: rule %q listed twice in %s", a.ID, r.Name, r.Region)
			}
			seen[k] = true
			regions[r.Region] = true
		}
		ruleRegions[a.ID] = regions
		if len(a.Owners) > len(run.OwnerColumns) {
			bad("account %s: %d owner values for %d owner columns", a.ID, len(a.Owners), len(run.OwnerColumns))
		}
		if a.Status == StatusMissing && len(a.Coverage) > 0 {
			bad("account %s: MISSING but has coverage; its rows are added by Render", a.ID)
		}
		a.cov = make([]Coverage, len(run.Regions))
		for _, c := range a.Coverage {
			ri, ok := in.regionIdx[c.Region]
			switch {
			case !ok:
				bad("account %s: coverage of region %q, which the run does not configure", a.ID, c.Region)
				continue
			case a.cov[ri].Read != "":
				bad("account %s: coverage of region %s listed twice", a.ID, c.Region)
				continue
			}
			switch c.Read {
			case ReadYes, ReadFailed, ReadSkipped:
			default:
				bad("account %s: coverage of region %s: read %q, want %q, %q or %q", a.ID, c.Region, c.Read, ReadYes, ReadFailed, ReadSkipped)
			}
			switch c.Recorder {
			case "", RecorderRecording, RecorderStopped, RecorderNone:
			default:
				bad("account %s: coverage of region %s: recorder %q", a.ID, c.Region, c.Recorder)
			}
			if c.Rules != nil && *c.Rules < 0 {
				bad("account %s: coverage of region %s: %d rules", a.ID, c.Region, *c.Rules)
			}
			a.cov[ri] = c
		}
		for r := range regions {
			if ri, ok := in.regionIdx[r]; ok && a.cov[ri].Read != "" && a.cov[ri].Read != ReadYes {
				bad("account %s: rules in region %s, whose coverage says read %s", a.ID, r, a.cov[ri].Read)
			}
		}
	}
	slices.SortFunc(in.accounts, func(a, b *accountState) int { return cmp.Compare(a.ID, b.ID) })

	in.errs = make([]ErrorRow, 0, len(errs))
	for i, e := range errs {
		a := in.byID[e.AccountID]
		switch {
		case a == nil:
			bad("error row %d: unknown account %q", i, e.AccountID)
			continue
		case a.Status == StatusMissing:
			bad("error row %d: account %s is MISSING; its row is added by Render", i, e.AccountID)
			continue
		case e.Stage == "":
			bad("error row %d (account %s): empty stage", i, e.AccountID)
		}
		if e.Region != "" {
			if _, ok := in.regionIdx[e.Region]; !ok {
				bad("error row %d (account %s): region %q, which the run does not configure", i, e.AccountID, e.Region)
			}
			// A region counts whole or not at all; a recorder row (Config
			// stopped or absent) leaves the region read and counted.
			if e.Stage != stageRecorder && ruleRegions[e.AccountID][e.Region] {
				bad("account %s: region %s has an error row and rules; a failed region must contribute no rules", e.AccountID, e.Region)
			}
		}
		in.errs = append(in.errs, e)
	}
	for _, a := range in.accounts {
		if a.Status == StatusMissing {
			in.errs = append(in.errs, ErrorRow{AccountID: a.ID, Stage: stageMissing, Code: codeNoResult, Message: messageMissing})
		}
	}
	// Account ID, then Region (the empty region of an account-wide failure
	// sorts first by itself), then Stage; the rest only makes the order
	// independent of the input order.
	slices.SortFunc(in.errs, func(a, b ErrorRow) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Code, b.Code),
			cmp.Compare(a.Message, b.Message), cmp.Compare(a.Attempts, b.Attempts))
	})
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid report input: %w", errors.Join(problems...))
	}
	in.deriveCoverage()
	return in, nil
}

// Stage of the Errors row of a region whose Config recorder is stopped or
// absent: the region was still read (REPORT_FORMAT.md).
const stageRecorder = "recorder"

// deriveCoverage fills the Coverage rows the caller did not give (see
// Account.Coverage), after the error rows are known.
func (in *input) deriveCoverage() {
	failed := make(map[[2]string]bool)
	for _, e := range in.errs {
		if e.Region != "" && e.Stage != stageRecorder {
			failed[[2]string{e.AccountID, e.Region}] = true
		}
	}
	for _, a := range in.accounts {
		var rules []int
		for ri, c := range a.cov {
			if c.Read != "" {
				continue
			}
			region := in.run.Regions[ri]
			c.Region = region
			switch {
			case a.Status == StatusMissing:
				c.Read = ReadMissing
			case a.Status == StatusFailed || failed[[2]string{a.ID, region}]:
				c.Read = ReadFailed
			default:
				if rules == nil {
					rules = make([]int, len(in.run.Regions))
					for _, r := range a.Rules {
						rules[in.regionIdx[r.Region]]++
					}
				}
				n := rules[ri]
				c.Read, c.Rules = ReadYes, &n
			}
			a.cov[ri] = c
		}
	}
}
