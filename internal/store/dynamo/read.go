package dynamo

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func (s *Store) getRunItem(ctx context.Context, id ident.RunID) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.cfg.Table, Key: key(runPK(id), runSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// runItem is getRunItem for a run that must be there: store.ErrNotFound
// when it is not.
func (s *Store) runItem(ctx context.Context, id ident.RunID) (map[string]types.AttributeValue, error) {
	item, err := s.getRunItem(ctx, id)
	if err == nil && item == nil {
		err = store.ErrNotFound
	}
	return item, err
}

func (s *Store) countResults(ctx context.Context, id ident.RunID) (int, error) {
	var (
		total int
		next  map[string]types.AttributeValue
	)
	for {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(cntPK(id))},
			Select:                    types.SelectCount,
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return 0, err
		}
		total += int(page.Count)
		if next = page.LastEvaluatedKey; len(next) == 0 {
			return total, nil
		}
	}
}

// decodeState reads a run item (and its RunStarted's chunks, once per
// process) without writing: state is it plus the counter's repair.
func (s *Store) decodeState(ctx context.Context, id ident.RunID, item map[string]types.AttributeValue) (store.RunState, error) {
	st := store.RunState{
		RunID:       id,
		GeneratedAt: getTime(item, "generated_at"),
		ClaimOwner:  getS(item, "claim_owner"),
		ClaimUntil:  getTime(item, "claim_until"),
		Emitted:     getBool(item, "emitted"),
		EmittedAt:   getTime(item, "emitted_at"),
		ReportKey:   getS(item, "report_key"),
		TicketKey:   getS(item, "ticket_key"),
		TicketOwner: getS(item, "ticket_owner"),
		TicketUntil: getTime(item, "ticket_until"),
		JoinedTo:    ident.RunID(getS(item, "joined_to")),
		FindingsKey: getS(item, "findings_key"),
	}
	var err error
	if st.Baseline, st.BaselineFixed, err = decodeBaseline(item); err != nil {
		return st, err
	}
	if wid := getS(item, "started_ref"); wid != "" {
		// The write id names one recorded RunStarted for good (chunks are
		// never rewritten under it), so its chunks are read and decoded
		// once per process, not on every completion check.
		st.Started, err = s.started.Get(string(id)+"/"+wid, func() (*events.RunStarted, error) {
			n, _ := getN(item, "started_chunks")
			body, err := s.getChunks(ctx, runPK(id), "START#", wid, int(n))
			if err != nil {
				return nil, err
			}
			rs := new(events.RunStarted)
			if err := gunzipJSON(body, rs); err != nil {
				return nil, fmt.Errorf("decode RunStarted: %w", err)
			}
			return rs, nil
		})
		if err != nil {
			return st, err
		}
	}
	n, _ := getN(item, "results")
	st.Results = int(n)
	return st, nil
}

func (s *Store) state(ctx context.Context, id ident.RunID, item map[string]types.AttributeValue) (store.RunState, error) {
	st, err := s.decodeState(ctx, id, item)
	if err != nil {
		return st, err
	}
	if st.Started != nil && !st.Emitted && st.Results < len(st.Started.Accounts) {
		return s.maybeRecount(ctx, st, item)
	}
	return st, nil
}

// maybeRecount repairs a counter left short by a crash between a marker
// and its increment. The counter is in doubt whenever a run is incomplete,
// which is most of its life, so the recount (a COUNT query over the CNT#
// partition, O(accounts x 40 B)) runs at most once per RecountEvery per
// run: the replica whose conditional update of recounted_at wins does it.
// The repaired value is written only if no increment landed meanwhile;
// otherwise the next recount does it.
func (s *Store) maybeRecount(ctx context.Context, st store.RunState, item map[string]types.AttributeValue) (store.RunState, error) {
	now := s.cfg.Now()
	last, hasLast := getN(item, "recounted_at")
	if hasLast && now.Sub(time.Unix(0, last)) < s.cfg.RecountEvery {
		return st, nil
	}
	cond := "attribute_not_exists(#at)"
	vals := map[string]types.AttributeValue{":now": num(now.UnixNano())}
	if hasLast {
		cond = "#at = :last"
		vals[":last"] = num(last)
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(st.RunID), runSK),
		UpdateExpression: aws.String("SET #at = :now"), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#at": "recounted_at"}, ExpressionAttributeValues: vals,
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return st, nil // another caller recounts
	}
	if err != nil {
		return st, fmt.Errorf("recount: %w", err)
	}
	seen, _ := getN(out.Attributes, "results")
	n, err := s.countResults(ctx, st.RunID)
	if err != nil {
		return st, fmt.Errorf("recount: %w", err)
	}
	if int64(n) == seen {
		st.Results = n
		return st, nil
	}
	s.log.Warn("dedupe store: result counter repaired (a writer died between a marker and its increment, or retried an increment)",
		slog.String("run_id", string(st.RunID)), slog.Int64("counter", seen), slog.Int("markers", n))
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(st.RunID), runSK),
		UpdateExpression: aws.String("SET #n = :n"), ConditionExpression: aws.String("#n = :seen"),
		ExpressionAttributeNames:  map[string]string{"#n": "results"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n)), ":seen": num(seen)},
	})
	switch {
	case isConditionFailed(err):
		// An increment landed between the read and the count: the next
		// recount repairs it; the markers are the truth meanwhile.
	case err != nil:
		return st, fmt.Errorf("recount: %w", err)
	}
	st.Results = n
	return st, nil
}

// Run implements store.Store.
func (s *Store) Run(ctx context.Context, id ident.RunID) (store.RunState, error) {
	item, err := s.runItem(ctx, id)
	if err != nil {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, err)
	}
	st, err := s.state(ctx, id, item)
	if err != nil {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, err)
	}
	return st, nil
}

// HasResult implements store.Store. It reads the RES# item, the truth,
// not the marker (which may lag it after a crash).
func (s *Store) HasResult(ctx context.Context, id ident.RunID, account ident.AccountID) (bool, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(id), resSK(account)), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#pk"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if err != nil {
		return false, fmt.Errorf("has result %s/%s: %w", id, account, err)
	}
	return out.Item != nil, nil
}

// verifyByGet is the most accounts MissingResults confirms with one GetItem
// each; more are confirmed by one key-only Query over the RES# items.
const verifyByGet = 64

// MissingResults implements store.Store in two steps. First one
// consistent Query over the run's CNT# markers (about 40 bytes each, so
// 5,000 accounts fit one 1 MB page): a marker is only ever written after
// its RES# item exists, so an account with a marker has a result. An
// expected account without a marker may still have one (a writer died
// between the two, and its redelivery has not come yet), so those are
// confirmed against the RES# items, the truth, as HasResult does: one
// GetItem each when they are few, else one paginated Query of the RES#
// keys. The second step is not the first: a Query's 1 MB page and its
// read units count whole items before any projection, and results are
// kilobytes each, so reading the RES# keys of 5,000 accounts costs tens of
// pages where the markers cost one.
func (s *Store) MissingResults(ctx context.Context, id ident.RunID, expected []ident.AccountID) ([]ident.AccountID, error) {
	if len(expected) == 0 {
		return nil, nil
	}
	marked, err := s.sortKeys(ctx, cntPK(id), "")
	if err != nil {
		return nil, fmt.Errorf("missing results of %s: markers: %w", id, err)
	}
	unmarked := store.MissingFrom(expected, func(a ident.AccountID) bool { return marked[string(a)] })
	if len(unmarked) == 0 {
		return nil, nil
	}
	if len(unmarked) <= verifyByGet {
		var missing []ident.AccountID
		for _, acct := range unmarked {
			ok, err := s.HasResult(ctx, id, acct)
			if err != nil {
				return nil, fmt.Errorf("missing results of %s: %w", id, err)
			}
			if !ok {
				missing = append(missing, acct)
			}
		}
		return missing, nil
	}
	stored, err := s.sortKeys(ctx, runPK(id), "RES#")
	if err != nil {
		return nil, fmt.Errorf("missing results of %s: results: %w", id, err)
	}
	return store.MissingFrom(unmarked, func(a ident.AccountID) bool { return stored[string(a)] }), nil
}

// sortKeys returns the sort keys under pk that begin with prefix, without
// the prefix, reading the keys only (one consistent Query, all pages).
func (s *Store) sortKeys(ctx context.Context, pk, prefix string) (map[string]bool, error) {
	out := map[string]bool{}
	var next map[string]types.AttributeValue
	for {
		in := &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
			ProjectionExpression:      aws.String("#sk"),
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         next,
		}
		if prefix != "" {
			in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :pre)")
			in.ExpressionAttributeValues[":pre"] = str(prefix)
		}
		page, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			out[getS(it, AttrSK)[len(prefix):]] = true
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			return out, nil
		}
	}
}

// Results implements store.Store: the RES# items come back in sort key
// order, which is the accounts' code point order. One Query page (at most
// 1 MB, DynamoDB's cap) and one decoded result are in memory at a time;
// a chunked result is fetched when its turn comes.
func (s *Store) Results(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, id, "results", "RES#", "BLOB#")
}

// Held implements store.Store, as Results over the HELD# items.
func (s *Store) Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, id, "held results", "HELD#", "HBLOB#")
}

// bodies yields the result bodies under the run's items whose sort key
// begins with skPrefix, their chunks under blobPrefix<account>#, decoded.
func (s *Store) bodies(ctx context.Context, id ident.RunID, what, skPrefix, blobPrefix string) iter.Seq2[*events.AccountScanned, error] {
	return runItems(ctx, s, id, what, skPrefix, func(pk string, it map[string]types.AttributeValue) (*events.AccountScanned, error) {
		return s.decodeResult(ctx, pk, it, skPrefix, blobPrefix)
	})
}

// runItems yields read(item) for each of the run's items whose sort key
// begins with skPrefix, in sort key order, a page at a time; what names
// them in errors.
func runItems[T any](ctx context.Context, s *Store, id ident.RunID, what, skPrefix string, read func(pk string, it map[string]types.AttributeValue) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		pk := runPK(id)
		var next map[string]types.AttributeValue
		for {
			page, err := s.api.Query(ctx, &dynamodb.QueryInput{
				TableName:                 &s.cfg.Table,
				KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :pre)"),
				ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":pre": str(skPrefix)},
				ConsistentRead:            aws.Bool(true),
				ExclusiveStartKey:         next,
			})
			if err != nil {
				yield(zero, fmt.Errorf("%s of %s: %w", what, id, err))
				return
			}
			for i, it := range page.Items {
				page.Items[i] = nil // let each body go once read
				v, err := read(pk, it)
				if err != nil {
					yield(zero, fmt.Errorf("%s of %s: %s: %w", what, id, getS(it, AttrSK), err))
					return
				}
				if !yield(v, nil) {
					return
				}
			}
			if next = page.LastEvaluatedKey; len(next) == 0 {
				return
			}
		}
	}
}

// storedBody is an item's stored (gzip JSON) body, its chunks
// (blobPrefix<account>#) reassembled when it has them.
func (s *Store) storedBody(ctx context.Context, pk string, it map[string]types.AttributeValue, skPrefix, blobPrefix string) ([]byte, error) {
	body := getB(it, "body")
	if wid := getS(it, "body_ref"); wid != "" {
		n, _ := getN(it, "body_chunks")
		acct := getS(it, AttrSK)[len(skPrefix):]
		return s.getChunks(ctx, pk, blobPrefix+acct+"#", wid, int(n))
	}
	return body, nil
}

func (s *Store) decodeResult(ctx context.Context, pk string, it map[string]types.AttributeValue, skPrefix, blobPrefix string) (*events.AccountScanned, error) {
	body, err := s.storedBody(ctx, pk, it, skPrefix, blobPrefix)
	if err != nil {
		return nil, err
	}
	res := new(events.AccountScanned)
	if err := gunzipJSON(body, res); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return res, nil
}
