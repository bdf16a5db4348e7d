package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// Claim implements store.Store with one conditional update: the condition
// is the whole lease rule, so concurrent claimers cannot both win. The
// baseline is fixed in the same update (if_not_exists, like generated_at):
// the latest scheduled run is read just before it, so the first claim
// fixes the latest of that moment and every later claim, a takeover's too,
// keeps what the first one wrote.
func (s *Store) Claim(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (store.Claim, error) {
	if err := store.CheckClaim(id, owner, ttl); err != nil {
		return store.Claim{}, err
	}
	latest, err := s.LatestScheduled(ctx)
	if err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	if latest != nil && latest.RunID == id {
		latest = nil // cannot happen (an emitted run is never claimed); never compare a run with itself
	}
	until := now.Add(ttl).UTC()
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.cfg.Table,
		Key:              key(runPK(id), runSK),
		UpdateExpression: aws.String("SET #owner = :owner, #until = :until, #gen = if_not_exists(#gen, :now), #base = if_not_exists(#base, :base), #exp = :exp"),
		ConditionExpression: aws.String("attribute_exists(#ref) AND attribute_not_exists(#emitted) AND " +
			"(attribute_not_exists(#owner) OR #owner = :owner OR #until < :now)"),
		ExpressionAttributeNames: map[string]string{"#owner": "claim_owner", "#until": "claim_until", "#gen": "generated_at",
			"#base": attrBaseline, "#exp": AttrExpires, "#ref": "started_ref", "#emitted": "emitted"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": str(owner), ":until": num(until.UnixNano()),
			":now": num(now.UnixNano()), ":base": encodeBaseline(latest), ":exp": s.expires()},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err == nil {
		c := store.Claim{RunID: id, Owner: owner, Until: until, GeneratedAt: getTime(out.Attributes, "generated_at")}
		attrs := out.Attributes
		if _, ok := attrs[attrBaseline]; c.GeneratedAt.IsZero() || !ok {
			// UPDATED_NEW returns generated_at and baseline on DynamoDB and
			// dynalite even when if_not_exists kept them; read them should
			// an emulator not.
			if attrs, err = s.getRunItem(ctx, id); err != nil {
				return store.Claim{}, fmt.Errorf("claim %s: read generated_at: %w", id, err)
			}
			if c.GeneratedAt = getTime(attrs, "generated_at"); c.GeneratedAt.IsZero() {
				return store.Claim{}, fmt.Errorf("claim %s: claimed, but the run item has no generated_at", id)
			}
		}
		if c.Baseline, _, err = decodeBaseline(attrs); err != nil {
			return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
		}
		return c, nil
	}
	if !isConditionFailed(err) {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	// Why did the condition fail? Read the item to say so. The answer can
	// only move towards "claimed"/"emitted" in between, never back.
	item, err := s.getRunItem(ctx, id)
	if err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, err)
	}
	switch {
	case item == nil || getS(item, "started_ref") == "":
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, store.ErrNotFound)
	case getBool(item, "emitted"):
		return store.Claim{}, fmt.Errorf("claim %s: %w", id, store.ErrEmitted)
	default:
		return store.Claim{}, fmt.Errorf("claim %s: held by %s until %s: %w", id, getS(item, "claim_owner"),
			getTime(item, "claim_until").Format(time.RFC3339), store.ErrClaimed)
	}
}

// MarkEmitted implements store.Store: one conditional update of the run
// item, then the offer to the latest scheduled run's pointer
// (offerEmitted). Without transactions these are two writes, so an offer
// entry goes first when there is a findings key: a crash between the mark
// and the offer leaves it for LatestScheduled to finish.
func (s *Store) MarkEmitted(ctx context.Context, id ident.RunID, owner, reportKey, findingsKey string, now time.Time) error {
	if err := store.CheckEmit(id, owner, reportKey); err != nil {
		return err
	}
	upd := "SET #emitted = :true, #at = :at, #key = :key, #q = :unticketed, #exp = :exp"
	names := map[string]string{"#emitted": "emitted", "#at": "emitted_at", "#key": "report_key",
		"#q": AttrQueue, "#exp": AttrExpires, "#owner": "claim_owner"}
	vals := map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true},
		":at": num(now.UnixNano()), ":key": str(reportKey), ":unticketed": str(queueUnticketed),
		":exp": s.expires(), ":owner": str(owner)}
	if findingsKey != "" {
		upd += ", #fk = :fk"
		names["#fk"], vals[":fk"] = "findings_key", str(findingsKey)
		if err := s.putOffer(ctx, id); err != nil {
			return fmt.Errorf("mark %s emitted: %w", id, err)
		}
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.cfg.Table,
		Key:                       key(runPK(id), runSK),
		UpdateExpression:          aws.String(upd),
		ConditionExpression:       aws.String("#owner = :owner AND attribute_not_exists(#emitted)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err == nil {
		// A crash here leaves the entry to Pending, which deletes it.
		s.deletePending(ctx, getTime(out.Attributes, "deadline"), id)
		if err := s.offerEmitted(ctx, id, out.Attributes); err != nil {
			return fmt.Errorf("mark %s emitted: %w", id, err)
		}
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	item, err := s.runItem(ctx, id)
	if err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	switch {
	case getBool(item, "emitted") && getS(item, "claim_owner") == owner && getS(item, "report_key") == reportKey &&
		getS(item, "findings_key") == findingsKey:
		// Offered again (harmless): the first call may have failed after
		// the mark.
		if err := s.offerEmitted(ctx, id, item); err != nil {
			return fmt.Errorf("mark %s emitted: %w", id, err)
		}
		return nil
	case getBool(item, "emitted"):
		return fmt.Errorf("mark %s emitted: already at %s (findings %q) by %s: %w", id, getS(item, "report_key"),
			getS(item, "findings_key"), getS(item, "claim_owner"), store.ErrEmitted)
	default:
		return fmt.Errorf("mark %s emitted by %s: lease held by %q: %w", id, owner, getS(item, "claim_owner"), store.ErrLeaseLost)
	}
}

// SetTicket implements store.Store.
func (s *Store) SetTicket(ctx context.Context, id ident.RunID, ticketKey string) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.cfg.Table,
		Key:                       key(runPK(id), runSK),
		UpdateExpression:          aws.String("SET #t = :t REMOVE #q"),
		ConditionExpression:       aws.String("#emitted = :true"),
		ExpressionAttributeNames:  map[string]string{"#t": "ticket_key", "#q": AttrQueue, "#emitted": "emitted"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": str(ticketKey), ":true": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("set ticket of %s: %w", id, err)
	}
	if _, err := s.runItem(ctx, id); err != nil {
		return fmt.Errorf("set ticket of %s: %w", id, err)
	}
	return fmt.Errorf("set ticket of %s: %w", id, store.ErrNotEmitted)
}

// ClaimTicket implements store.Store with one conditional update of the run
// item, like Claim: the condition is the whole lease rule. The lease lives
// in two more attributes of the run item (ticket_owner, ticket_until), so
// the table's key schema and indexes are unchanged.
func (s *Store) ClaimTicket(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (time.Time, error) {
	if err := store.CheckClaim(id, owner, ttl); err != nil {
		return time.Time{}, err
	}
	until := now.Add(ttl).UTC()
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.cfg.Table,
		Key:              key(runPK(id), runSK),
		UpdateExpression: aws.String("SET #owner = :owner, #until = :until"),
		ConditionExpression: aws.String("#emitted = :true AND attribute_not_exists(#t) AND " +
			"(attribute_not_exists(#owner) OR #owner = :owner OR #until < :now)"),
		ExpressionAttributeNames: map[string]string{"#owner": "ticket_owner", "#until": "ticket_until",
			"#emitted": "emitted", "#t": "ticket_key"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": str(owner), ":until": num(until.UnixNano()),
			":now": num(now.UnixNano()), ":true": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err == nil {
		return until, nil
	}
	if !isConditionFailed(err) {
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	}
	// Why? The answer only moves towards "ticketed" in between.
	item, err := s.runItem(ctx, id)
	if err != nil {
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	}
	switch {
	case !getBool(item, "emitted"):
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, store.ErrNotEmitted)
	case getS(item, "ticket_key") != "":
		return time.Time{}, fmt.Errorf("claim ticket of %s: %s: %w", id, getS(item, "ticket_key"), store.ErrTicketed)
	default:
		return time.Time{}, fmt.Errorf("claim ticket of %s: held by %s until %s: %w", id, getS(item, "ticket_owner"),
			getTime(item, "ticket_until").Format(time.RFC3339), store.ErrClaimed)
	}
}
