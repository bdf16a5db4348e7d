package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// adhocDecide makes the recorded ad-hoc run (item) its account's open
// ad-hoc run, or joins it to the open one (store.AdhocOpen), once: the
// outcome is kept in the run item's adhoc_state (owner, joined or own).
// Without transactions, each step is a conditional write on one item, and
// a crash between steps is finished by the redelivery (RecordRun calls
// this again when its write loses).
func (s *Store) adhocDecide(ctx context.Context, id ident.RunID, item map[string]types.AttributeValue) error {
	acct := ident.AccountID(getS(item, "adhoc_account"))
	if acct == "" || getS(item, "adhoc_state") != "" {
		return nil
	}
	startedAt := getTime(item, "started_at")
	for range 3 {
		slot := key(adhocPK(acct), adhocSK)
		slot["run_id"], slot[AttrExpires] = str(string(id)), s.expires()
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: slot,
			ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #rid = :self"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#rid": "run_id"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":self": str(string(id))}})
		if err == nil {
			return s.setAdhocState(ctx, id, "owner")
		}
		if !isConditionFailed(err) {
			return fmt.Errorf("ad-hoc slot of %s: %w", acct, err)
		}
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.cfg.Table, Key: key(adhocPK(acct), adhocSK), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("ad-hoc slot of %s: %w", acct, err)
		}
		open := ident.RunID(getS(out.Item, "run_id"))
		if open == "" {
			continue // deleted meanwhile (TTL): try again
		}
		openItem, err := s.getRunItem(ctx, open)
		if err != nil {
			return fmt.Errorf("ad-hoc slot of %s: read %s: %w", acct, open, err)
		}
		hasResult, err := s.HasResult(ctx, open, acct)
		if err != nil {
			return fmt.Errorf("ad-hoc slot of %s: %w", acct, err)
		}
		if !store.AdhocOpen(openItem != nil && getS(openItem, "started_ref") != "", getBool(openItem, "emitted"),
			getTime(openItem, "deadline"), startedAt, hasResult) {
			// Take the slot over from the run that is done, unless
			// someone else did in between (then look again).
			_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: slot,
				ConditionExpression:       aws.String("#rid = :open"),
				ExpressionAttributeNames:  map[string]string{"#rid": "run_id"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":open": str(string(open))}})
			if err == nil {
				return s.setAdhocState(ctx, id, "owner")
			}
			if !isConditionFailed(err) {
				return fmt.Errorf("ad-hoc slot of %s: %w", acct, err)
			}
			continue
		}
		// Join, unless the run has moved on meanwhile (claimed, or a result
		// recorded under its own id): then it stays a run of its own.
		_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.cfg.Table, Key: key(runPK(id), runSK),
			UpdateExpression:         aws.String("SET #j = :open, #st = :joined REMOVE #q"),
			ConditionExpression:      aws.String("attribute_not_exists(#owner) AND (attribute_not_exists(#n) OR #n = :zero)"),
			ExpressionAttributeNames: map[string]string{"#j": "joined_to", "#st": "adhoc_state", "#q": AttrQueue, "#owner": "claim_owner", "#n": "results"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":open": str(string(open)), ":joined": str("joined"),
				":zero": num(0)},
		})
		switch {
		case err == nil:
			s.deletePending(ctx, getTime(item, "deadline"), id)
			return nil
		case isConditionFailed(err):
			return s.setAdhocState(ctx, id, "own")
		default:
			return fmt.Errorf("join %s to %s: %w", id, open, err)
		}
	}
	return fmt.Errorf("ad-hoc slot of %s: contended, retry", acct)
}

func (s *Store) setAdhocState(ctx context.Context, id ident.RunID, state string) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(id), runSK),
		UpdateExpression:          aws.String("SET #st = :st"),
		ExpressionAttributeNames:  map[string]string{"#st": "adhoc_state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(state)},
	})
	if err != nil {
		return fmt.Errorf("mark %s ad-hoc %s: %w", id, state, err)
	}
	return nil
}
