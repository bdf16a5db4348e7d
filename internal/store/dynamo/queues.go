package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

func (s *Store) deletePending(ctx context.Context, deadline time.Time, id ident.RunID) {
	sk := pendingSK(deadline, id)
	if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(pendingPK, sk)}); err != nil {
		s.log.Warn("dedupe store: could not delete a deadline index entry (Pending or TTL will)", slog.String("sk", sk), slog.Any("error", err))
	}
}

// list reads the run ids under one GSI key, then each run consistently,
// keeping those keep accepts (the GSI may lag the table), skipping those
// in skip, and stopping at limit runs (0: no limit).
func (s *Store) list(ctx context.Context, queue string, limit int, skip map[ident.RunID]bool, keep func(store.RunState) bool) ([]store.RunState, error) {
	var (
		out  []store.RunState
		next map[string]types.AttributeValue
	)
	for {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			IndexName:                 aws.String(QueueIndex),
			KeyConditionExpression:    aws.String("#q = :q"),
			ExpressionAttributeNames:  map[string]string{"#q": AttrQueue},
			ExpressionAttributeValues: map[string]types.AttributeValue{":q": str(queue)},
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return nil, fmt.Errorf("%s runs: %w", queue, err)
		}
		for _, it := range page.Items {
			pk := getS(it, AttrPK)
			if len(pk) <= len("RUN#") || skip[ident.RunID(pk[len("RUN#"):])] {
				continue
			}
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
			st, err := s.Run(ctx, ident.RunID(pk[len("RUN#"):]))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s runs: %w", queue, err)
			}
			if keep(st) {
				out = append(out, st)
			}
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			return out, nil
		}
	}
}

// Pending implements store.Store: pages of the deadline index (earliest
// first) until limit runs are kept, each run read consistently and
// re-checked; an entry whose run is emitted, joined, gone or recorded with
// another deadline is deleted. Runs recorded before the index existed are
// only on the queue-index GSI: when the index gives fewer than limit runs
// (so no flood fills it), the GSI's other runs follow, up to limit.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.RunState, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("pending runs: %w: limit %d is not positive", store.ErrInvalid, limit)
	}
	var (
		out  []store.RunState
		seen = map[ident.RunID]bool{}
		next map[string]types.AttributeValue
	)
	for len(out) < limit {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pendingPK)},
			ProjectionExpression:      aws.String("#sk"),
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(min(limit-len(out), 1000))),
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return nil, fmt.Errorf("pending runs: %w", err)
		}
		for _, it := range page.Items {
			sk := getS(it, AttrSK)
			ns, id, ok := strings.Cut(sk, "#")
			if !ok {
				continue
			}
			st, err := s.Run(ctx, ident.RunID(id))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("pending runs: %w", err)
			}
			live := err == nil && st.Started != nil && !st.Emitted && st.JoinedTo == "" &&
				fmt.Sprintf("%020d", max(st.Started.Deadline.UnixNano(), 0)) == ns
			if !live {
				if err == nil && (st.Emitted || st.JoinedTo != "" || st.Started != nil) {
					s.deletePending(ctx, time.Unix(0, mustAtoi(ns)), ident.RunID(id))
				}
				continue
			}
			if !seen[st.RunID] {
				seen[st.RunID] = true
				out = append(out, st)
			}
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			break
		}
	}
	if len(out) >= limit {
		return out, nil
	}
	legacy, err := s.list(ctx, queuePending, limit-len(out), seen, func(st store.RunState) bool {
		return st.Started != nil && !st.Emitted && st.JoinedTo == ""
	})
	if err != nil {
		return nil, err
	}
	return append(out, legacy...), nil
}

func mustAtoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Unticketed implements store.Store.
func (s *Store) Unticketed(ctx context.Context) ([]store.RunState, error) {
	return s.list(ctx, queueUnticketed, 0, nil, func(st store.RunState) bool { return st.Emitted && st.TicketKey == "" })
}
