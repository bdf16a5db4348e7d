package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// ErrInvalid wraps every event an implementation refuses to record: its ids
// become keys (a SQL row, a DynamoDB partition), so they are checked before
// anything is written.
var ErrInvalid = errors.New("invalid event for the store")

// ErrNotEmitted: SetTicket on a run whose report is not emitted yet (a
// ticket always points at an uploaded report).
var ErrNotEmitted = errors.New("run not emitted yet")

// ErrTicketed: ClaimTicket on a run whose ticket key is stored already;
// nothing is left to file.
var ErrTicketed = errors.New("run already has a ticket")

// CheckRun is what every implementation checks before RecordRun: the run id
// is valid, and the event is resolved (a claim-check body still behind its
// payload_ref would be stored as an empty run).
func CheckRun(run *events.RunStarted) error {
	if run == nil {
		return fmt.Errorf("%w: nil RunStarted", ErrInvalid)
	}
	if _, err := ident.ParseRunID(string(run.RunID)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if run.PayloadRef != "" {
		return fmt.Errorf("%w: run %s still carries payload_ref %q (resolve the claim check first)", ErrInvalid, run.RunID, run.PayloadRef)
	}
	return nil
}

// CheckResult is CheckRun's twin for RecordResult.
func CheckResult(res *events.AccountScanned) error {
	if res == nil {
		return fmt.Errorf("%w: nil AccountScanned", ErrInvalid)
	}
	if _, err := ident.ParseRunID(string(res.RunID)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := ident.ParseAccountID(string(res.AccountID)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if res.PayloadRef != "" {
		return fmt.Errorf("%w: result %s/%s still carries payload_ref %q (resolve the claim check first)", ErrInvalid, res.RunID, res.AccountID, res.PayloadRef)
	}
	return nil
}

// CheckClaim checks Claim's and MarkEmitted's arguments.
func CheckClaim(id ident.RunID, owner string, ttl time.Duration) error {
	var errs []error
	if _, err := ident.ParseRunID(string(id)); err != nil {
		errs = append(errs, err)
	}
	if owner == "" {
		errs = append(errs, errors.New("empty owner"))
	}
	if ttl <= 0 {
		errs = append(errs, fmt.Errorf("lease ttl %s is not positive", ttl))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// CheckEmit checks MarkEmitted's arguments: an empty owner would match a
// run that was never claimed.
func CheckEmit(id ident.RunID, owner, reportKey string) error {
	var errs []error
	if _, err := ident.ParseRunID(string(id)); err != nil {
		errs = append(errs, err)
	}
	if owner == "" {
		errs = append(errs, errors.New("empty owner"))
	}
	if reportKey == "" {
		errs = append(errs, errors.New("empty report key"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// CheckPin checks PinBaseline's arguments: a baseline names another run
// and the findings file to compare with.
func CheckPin(id ident.RunID, ref *BaselineRef) error {
	var errs []error
	if _, err := ident.ParseRunID(string(id)); err != nil {
		errs = append(errs, err)
	}
	if ref != nil {
		if _, err := ident.ParseRunID(string(ref.RunID)); err != nil {
			errs = append(errs, fmt.Errorf("baseline: %w", err))
		}
		if ref.RunID == id {
			errs = append(errs, errors.New("a run cannot be its own baseline"))
		}
		if ref.FindingsKey == "" {
			errs = append(errs, errors.New("baseline without a findings key"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
