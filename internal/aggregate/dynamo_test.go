package aggregate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// dynamoStores returns n stores over one fresh table of the DynamoDB
// emulator, each with its own client, as n aggregator pods would have.
func dynamoStores(t testing.TB, n int) []*dynamo.Store {
	t.Helper()
	wraps := make([]func(dynamo.API) dynamo.API, n)
	for i := range wraps {
		wraps[i] = func(api dynamo.API) dynamo.API { return api }
	}
	return dynamoStoresWith(t, wraps...)
}

// dynamoStoresWith is dynamoStores with each store's client wrapped (a
// fault injected between two of its writes).
func dynamoStoresWith(t testing.TB, wraps ...func(dynamo.API) dynamo.API) []*dynamo.Store {
	t.Helper()
	ep := harness.Endpoint(t, "DYNAMODB_ENDPOINT")
	newClient := func() *dynamodb.Client {
		return dynamodb.New(dynamodb.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(ep),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDAGG", "aggsecret", ""),
		})
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	table := "aggregate-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := newClient()
	if err := dynamo.CreateTable(ctx, admin, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Logf("delete table %s: %v", table, err)
		}
	})
	var out []*dynamo.Store
	for _, wrap := range wraps {
		s, err := dynamo.New(dynamo.Config{Table: table}, wrap(newClient()), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out = append(out, s)
	}
	return out
}

// The production store: two replicas racing over one DynamoDB table.
func TestTwoReplicasRaceDynamo(t *testing.T) {
	for round := range 2 {
		t.Run(string(rune('0'+round)), func(t *testing.T) {
			s := dynamoStores(t, 2)
			raceReplicas(t, s[0], s[1])
		})
	}
}

func TestTakeoverAfterCrashDynamo(t *testing.T) {
	takeoverAfterCrash(t, dynamoStores(t, 1)[0])
}

// dynamoRunCounting counts Run reads; embedding the DynamoDB store keeps its
// RecordResultCounted (store.ResultCounter).
type dynamoRunCounting struct {
	*dynamo.Store
	runs atomic.Int64
}

func (s *dynamoRunCounting) Run(ctx context.Context, id ident.RunID) (store.RunState, error) {
	s.runs.Add(1)
	return s.Store.Run(ctx, id)
}

// TestResultsWithoutRunReadsDynamo is TestResultsWithoutRunReads on the
// production store: each replica reads the run once (its RunStarted), not
// once per result, and the one recording the last result finds the run
// complete.
func TestResultsWithoutRunReadsDynamo(t *testing.T) {
	ds := dynamoStores(t, 2)
	sa, sb := &dynamoRunCounting{Store: ds[0]}, &dynamoRunCounting{Store: ds[1]}
	res := results()
	e := newEnv(t)
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Store = sa })
	b := e.aggregator("replica-b", func(_ *Config, d *Deps) { d.Store = sb })
	handleAll(t, a, []*message.Message{mustMsg(t, runStarted()), mustMsg(t, res[0]), mustMsg(t, res[1])})
	if kicked(a) {
		t.Fatal("kicked with a result missing")
	}
	handleAll(t, b, []*message.Message{mustMsg(t, res[2])})
	if !kicked(b) {
		t.Fatal("the replica handling the last result did not find the run complete")
	}
	if got := sa.runs.Load(); got != 1 {
		t.Errorf("replica a read the run %d times, want 1", got)
	}
	if got := sb.runs.Load(); got != 1 {
		t.Errorf("replica b read the run %d times, want 1", got)
	}
}

// TestTicketLeaseOneFilingDynamo: the ticket race on the production store,
// each replica with its own client.
func TestTicketLeaseOneFilingDynamo(t *testing.T) {
	ds := dynamoStores(t, 3)
	e := newEnv(t)
	e.store = ds[0]
	ticketRace(t, e, [3]store.Store{ds[0], ds[1], ds[2]})
}

// markerLost fails the first put of a result's count marker (CNT#): the
// write a replica dies before, right after the result itself.
type markerLost struct {
	dynamo.API
	failed atomic.Bool
}

func (m *markerLost) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[dynamo.AttrPK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "CNT#") && m.failed.CompareAndSwap(false, true) {
		return nil, errors.New("injected: the replica died after the result, before its marker")
	}
	return m.API.PutItem(ctx, in, optFns...)
}

// TestHeldResultCountedAfterCrashDynamo: a replica promotes a held result
// and dies after writing it, before its count marker. The held result is
// the only trace left (its message was acknowledged when it was held), so
// the next replica's promotion must record it again, which writes the
// marker, and not skip it as recorded: otherwise the run stays one result
// short until its deadline (chaos scenario 2 hung so).
func TestHeldResultCountedAfterCrashDynamo(t *testing.T) {
	lost := &markerLost{}
	s := dynamoStoresWith(t, func(api dynamo.API) dynamo.API { lost.API = api; return lost }, func(api dynamo.API) dynamo.API { return api })
	e := newEnv(t)
	a := e.aggregator("replica-a", func(_ *Config, d *Deps) { d.Store = s[0] })
	msgs := allMessages(t)
	// The first result arrives before its RunStarted: held. Then the
	// RunStarted: its promotion writes the result and "dies" before the
	// marker.
	handleAll(t, a, msgs[1:2])
	if err := a.Handle(msgs[0]); err == nil {
		t.Fatal("the injected failure did not reach the promotion")
	}
	if !lost.failed.Load() {
		t.Fatal("no marker put was failed")
	}
	e.store = s[1]
	b := e.aggregator("replica-b", func(_ *Config, d *Deps) { d.Store = s[1] })
	handleAll(t, b, msgs[2:]) // the other results, to a live replica
	b.Check(context.Background())
	if ups := e.blob.uploads(); len(ups) != 1 {
		st, _ := s[1].Run(context.Background(), runID)
		t.Fatalf("%d uploads, want the run emitted (results counted %d of %d)", len(ups), st.Results, len(runStarted().Accounts))
	}
}
