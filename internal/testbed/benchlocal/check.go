package benchlocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"

	"github.com/xuri/excelize/v2"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// truth is what a full scan of the generated org must find: the awssim
// child generates the same org from the same -accounts, -seed and -regions.
type truth struct {
	Active   []string // ACTIVE account ids, sorted
	Findings int      // NON_COMPLIANT results over the ACTIVE accounts' regions
	org      *awssim.Org
}

func groundTruth(accounts int, seed int64, regions []string) (truth, error) {
	org, err := awssim.Generate(awssim.GenConfig{Accounts: accounts, Seed: seed, Regions: regions})
	if err != nil {
		return truth{}, fmt.Errorf("generate org: %w", err)
	}
	t := truth{org: org}
	for _, a := range org.Accounts {
		if a.Status != awssim.StatusActive {
			continue
		}
		t.Active = append(t.Active, a.ID)
		for _, r := range regions {
			for _, rule := range org.Rules(a.ID, r) {
				t.Findings += rule.NonCompliantCount()
			}
		}
	}
	slices.Sort(t.Active)
	return t, nil
}

// peerSummary is bench/peer/peer.py's JSON summary.
type peerSummary struct {
	AccountsListed  int      `json:"accounts_listed"`
	AccountsActive  int      `json:"accounts_active"`
	AccountsScanned int      `json:"accounts_scanned"`
	Scanned         []string `json:"scanned"`
	Findings        int      `json:"findings"`
	Errors          []struct {
		Account, Region, Error string
	} `json:"errors"`
	Boto3 string `json:"boto3"`
}

func readPeerSummary(path string) (peerSummary, error) {
	var s peerSummary
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("peer summary: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("peer summary %s: %w", path, err)
	}
	return s, nil
}

// checkPeer is the correctness guard of a peer run: it scanned every
// ACTIVE account without error and found every finding, so its time is
// the time of the same job.
func checkPeer(s peerSummary, t truth) error {
	var errs []error
	if len(s.Errors) > 0 {
		e := s.Errors[0]
		errs = append(errs, fmt.Errorf("peer: %d errors, first %s/%s: %s", len(s.Errors), e.Account, e.Region, e.Error))
	}
	scanned := slices.Sorted(slices.Values(s.Scanned))
	if !slices.Equal(scanned, t.Active) {
		errs = append(errs, fmt.Errorf("peer: scanned %d accounts, the org has %d ACTIVE (sets differ)", len(scanned), len(t.Active)))
	}
	if s.Findings != t.Findings {
		errs = append(errs, fmt.Errorf("peer: %d findings, the org has %d (bin/awssim built from another tree than this harness? make bench-local builds both)", s.Findings, t.Findings))
	}
	return errors.Join(errs...)
}

// Workbook cells and sheets, from shared/REPORT_FORMAT.md.
const (
	sheetSummary  = "Summary"
	sheetFindings = "Non-compliant Resources"
)

// checkWorkbook is the correctness guard of a local run: the workbook
// exists, every ACTIVE account is expected and scanned, none failed, and
// it lists every finding.
func checkWorkbook(path string, t truth) error {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return fmt.Errorf("workbook: %w", err)
	}
	defer f.Close()
	var errs []error
	for _, c := range []struct {
		cell, name string
		want       int
	}{
		{"B6", "Accounts expected", len(t.Active)},
		{"B7", "Accounts scanned", len(t.Active)},
		{"B8", "Accounts failed or missing", 0},
	} {
		v, err := f.GetCellValue(sheetSummary, c.cell)
		if err != nil {
			errs = append(errs, fmt.Errorf("workbook %s: %w", c.name, err))
			continue
		}
		if n, err := strconv.Atoi(v); err != nil || n != c.want {
			errs = append(errs, fmt.Errorf("workbook: %s is %q, want %d", c.name, v, c.want))
		}
	}
	rows, err := f.Rows(sheetFindings)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("workbook: %w", err))...)
	}
	defer rows.Close()
	n := -1 // the header
	for rows.Next() {
		n++
	}
	if n != t.Findings {
		errs = append(errs, fmt.Errorf("workbook: %d findings rows, the org has %d findings (bin/awssim built from another tree than this harness? make bench-local builds both)", n, t.Findings))
	}
	return errors.Join(errs...)
}

// floorLine is the last line bench/floor prints.
var floorLine = regexp.MustCompile(`^floor: \d+ calls \(\d+ attempts, \d+ throttled\), (\d+) findings, (\d+) accounts,`)

// checkFloor checks that the floor read every finding of every ACTIVE
// account: its CPU per call is only comparable for the same work.
func checkFloor(line string, t truth) error {
	m := floorLine.FindStringSubmatch(line)
	if m == nil {
		return fmt.Errorf("floor: unexpected last line %q", line)
	}
	findings, _ := strconv.Atoi(m[1])
	accounts, _ := strconv.Atoi(m[2])
	if findings != t.Findings || accounts != len(t.Active) {
		return fmt.Errorf("floor read %d findings of %d accounts, want %d of %d", findings, accounts, t.Findings, len(t.Active))
	}
	return nil
}
