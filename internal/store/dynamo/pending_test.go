package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// pendingEntries lists the sort keys of the deadline index.
func pendingEntries(t *testing.T, c *dynamodb.Client, table string) []string {
	t.Helper()
	out, err := c.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": dynamo.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "PENDING"}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var sks []string
	for _, it := range out.Items {
		sks = append(sks, it[dynamo.AttrSK].(*types.AttributeValueMemberS).Value)
	}
	return sks
}

func pendingIDs(t *testing.T, s *dynamo.Store) []ident.RunID {
	t.Helper()
	p, err := s.Pending(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ident.RunID
	for _, st := range p {
		ids = append(ids, st.RunID)
	}
	return ids
}

// TestPendingIndexRepairs: an emitted run's entry goes; a stale entry (a
// crash between the emission and its deletion) is deleted by Pending; a
// run without an entry (recorded before the index existed) is still
// listed, from the queue-index GSI.
func TestPendingIndexRepairs(t *testing.T) {
	c := client(t)
	table := newTable(t, c)
	s := newStore(t, c, table, dynamo.Config{})
	ctx := t.Context()
	for _, id := range []ident.RunID{"live", "done", "legacy"} {
		if _, err := s.RecordRun(ctx, storetest.NewRun(id, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(pendingEntries(t, c, table)); n != 3 {
		t.Fatalf("%d deadline index entries, want 3", n)
	}
	if _, err := s.Claim(ctx, "done", "o", storetest.T0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, "done", "o", "r.xlsx", "", storetest.T0); err != nil {
		t.Fatal(err)
	}
	sk := func(id string) string {
		return fmt.Sprintf("%020d#%s", storetest.T0.Add(45*time.Minute).UnixNano(), id)
	}
	if got := pendingEntries(t, c, table); slices.Contains(got, sk("done")) {
		t.Fatalf("the emitted run's entry is still there: %v", got)
	}
	// A stale entry for the emitted run, and the legacy run's entry gone.
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		dynamo.AttrPK: &types.AttributeValueMemberS{Value: "PENDING"}, dynamo.AttrSK: &types.AttributeValueMemberS{Value: sk("done")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		dynamo.AttrPK: &types.AttributeValueMemberS{Value: "PENDING"}, dynamo.AttrSK: &types.AttributeValueMemberS{Value: sk("legacy")}}}); err != nil {
		t.Fatal(err)
	}
	if got := pendingIDs(t, s); !slices.Equal(got, []ident.RunID{"live", "legacy"}) {
		t.Fatalf("Pending = %v, want [live legacy]", got)
	}
	if got := pendingEntries(t, c, table); !slices.Equal(got, []string{sk("live")}) {
		t.Fatalf("deadline index after Pending = %v, want the live run's entry only", got)
	}
}

// adhocCrashAPI fails the first put of an ad-hoc slot once armed, as if
// the process died between the run item and the slot decision.
type adhocCrashAPI struct {
	dynamo.API
	armed atomic.Bool
}

func (c *adhocCrashAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[dynamo.AttrPK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "ADHOC#") && c.armed.CompareAndSwap(true, false) {
		return nil, errCrash
	}
	return c.API.PutItem(ctx, in, opts...)
}

// TestAdhocDecisionFinishedByRedelivery: a crash after the run item and
// before the slot decision is finished by the RunStarted's redelivery.
func TestAdhocDecisionFinishedByRedelivery(t *testing.T) {
	c := client(t)
	api := &adhocCrashAPI{API: c}
	s := newStore(t, api, newTable(t, c), dynamo.Config{})
	ctx := t.Context()
	x := storetest.Account(42)
	if _, err := s.RecordRun(ctx, storetest.NewAdhocRun("a1", x, storetest.T0)); err != nil {
		t.Fatal(err)
	}
	api.armed.Store(true)
	second := storetest.NewAdhocRun("a2", x, storetest.T0.Add(time.Minute))
	if _, err := s.RecordRun(ctx, second); !errors.Is(err, errCrash) {
		t.Fatalf("RecordRun(a2) err = %v, want the simulated crash", err)
	}
	if st, err := s.Run(ctx, "a2"); err != nil || st.JoinedTo != "" {
		t.Fatalf("a2 before the redelivery: JoinedTo %q, %v", st.JoinedTo, err)
	}
	if created, err := s.RecordRun(ctx, second); err != nil || created {
		t.Fatalf("redelivery: created %v, err %v; want false, nil", created, err)
	}
	if st, err := s.Run(ctx, "a2"); err != nil || st.JoinedTo != "a1" {
		t.Fatalf("a2 after the redelivery: JoinedTo %q, %v; want a1", st.JoinedTo, err)
	}
	if got := pendingIDs(t, s); !slices.Equal(got, []ident.RunID{"a1"}) {
		t.Fatalf("Pending = %v, want [a1]", got)
	}
	// Made once: a later redelivery, after a1 has its result, changes nothing.
	if _, err := s.RecordResult(ctx, storetest.NewResult("a1", x, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRun(ctx, second); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Run(ctx, "a2"); st.JoinedTo != "a1" {
		t.Fatalf("a2 JoinedTo = %q after a late redelivery, want a1", st.JoinedTo)
	}
}
