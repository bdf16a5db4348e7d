package dynamo_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
)

// TestHeldBodiesOfOlderItems: a HELD# item written before HoldResult kept
// its status and regions beside the body (or with them damaged) is still
// promoted right: HeldBodies reads them from the body.
func TestHeldBodiesOfOlderItems(t *testing.T) {
	tests := []struct {
		name   string
		update string // what happens to the item after HoldResult
		values map[string]types.AttributeValue
	}{
		{"as written", "", nil},
		{"without regions and status", "REMOVE #r, #s", nil},
		{"without status", "REMOVE #s", nil},
		{"regions not a list", "SET #r = :v", map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "us-east-1"}}},
	}
	c := client(t)
	table := newTable(t, c)
	s := newStore(t, c, table, dynamo.Config{})
	ctx := t.Context()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := ident.RunID("run-older-held-" + string(rune('a'+i)))
			res := storetest.Covering(storetest.NewResult(id, storetest.Account(1), 3), "us-east-1", "eu-west-1")
			res.Status = events.StatusPartial
			if ok, err := s.HoldResult(ctx, res); err != nil || !ok {
				t.Fatalf("HoldResult = %v, %v", ok, err)
			}
			if tc.update != "" {
				in := &dynamodb.UpdateItemInput{
					TableName: aws.String(table),
					Key: map[string]types.AttributeValue{
						dynamo.AttrPK: &types.AttributeValueMemberS{Value: "RUN#" + string(id)},
						dynamo.AttrSK: &types.AttributeValueMemberS{Value: "HELD#" + string(res.AccountID)},
					},
					UpdateExpression:          aws.String(tc.update),
					ExpressionAttributeValues: tc.values,
				}
				in.ExpressionAttributeNames = map[string]string{}
				for _, n := range []string{"#r", "#s"} {
					if strings.Contains(tc.update, n) {
						in.ExpressionAttributeNames[n] = map[string]string{"#r": "regions", "#s": "status"}[n]
					}
				}
				if _, err := c.UpdateItem(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			for h, err := range s.HeldBodies(ctx, id) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				if h.Status != events.StatusPartial || !slices.Equal(h.Regions, []ident.Region{"eu-west-1", "us-east-1"}) {
					t.Fatalf("HeldBodies yields %s %v, want partial [eu-west-1 us-east-1]", h.Status, h.Regions)
				}
			}
			if n != 1 {
				t.Fatalf("HeldBodies yields %d, want 1", n)
			}
		})
	}
}
