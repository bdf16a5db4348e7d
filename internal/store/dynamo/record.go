package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// RecordRun implements store.Store. The RunStarted goes to chunk items
// first; the conditional update of the run item that references them
// decides which write wins. The run item stays small (no body), so the
// claim updates that follow cost one write unit each.
func (s *Store) RecordRun(ctx context.Context, run *events.RunStarted) (bool, error) {
	if err := store.CheckRun(run); err != nil {
		return false, err
	}
	body, err := gz(run)
	if err != nil {
		return false, fmt.Errorf("record run %s: encode: %w", run.RunID, err)
	}
	pk := runPK(run.RunID)
	wid, n, err := s.putChunks(ctx, pk, "START#", body)
	if err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	// The deadline index entry goes before the run item, like the chunks:
	// a run item without one would never be Pending. A losing writer with
	// another deadline deletes its own; Pending skips and deletes any
	// entry that does not match its run.
	dl := run.Deadline.UTC()
	pend := key(pendingPK, pendingSK(dl, run.RunID))
	pend[AttrExpires] = s.expires()
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: pend}); err != nil {
		return false, fmt.Errorf("record run %s: deadline index: %w", run.RunID, err)
	}
	upd := "SET #ref = :ref, #n = :n, #rid = :rid, #exp = :exp, #q = if_not_exists(#q, :pending), #dl = :dl, #sat = :sat"
	names := map[string]string{"#ref": "started_ref", "#n": "started_chunks", "#rid": "run_id",
		"#exp": AttrExpires, "#q": AttrQueue, "#dl": "deadline", "#sat": "started_at"}
	vals := map[string]types.AttributeValue{":ref": str(wid), ":n": num(int64(n)),
		":rid": str(string(run.RunID)), ":exp": s.expires(), ":pending": str(queuePending),
		":dl": num(dl.UnixNano()), ":sat": num(run.StartedAt.UnixNano())}
	acct, adhoc := store.AdhocAccount(run)
	if adhoc {
		upd += ", #acct = :acct"
		names["#acct"], vals[":acct"] = "adhoc_account", str(string(acct))
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(pk, runSK), UpdateExpression: aws.String(upd),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	}
	if !s.cfg.Unsafe.Overwrite() {
		in.ConditionExpression = aws.String("attribute_not_exists(#ref)")
	}
	if _, err := s.api.UpdateItem(ctx, in); err != nil {
		if !isConditionFailed(err) {
			return false, fmt.Errorf("record run %s: %w", run.RunID, err)
		}
		s.dropChunks(ctx, pk, "START#", wid, n)
		item, err := s.getRunItem(ctx, run.RunID)
		if err != nil {
			return false, fmt.Errorf("record run %s: read the recorded run: %w", run.RunID, err)
		}
		if got, _ := getN(item, "deadline"); got != dl.UnixNano() {
			s.deletePending(ctx, dl, run.RunID)
		}
		// A writer that died between the run item and the ad-hoc slot:
		// its redelivery finishes the decision, from the recorded run.
		if err := s.adhocDecide(ctx, run.RunID, item); err != nil {
			return false, fmt.Errorf("record run %s: %w", run.RunID, err)
		}
		return false, nil
	}
	if adhoc {
		item, err := s.getRunItem(ctx, run.RunID)
		if err != nil {
			return false, fmt.Errorf("record run %s: read the recorded run: %w", run.RunID, err)
		}
		if err := s.adhocDecide(ctx, run.RunID, item); err != nil {
			return false, fmt.Errorf("record run %s: %w", run.RunID, err)
		}
	}
	return true, nil
}

// RecordResult implements store.Store: a conditional put of the RES# item
// decides, then the CNT# marker is written (by every caller, idempotently,
// so a redelivery repairs a crash between the two).
func (s *Store) RecordResult(ctx context.Context, res *events.AccountScanned) (bool, error) {
	created, _, err := s.RecordResultCounted(ctx, res)
	return created, err
}

// RecordResultCounted implements store.ResultCounter: the counter's
// increment returns the run item as it left it (ReturnValues ALL_NEW; the
// run item holds no body, so it is small), which is the count with this
// result, whether the RunStarted is recorded and whether the run is
// emitted, with no GetItem. The count is the counter's, so, as with Run, it
// may be short after a crash between a marker and its increment until a
// recount (Run, which the aggregator's loop calls every tick through
// Pending) repairs it, or ahead after a retried increment (the aggregator
// confirms completion with MissingResults).
func (s *Store) RecordResultCounted(ctx context.Context, res *events.AccountScanned) (bool, store.Recorded, error) {
	if err := store.CheckResult(res); err != nil {
		return false, store.Recorded{}, err
	}
	body, err := gz(res)
	if err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: encode: %w", res.RunID, res.AccountID, err)
	}
	return s.recordBody(ctx, res.RunID, res.AccountID, res.Status, body)
}

// recordBody is RecordResultCounted from the result's encoded body (gz):
// RecordHeld's too.
func (s *Store) recordBody(ctx context.Context, id ident.RunID, acct ident.AccountID, status events.Status, body []byte) (bool, store.Recorded, error) {
	pk := runPK(id)
	item := key(pk, resSK(acct))
	item[AttrExpires] = s.expires()
	chunks, err := s.setBody(ctx, pk, "BLOB#"+string(acct)+"#", item, body)
	if err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", id, acct, err)
	}
	in := &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item}
	if !s.cfg.Unsafe.Overwrite() {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": AttrPK}
	}
	created := true
	if _, err := s.api.PutItem(ctx, in); err != nil {
		if !isConditionFailed(err) {
			return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", id, acct, err)
		}
		created = false
		s.dropBody(ctx, pk, chunks)
	}
	runItem, err := s.count(ctx, id, acct, status)
	if err != nil {
		// The result is stored but maybe not counted: an error makes the
		// caller nack, and the redelivery counts it.
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", id, acct, err)
	}
	if !created {
		return false, store.Recorded{}, nil
	}
	if runItem == nil {
		// The marker was there already although this write created the
		// result: only when first-write-wins is off (store.Unsafe).
		if runItem, err = s.getRunItem(ctx, id); err != nil {
			return false, store.Recorded{}, fmt.Errorf("record result %s/%s: read run: %w", id, acct, err)
		}
	}
	return true, recorded(runItem), nil
}

// recorded is what store.Recorded says of a run item.
func recorded(item map[string]types.AttributeValue) store.Recorded {
	n, _ := getN(item, "results")
	return store.Recorded{Results: int(n), HasStarted: getS(item, "started_ref") != "", Emitted: getBool(item, "emitted")}
}

// count writes the account's CNT# marker if absent and, when it was
// absent, adds one to the run item's counter and returns the run item as
// the increment left it (nil when the marker was there). A crash between
// the two leaves the counter short; Run's recount repairs it (see doc.go).
// The increment may be shared with others of the run (counters).
//
// The marker carries the result's status, so that an operator's summary
// (RunSummary, Recent) counts failed accounts from the markers alone.
func (s *Store) count(ctx context.Context, id ident.RunID, acct ident.AccountID, status events.Status) (map[string]types.AttributeValue, error) {
	marker := key(cntPK(id), string(acct))
	marker[AttrExpires] = s.expires()
	marker[attrStatus] = str(string(status))
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: marker,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK}})
	if isConditionFailed(err) {
		return nil, nil // counted already (or being repaired by a recount)
	}
	if err != nil {
		return nil, fmt.Errorf("count marker: %w", err)
	}
	// The run item may not exist yet (results before RunStarted): ADD makes
	// it. Concurrent increments of the run share one ADD (counter.go).
	return s.counters.add(ctx, id, func(ctx context.Context, n int64) (map[string]types.AttributeValue, error) {
		out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.cfg.Table,
			Key:                       key(runPK(id), runSK),
			UpdateExpression:          aws.String("ADD #n :inc SET #exp = :exp"),
			ExpressionAttributeNames:  map[string]string{"#n": "results", "#exp": AttrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{":inc": num(n), ":exp": s.expires()},
			ReturnValues:              types.ReturnValueAllNew,
		})
		if err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
		return out.Attributes, nil
	})
}

// HoldResult implements store.Store: a put of the HELD# item whose
// condition is the replacement rule (absent, or narrower than this one).
func (s *Store) HoldResult(ctx context.Context, res *events.AccountScanned) (bool, error) {
	if err := store.CheckResult(res); err != nil {
		return false, err
	}
	body, err := gz(res)
	if err != nil {
		return false, fmt.Errorf("hold result %s/%s: encode: %w", res.RunID, res.AccountID, err)
	}
	pk := runPK(res.RunID)
	item := key(pk, heldSK(res.AccountID))
	item[AttrExpires] = s.expires()
	breadth := int64(store.Breadth(res))
	item["breadth"] = num(breadth)
	// What promotion decides on, so that it need not decode the body
	// (HeldBodies).
	item[attrStatus] = str(string(res.Status))
	item[attrRegions] = regionList(store.CoveredRegions(res))
	chunks, err := s.setBody(ctx, pk, "HBLOB#"+string(res.AccountID)+"#", item, body)
	if err != nil {
		return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #b < :b"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#b": "breadth"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": num(breadth)}})
	if err == nil {
		// The replaced body's chunks, if any, are left to TTL.
		return true, nil
	}
	s.dropBody(ctx, pk, chunks)
	if isConditionFailed(err) {
		return false, nil
	}
	return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
}

// DropHeld implements store.Store.
func (s *Store) DropHeld(ctx context.Context, id ident.RunID, account ident.AccountID) error {
	if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(runPK(id), heldSK(account))}); err != nil {
		return fmt.Errorf("drop held result %s/%s: %w", id, account, err)
	}
	return nil
}
