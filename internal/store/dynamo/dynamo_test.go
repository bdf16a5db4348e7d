package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/store"
	"github.com/cybsecops/configreport/internal/store/dynamo"
	"github.com/cybsecops/configreport/internal/store/storetest"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

func client(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := harness.Endpoint(t, "DYNAMODB_ENDPOINT")
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSTORE", "storesecret", ""),
	})
}

// newTable creates a table of its own for one test.
func newTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dedupe-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTable(ctx, c, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Logf("delete table %s: %v", name, err)
		}
	})
	return name
}

func newStore(t testing.TB, api dynamo.API, table string, cfg dynamo.Config) *dynamo.Store {
	t.Helper()
	cfg.Table = table
	s, err := dynamo.New(cfg, api, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	c := client(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, c, newTable(t, c), dynamo.Config{})
	})
}

// TestConformanceChunked runs the suite again with tiny chunks, so every
// RunStarted and the large results go through the chunked path.
func TestConformanceChunked(t *testing.T) {
	c := client(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, c, newTable(t, c), dynamo.Config{ChunkSize: 8 * 1024})
	})
}

// crashingAPI fails the first count-marker put, as if the process died
// between the result's conditional put and the marker.
type crashingAPI struct {
	dynamo.API
	crashed atomic.Bool
}

var errCrash = errors.New("simulated crash")

func (c *crashingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[dynamo.AttrPK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "CNT#") && c.crashed.CompareAndSwap(false, true) {
		return nil, errCrash
	}
	return c.API.PutItem(ctx, in, opts...)
}

func TestCountHealsAfterCrashBetweenResultAndMarker(t *testing.T) {
	c := client(t)
	table := newTable(t, c)
	s := newStore(t, &crashingAPI{API: c}, table, dynamo.Config{})
	ctx := t.Context()
	if _, err := s.RecordRun(ctx, storetest.NewRun("run-crash", 2)); err != nil {
		t.Fatal(err)
	}
	res := storetest.NewResult("run-crash", storetest.Account(1), 3)
	if _, err := s.RecordResult(ctx, res); !errors.Is(err, errCrash) {
		t.Fatalf("first RecordResult err = %v, want the simulated crash", err)
	}
	st, err := s.Run(ctx, "run-crash")
	if err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasResult(ctx, "run-crash", storetest.Account(1)); !has || st.Results != 0 {
		t.Fatalf("after the crash: HasResult %v, Results %d; want true, 0 (not yet counted)", has, st.Results)
	}
	// The message was not acknowledged: its redelivery repairs the count.
	created, err := s.RecordResult(ctx, res)
	if err != nil || created {
		t.Fatalf("redelivery: created %v, err %v; want false, nil", created, err)
	}
	if st, err := s.Run(ctx, "run-crash"); err != nil || st.Results != 1 {
		t.Fatalf("after redelivery: Results %d, err %v; want 1", st.Results, err)
	}
}

// incrementCrashAPI fails the first counter increment (an UpdateItem with
// ADD), as if the process died after writing the marker.
type incrementCrashAPI struct {
	dynamo.API
	crashed atomic.Bool
}

func (c *incrementCrashAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if strings.HasPrefix(aws.ToString(in.UpdateExpression), "ADD ") && c.crashed.CompareAndSwap(false, true) {
		return nil, errCrash
	}
	return c.API.UpdateItem(ctx, in, opts...)
}

func TestCountRepairedAfterCrashBetweenMarkerAndIncrement(t *testing.T) {
	c := client(t)
	table := newTable(t, c)
	now := storetest.T0
	clock := func() time.Time { return now }
	api := &incrementCrashAPI{API: c}
	s := newStore(t, api, table, dynamo.Config{Now: clock, RecountEvery: time.Minute})
	ctx := t.Context()
	if _, err := s.RecordRun(ctx, storetest.NewRun("run-inc", 3)); err != nil {
		t.Fatal(err)
	}
	// The first Run stamps recounted_at: the next recount is due a minute later.
	if st, err := s.Run(ctx, "run-inc"); err != nil || st.Results != 0 {
		t.Fatalf("Run = %d, %v", st.Results, err)
	}
	res := storetest.NewResult("run-inc", storetest.Account(1), 3)
	if _, err := s.RecordResult(ctx, res); !errors.Is(err, errCrash) {
		t.Fatalf("RecordResult err = %v, want the simulated crash", err)
	}
	// Even the redelivery cannot count it: the marker exists.
	if created, err := s.RecordResult(ctx, res); err != nil || created {
		t.Fatalf("redelivery: created %v, err %v", created, err)
	}
	if _, err := s.RecordResult(ctx, storetest.NewResult("run-inc", storetest.Account(2), 3)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	if st, _ := s.Run(ctx, "run-inc"); st.Results != 1 {
		t.Fatalf("before the recount is due: Results = %d, want 1 (the counter, short by one)", st.Results)
	}
	now = now.Add(31 * time.Second)
	if st, err := s.Run(ctx, "run-inc"); err != nil || st.Results != 2 {
		t.Fatalf("recount due: Results = %d, %v; want 2", st.Results, err)
	}
	// Repaired in the table, not just in that answer.
	if st, err := s.Run(ctx, "run-inc"); err != nil || st.Results != 2 {
		t.Fatalf("after the repair: Results = %d, %v; want 2", st.Results, err)
	}
	if _, err := s.RecordResult(ctx, storetest.NewResult("run-inc", storetest.Account(3), 3)); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Run(ctx, "run-inc"); err != nil || st.Results != 3 {
		t.Fatalf("complete: Results = %d, %v; want 3", st.Results, err)
	}
}

// TestItemsCarryTTLAndFit writes a large run and result, then checks every
// item of the table: TTL attribute set to now+retention, under 400 KB, and
// the large bodies actually chunked.
func TestItemsCarryTTLAndFit(t *testing.T) {
	c := client(t)
	table := newTable(t, c)
	now := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	retention := 7 * 24 * time.Hour
	s := newStore(t, c, table, dynamo.Config{Retention: retention, Now: func() time.Time { return now }})
	ctx := t.Context()
	if _, err := s.RecordRun(ctx, storetest.NewRun("run-ttl", 5000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordResult(ctx, storetest.NewResult("run-ttl", storetest.Account(1), 20000)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordResult(ctx, storetest.NewResult("run-ttl", storetest.Account(2), 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "run-ttl", "o", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmitted(ctx, "run-ttl", "o", "k", "", now); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var next map[string]types.AttributeValue
	for {
		page, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: next})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			pk := it[dynamo.AttrPK].(*types.AttributeValueMemberS).Value
			sk := it[dynamo.AttrSK].(*types.AttributeValueMemberS).Value
			kind := strings.SplitN(pk, "#", 2)[0] + "/" + strings.SplitN(sk, "#", 2)[0]
			kinds[kind]++
			exp, ok := it[dynamo.AttrExpires].(*types.AttributeValueMemberN)
			if !ok {
				t.Errorf("item %s %s has no %s", pk, sk, dynamo.AttrExpires)
				continue
			}
			if want := strconv.FormatInt(now.Add(retention).Unix(), 10); exp.Value != want {
				t.Errorf("item %s %s expires_at = %s, want %s", pk, sk, exp.Value, want)
			}
			size := 0
			for name, v := range it {
				size += len(name)
				switch v := v.(type) {
				case *types.AttributeValueMemberB:
					size += len(v.Value)
				case *types.AttributeValueMemberS:
					size += len(v.Value)
				default:
					size += 21
				}
			}
			if size >= 400*1024 {
				t.Errorf("item %s %s is %d bytes", pk, sk, size)
			}
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			break
		}
	}
	t.Logf("items by kind: %v", kinds)
	if kinds["RUN/BLOB"] < 2 {
		t.Errorf("the 20,000-finding result was stored in %d chunk items, want >= 2 (is it compressed to under one item?)", kinds["RUN/BLOB"])
	}
	if kinds["CNT/"+string(storetest.Account(1))] != 1 || kinds["CNT/"+string(storetest.Account(2))] != 1 || kinds["RUN/RES"] != 2 || kinds["RUN/RUN"] != 1 {
		t.Errorf("unexpected item kinds %v", kinds)
	}
}

func TestCreateTableTwice(t *testing.T) {
	c := client(t)
	table := newTable(t, c)
	if err := dynamo.CreateTable(t.Context(), c, table); err != nil {
		t.Fatalf("CreateTable on an existing table: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := dynamo.Config{Retention: time.Hour, ChunkSize: 10, RecountEvery: -time.Second}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"table name", "retention", "chunk size", "recount interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := dynamo.New(dynamo.Config{Table: "t"}, nil, nil); err == nil {
		t.Error("New accepted a nil client")
	}
}

// BenchmarkStore measures the store against the emulator (dynalite): the
// figures are dynalite's, not DynamoDB's.
func BenchmarkStore(b *testing.B) {
	c := client(b)
	storetest.Bench(b, func(b *testing.B) store.Store {
		return newStore(b, c, newTable(b, c), dynamo.Config{})
	})
}
