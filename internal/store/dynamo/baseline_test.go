package dynamo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// latestCrashAPI fails the first put of the LATEST pointer (not of an
// offer entry), as if the process died between the emitted mark and the
// offer.
type latestCrashAPI struct {
	dynamo.API
	crashed atomic.Bool
}

func (c *latestCrashAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[dynamo.AttrPK].(*types.AttributeValueMemberS); ok && pk.Value == "LATEST" && in.Item[dynamo.AttrSK].(*types.AttributeValueMemberS).Value == "SCHEDULED" && c.crashed.CompareAndSwap(false, true) {
		return nil, errCrash
	}
	return c.API.PutItem(ctx, in, opts...)
}

// TestLatestRepairedAfterLostOffer: a mark whose offer to the pointer was
// lost leaves the run emitted; the next LatestScheduled (which every first
// claim reads) finishes the offer from the entry written before the mark,
// and the entry is gone afterwards.
func TestLatestRepairedAfterLostOffer(t *testing.T) {
	c := client(t)
	api := &latestCrashAPI{API: c}
	table := newTable(t, c)
	s := newStore(t, api, table, dynamo.Config{})
	ctx := t.Context()
	now := storetest.T0
	for _, id := range []string{"week-1", "week-2"} {
		if _, err := s.RecordRun(ctx, storetest.NewRun(ident.RunID(id), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, "week-1", "a", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, "week-1", "a", "r.xlsx", "f.jsonl.gz", now); !errors.Is(err, errCrash) {
		t.Fatalf("MarkEmitted = %v, want the simulated crash", err)
	}
	if st, err := s.Run(ctx, "week-1"); err != nil || !st.Emitted || st.FindingsKey != "f.jsonl.gz" {
		t.Fatalf("after the crash: Emitted %v, FindingsKey %q, %v; want the mark kept", st.Emitted, st.FindingsKey, err)
	}
	want := &store.BaselineRef{RunID: "week-1", GeneratedAt: now, FindingsKey: "f.jsonl.gz"}
	cl, err := s.Claim(ctx, "week-2", "a", now.Add(time.Hour), time.Minute)
	if err != nil || !cl.Baseline.Equal(want) {
		t.Fatalf("next run's first claim: Baseline %+v, %v; want %+v", cl.Baseline, err, want)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{dynamo.AttrPK: &types.AttributeValueMemberS{Value: "LATEST"}, dynamo.AttrSK: &types.AttributeValueMemberS{Value: "OFFER#week-1"}}})
	if err != nil || out.Item != nil {
		t.Fatalf("offer entry after the repair: %v, %v; want gone", out.Item, err)
	}
}
