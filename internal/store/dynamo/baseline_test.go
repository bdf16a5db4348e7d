package dynamo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// latestCrashAPI fails the first put of the LATEST pointer, as if the
// process died between the emitted mark and the offer.
type latestCrashAPI struct {
	dynamo.API
	crashed atomic.Bool
}

func (c *latestCrashAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[dynamo.AttrPK].(*types.AttributeValueMemberS); ok && pk.Value == "LATEST" && c.crashed.CompareAndSwap(false, true) {
		return nil, errCrash
	}
	return c.API.PutItem(ctx, in, opts...)
}

// TestLatestRepairedByRepeatedMark: a mark whose offer to the pointer was
// lost leaves the run emitted and the pointer where it was; the same mark
// repeated (its idempotent path) offers again.
func TestLatestRepairedByRepeatedMark(t *testing.T) {
	c := client(t)
	s := newStore(t, &latestCrashAPI{API: c}, newTable(t, c), dynamo.Config{})
	ctx := t.Context()
	now := storetest.T0
	if _, err := s.RecordRun(ctx, storetest.NewRun("week-1", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "week-1", "a", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, "week-1", "a", "r.xlsx", "f.jsonl.gz", now); !errors.Is(err, errCrash) {
		t.Fatalf("first MarkEmitted = %v, want the simulated crash", err)
	}
	if st, err := s.Run(ctx, "week-1"); err != nil || !st.Emitted || st.FindingsKey != "f.jsonl.gz" {
		t.Fatalf("after the crash: Emitted %v, FindingsKey %q, %v; want the mark kept", st.Emitted, st.FindingsKey, err)
	}
	if ref, err := s.LatestScheduled(ctx); err != nil || ref != nil {
		t.Fatalf("LatestScheduled after the crash = %v, %v; want none", ref, err)
	}
	if err := s.MarkEmitted(ctx, "week-1", "a", "r.xlsx", "f.jsonl.gz", now.Add(time.Second)); err != nil {
		t.Fatalf("repeated MarkEmitted: %v", err)
	}
	want := &store.BaselineRef{RunID: "week-1", GeneratedAt: now, FindingsKey: "f.jsonl.gz"}
	if ref, err := s.LatestScheduled(ctx); err != nil || !ref.Equal(want) {
		t.Fatalf("LatestScheduled after the repeated mark = %+v, %v; want %+v", ref, err, want)
	}
}
