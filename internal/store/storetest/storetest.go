// Package storetest is the dedupe store's conformance suite: the semantics
// of store.Store written once and run against every implementation (SQLite,
// DynamoDB), so that the two cannot drift. An implementation's test calls
// Run with a constructor that returns a fresh, empty store.
//
// It is not a benchmark harness and holds no implementation-specific test
// (restart survival, chunking, counter repair live beside each
// implementation).
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/store"
)

// NewStore returns a fresh, empty store for one test and registers its
// Close with t.Cleanup. It is called once per subtest, possibly from
// parallel subtests.
type NewStore func(t *testing.T) store.Store

// T0 is the suite's clock origin: times are explicit, never time.Now, so
// that lease expiry is tested without sleeping.
var T0 = time.Date(2026, 11, 23, 1, 0, 0, 123456789, time.UTC)

// Run runs the whole suite as parallel subtests of t.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RecordRunFirstWriteWins", testRecordRunFirstWriteWins},
		{"RecordResultFirstWriteWins", testRecordResultFirstWriteWins},
		{"ResultsBeforeRunStarted", testResultsBeforeRunStarted},
		{"NotFound", testNotFound},
		{"ResultsOrderedByAccountID", testResultsOrdered},
		{"ResultsStopEarly", testResultsStopEarly},
		{"HasResult", testHasResult},
		{"MissingResults", testMissingResults},
		{"RunsAreIsolated", testRunsIsolated},
		{"ClaimLifecycle", testClaimLifecycle},
		{"ClaimSingleWinner", testClaimSingleWinner},
		{"ClaimNeedsRunStarted", testClaimNeedsRunStarted},
		{"MarkEmitted", testMarkEmitted},
		{"MarkEmittedAfterExpiryWithoutTakeover", testMarkEmittedExpiredNotTaken},
		{"SetTicketAndUnticketed", testSetTicket},
		{"TicketLease", testTicketLease},
		{"TicketLeaseSingleWinner", testTicketLeaseSingleWinner},
		{"Pending", testPending},
		{"PendingBoundedEarliestDeadlineFirst", testPendingBounded},
		{"HeldResults", testHeldResults},
		{"HeldLargeResult", testHeldLarge},
		{"HeldCopier", testHeldCopier},
		{"AdhocJoin", testAdhocJoin},
		{"AdhocJoinOnlyOnce", testAdhocJoinOnce},
		{"LargeRun", testLargeRun},
		{"LargeResult", testLargeResult},
		{"ConcurrentRecord", testConcurrentRecord},
		{"InvalidInput", testInvalid},
		{"ResultCounter", testResultCounter},
		{"ResultCounterConcurrent", testResultCounterConcurrent},
		{"RunLister", testRunLister},
		{"BaselineFixedAtFirstClaim", testBaselineFixedAtFirstClaim},
		{"BaselineSingleFixing", testBaselineSingleFixing},
		{"PinBaseline", testPinBaseline},
		{"LatestOnlyScheduledWithFindings", testLatestOnlyScheduledWithFindings},
		{"LatestIsLatestStarted", testLatestIsLatestStarted},
		{"LatestConcurrent", testLatestConcurrent},
		{"MarkEmittedFindingsKey", testMarkEmittedFindingsKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
