package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// The latest emitted scheduled run is one item (latestPK, latestSK), moved
// forward only by a conditional put (offerLatest). It carries no
// expires_at: it names the next run's baseline however long ago that run
// was, while the runs' items expire. Beside it, in the same partition, an
// offer entry (offerPrefix<run id>) lives from just before a mark with a
// findings key until that run was offered to the pointer.
const (
	latestPK    = "LATEST"
	latestSK    = "SCHEDULED"
	offerPrefix = "OFFER#"
)

// attrBaseline is the run item's fixed baseline: JSON of baselineJSON, or
// "null" for none; absent until the first claim (or PinBaseline) fixes it.
// One attribute, so that if_not_exists fixes it whole, once.
const attrBaseline = "baseline"

type baselineJSON struct {
	RunID       string `json:"run_id"`
	GeneratedAt int64  `json:"generated_at"` // unix ns
	FindingsKey string `json:"findings_key"`
}

func encodeBaseline(ref *store.BaselineRef) types.AttributeValue {
	if ref == nil {
		return str("null")
	}
	b, _ := json.Marshal(baselineJSON{RunID: string(ref.RunID), GeneratedAt: ref.GeneratedAt.UnixNano(), FindingsKey: ref.FindingsKey}) // cannot fail
	return str(string(b))
}

// decodeBaseline reads the run item's baseline: fixed is false when the
// attribute is absent.
func decodeBaseline(item map[string]types.AttributeValue) (ref *store.BaselineRef, fixed bool, err error) {
	v, ok := item[attrBaseline].(*types.AttributeValueMemberS)
	if !ok {
		return nil, false, nil
	}
	var b *baselineJSON
	if err := json.Unmarshal([]byte(v.Value), &b); err != nil {
		return nil, true, fmt.Errorf("decode baseline %q: %w", v.Value, err)
	}
	if b == nil {
		return nil, true, nil
	}
	return &store.BaselineRef{RunID: ident.RunID(b.RunID), GeneratedAt: time.Unix(0, b.GeneratedAt).UTC(), FindingsKey: b.FindingsKey}, true, nil
}

// LatestScheduled implements store.Store: one consistent Query of the
// LATEST partition, the pointer and any offer entries (usually none). An
// entry whose run is emitted is an offer a crash interrupted: it is made
// now, and the pointer read again. An entry whose run is not emitted yet
// is a mark in flight, or one whose lease was lost (the run's next owner
// marks it); it is left, and expires with the runs.
func (s *Store) LatestScheduled(ctx context.Context) (*store.BaselineRef, error) {
	var (
		pointer  map[string]types.AttributeValue
		repaired bool
		next     map[string]types.AttributeValue
	)
	for {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(latestPK)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return nil, fmt.Errorf("latest scheduled run: %w", err)
		}
		for _, it := range page.Items {
			sk := getS(it, AttrSK)
			if sk == latestSK {
				pointer = it
				continue
			}
			id, ok := strings.CutPrefix(sk, offerPrefix)
			if !ok {
				continue
			}
			run, err := s.getRunItem(ctx, ident.RunID(id))
			switch {
			case err != nil:
				return nil, fmt.Errorf("latest scheduled run: offer of %s: %w", id, err)
			case run == nil:
				s.deleteOffer(ctx, ident.RunID(id)) // the run expired
			case getBool(run, "emitted"):
				s.log.Info("dedupe store: finishing the offer of an emitted run to the latest scheduled run (a writer died between its mark and its offer)",
					slog.String("run_id", id))
				if err := s.offerEmitted(ctx, ident.RunID(id), run); err != nil {
					return nil, fmt.Errorf("latest scheduled run: %w", err)
				}
				repaired = true
			}
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			break
		}
	}
	if repaired {
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.cfg.Table, Key: key(latestPK, latestSK), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("latest scheduled run: %w", err)
		}
		pointer = out.Item
	}
	id := getS(pointer, "run_id")
	if id == "" {
		return nil, nil
	}
	return &store.BaselineRef{RunID: ident.RunID(id), GeneratedAt: getTime(pointer, "generated_at"), FindingsKey: getS(pointer, "findings_key")}, nil
}

// putOffer writes the run's offer entry, before its mark.
func (s *Store) putOffer(ctx context.Context, id ident.RunID) error {
	item := key(latestPK, offerPrefix+string(id))
	item[AttrExpires] = s.expires()
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item}); err != nil {
		return fmt.Errorf("offer entry: %w", err)
	}
	return nil
}

// deleteOffer deletes the run's offer entry; a failure only costs the
// next LatestScheduled a read of the run (or TTL removes it).
func (s *Store) deleteOffer(ctx context.Context, id ident.RunID) {
	sk := offerPrefix + string(id)
	if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(latestPK, sk)}); err != nil {
		s.log.Warn("dedupe store: could not delete an offer entry (LatestScheduled or TTL will)", slog.String("sk", sk), slog.Any("error", err))
	}
}

// offerEmitted offers the emitted run (its run item) to the pointer when
// it is a scheduled run with a findings file, then deletes its offer
// entry, if any (one DeleteItem per emission, even when there is none).
func (s *Store) offerEmitted(ctx context.Context, id ident.RunID, item map[string]types.AttributeValue) error {
	if fk := getS(item, "findings_key"); fk != "" {
		st, err := s.decodeState(ctx, id, item)
		if err != nil {
			return err
		}
		if st.Started != nil && st.Started.Trigger == events.TriggerScheduled {
			ref := store.BaselineRef{RunID: id, GeneratedAt: st.GeneratedAt, FindingsKey: fk}
			if err := s.offerLatest(ctx, ref, st.Started.StartedAt); err != nil {
				return err
			}
		}
	}
	s.deleteOffer(ctx, id)
	return nil
}

// offerLatest makes ref (started at startedAt) the latest emitted
// scheduled run with one conditional put: it lands only when the pointer
// is absent or names an earlier run (by started_at, ties by the smaller
// run id) or this one, so two replicas marking two runs at once end with
// the later whatever the order of their writes.
func (s *Store) offerLatest(ctx context.Context, ref store.BaselineRef, startedAt time.Time) error {
	item := key(latestPK, latestSK)
	item["run_id"], item["started_at"] = str(string(ref.RunID)), num(startedAt.UnixNano())
	item["generated_at"], item["findings_key"] = num(ref.GeneratedAt.UnixNano()), str(ref.FindingsKey)
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #sat < :sat OR (#sat = :sat AND #rid <= :rid)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sat": "started_at", "#rid": "run_id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":sat": num(startedAt.UnixNano()), ":rid": str(string(ref.RunID))}})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("latest scheduled run: %w", err)
	}
	return nil // or a later run is the latest already
}

// PinBaseline implements store.Store with one conditional update: the
// baseline attribute is written only while absent, as Claim's
// if_not_exists writes it, so a pin and a first claim cannot both fix it.
func (s *Store) PinBaseline(ctx context.Context, id ident.RunID, ref *store.BaselineRef) error {
	if err := store.CheckPin(id, ref); err != nil {
		return err
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.cfg.Table,
		Key:                       key(runPK(id), runSK),
		UpdateExpression:          aws.String("SET #base = :base"),
		ConditionExpression:       aws.String("attribute_exists(#ref) AND attribute_not_exists(#base)"),
		ExpressionAttributeNames:  map[string]string{"#base": attrBaseline, "#ref": "started_ref"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":base": encodeBaseline(ref)},
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	}
	item, err := s.getRunItem(ctx, id)
	if err != nil {
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	}
	if item == nil || getS(item, "started_ref") == "" {
		return fmt.Errorf("pin baseline of %s: %w", id, store.ErrNotFound)
	}
	cur, _, err := decodeBaseline(item)
	if err != nil {
		return fmt.Errorf("pin baseline of %s: %w", id, err)
	}
	if !cur.Equal(ref) {
		return fmt.Errorf("pin baseline of %s: fixed to %s: %w", id, cur, store.ErrBaselineFixed)
	}
	return nil
}
