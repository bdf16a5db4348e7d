package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// attrStatus is the result's status on its CNT# marker (RunSummary).
const attrStatus = "status"

// ScanAPI is the part of *dynamodb.Client that Recent needs beyond API:
// the operator's credentials have it, the services' role does not (it is
// not granted dynamodb:Scan, internal/iampolicy), so API leaves it out.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ store.RunLister = (*Store)(nil)

// Recent implements store.RunLister with one Scan of the table, filtered
// to the run items that have a RunStarted, projecting only their id and
// started_at. No key or index orders runs by start time (the table's key
// schema and its queue-index are the aggregator's, and an emitted,
// ticketed run leaves both the index and the PENDING partition), so the
// Scan is the honest way to see every run, and its cost is stated here:
// DynamoDB charges a Scan for every item it reads before the filter, so
// one listing costs the table's size / 8 KB read units (eventually
// consistent). With 5,000 accounts, results of a few KB compressed and
// 30 days of retention that is some 100 MB, about 12,500 read request
// units (a fraction of a cent on demand) and a few seconds of paging: fine
// for an operator's command, which is why it is one, and never for a
// service loop. Memory holds one (id, started_at) pair per run in the
// table, sorted here; the limit latest are then read as RunSummary does.
func (s *Store) Recent(ctx context.Context, limit int) ([]store.RunSummary, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("recent runs: %w: limit %d is not positive", store.ErrInvalid, limit)
	}
	scan, ok := s.api.(ScanAPI)
	if !ok {
		return nil, errors.New("recent runs: the DynamoDB client given to the store cannot Scan")
	}
	var (
		runs []store.RunStart
		next map[string]types.AttributeValue
	)
	for {
		page, err := scan.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 &s.cfg.Table,
			FilterExpression:          aws.String("#sk = :run AND attribute_exists(#ref)"),
			ProjectionExpression:      aws.String("#rid, #sat"),
			ExpressionAttributeNames:  map[string]string{"#sk": AttrSK, "#ref": "started_ref", "#rid": "run_id", "#sat": "started_at"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":run": str(runSK)},
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return nil, fmt.Errorf("recent runs: scan %s: %w", s.cfg.Table, err)
		}
		for _, it := range page.Items {
			at, _ := getN(it, "started_at")
			runs = append(runs, store.RunStart{ID: ident.RunID(getS(it, "run_id")), At: time.Unix(0, at).UTC()})
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			break
		}
	}
	return store.Latest(ctx, runs, limit, func(ctx context.Context, id ident.RunID) (store.RunSummary, error) {
		return s.summary(ctx, id, false)
	})
}

// RunSummary implements store.RunLister.
func (s *Store) RunSummary(ctx context.Context, id ident.RunID) (store.RunSummary, error) {
	return s.summary(ctx, id, true)
}

// summary reads the run item and its RunStarted (decodeState: no counter
// repair, the operator's command never writes), then the run's CNT#
// markers with their status: one Query, paged, of about 50 bytes per
// recorded account (some 250 KB, 32 read units, at 5,000 accounts),
// never the results themselves. The markers are the counts: a marker
// lags its result only while the aggregator's redelivery repairs a crash
// (doc.go), and a marker written before markers carried a status counts
// as reported, not failed.
func (s *Store) summary(ctx context.Context, id ident.RunID, withUnreported bool) (store.RunSummary, error) {
	item, err := s.runItem(ctx, id)
	if err != nil {
		return store.RunSummary{}, fmt.Errorf("run %s: %w", id, err)
	}
	st, err := s.decodeState(ctx, id, item)
	if err != nil {
		return store.RunSummary{}, fmt.Errorf("run %s: %w", id, err)
	}
	statuses := map[ident.AccountID]events.Status{}
	var next map[string]types.AttributeValue
	for {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ProjectionExpression:      aws.String("#sk, #st"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK, "#st": attrStatus},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(cntPK(id))},
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return store.RunSummary{}, fmt.Errorf("run %s: markers: %w", id, err)
		}
		for _, it := range page.Items {
			statuses[ident.AccountID(getS(it, AttrSK))] = events.Status(getS(it, attrStatus))
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			break
		}
	}
	st.Results = len(statuses)
	return store.Summarize(st, statuses, withUnreported), nil
}
