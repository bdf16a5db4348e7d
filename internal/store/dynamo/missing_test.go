package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
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

// countingAPI counts the calls a store makes, by operation.
type countingAPI struct {
	dynamo.API
	gets, queries, puts, updates atomic.Int64
	// noMarker names accounts whose CNT# marker put fails, as if their
	// writer died between the result and its marker.
	noMarker map[string]bool
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.gets.Add(1)
	return c.API.GetItem(ctx, in, opts...)
}

func (c *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.queries.Add(1)
	return c.API.Query(ctx, in, opts...)
}

func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.puts.Add(1)
	pk, _ := in.Item[dynamo.AttrPK].(*types.AttributeValueMemberS)
	sk, _ := in.Item[dynamo.AttrSK].(*types.AttributeValueMemberS)
	if pk != nil && sk != nil && strings.HasPrefix(pk.Value, "CNT#") && c.noMarker[sk.Value] {
		return nil, errCrash
	}
	return c.API.PutItem(ctx, in, opts...)
}

func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.updates.Add(1)
	return c.API.UpdateItem(ctx, in, opts...)
}

func (c *countingAPI) reset() (gets, queries int64) {
	return c.gets.Swap(0), c.queries.Swap(0)
}

// seedResults records small results of accts, 16 writers at a time.
func seedResults(t testing.TB, s *dynamo.Store, id ident.RunID, accts []ident.AccountID, noMarker map[string]bool) {
	t.Helper()
	ctx := t.Context()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make(chan error, 16)
	)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(accts); i = int(next.Add(1) - 1) {
				_, err := s.RecordResult(ctx, storetest.NewResult(id, accts[i], 1))
				if noMarker[string(accts[i])] && errors.Is(err, errCrash) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestMissingResultsCalls is the completion check's cost, before
// (HasResult per expected account, what the aggregator did) and after
// (MissingResults), in store calls; it fails if the latter grows with the
// run. 200 accounts here (seeding dynalite is slow: 76 s for 3,000 under
// -race); BenchmarkMissingResultsCalls runs the same at 3,000 and logs the
// figures:
//
//	REQUIRE_EMULATORS=1 scripts/with-emulators.sh go test -run '^$' \
//	  -bench MissingResultsCalls -benchtime 1x -v ./internal/store/dynamo/
func TestMissingResultsCalls(t *testing.T) { missingCalls(t, 200) }

func BenchmarkMissingResultsCalls(b *testing.B) {
	for range b.N {
		missingCalls(b, 3000)
	}
}

func missingCalls(t testing.TB, n int) {
	c := client(t)
	api := &countingAPI{API: c, noMarker: map[string]bool{}}
	s := newStore(t, api, newTable(t, c), dynamo.Config{})
	ctx := context.Background()
	const id = "run-calls"
	run := storetest.NewRun(id, n)
	if _, err := s.RecordRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	expected := make([]ident.AccountID, n)
	for i, a := range run.Accounts {
		expected[i] = a.AccountID
	}
	// Every account but the last three reports; five of them lose their
	// marker (a writer crashed), and one stray account reports too.
	for _, i := range []int{0, n / 5, n / 2, n - 50, n - 4} {
		api.noMarker[string(expected[i])] = true
	}
	start := time.Now()
	seedResults(t, s, id, append(slices.Clone(expected[:n-3]), storetest.Account(n+1)), api.noMarker)
	t.Logf("seeded %d results in %s", n-2, time.Since(start).Round(time.Millisecond))
	wantMissing := expected[n-3:]

	api.reset()
	start = time.Now()
	var loopMissing []ident.AccountID
	for _, acct := range expected {
		ok, err := s.HasResult(ctx, id, acct)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			loopMissing = append(loopMissing, acct)
		}
	}
	loopTime := time.Since(start)
	loopGets, loopQueries := api.reset()

	start = time.Now()
	missing, err := s.MissingResults(ctx, id, expected)
	if err != nil {
		t.Fatal(err)
	}
	newTime := time.Since(start)
	gets, queries := api.reset()

	if !slices.Equal(loopMissing, wantMissing) || !slices.Equal(missing, wantMissing) {
		t.Fatalf("missing: HasResult loop %v, MissingResults %v; want %v", loopMissing, missing, wantMissing)
	}
	t.Logf("%d expected accounts, %d missing, 5 results without a marker, 1 stray result (dynalite):", n, len(wantMissing))
	t.Logf("  before, HasResult per account: %d GetItem + %d Query = %d calls in %s", loopGets, loopQueries, loopGets+loopQueries, loopTime.Round(time.Millisecond))
	t.Logf("  after,  MissingResults:        %d GetItem + %d Query = %d calls in %s", gets, queries, gets+queries, newTime.Round(time.Millisecond))
	// One marker page (at 5,000 accounts still ~200 KB), then one GetItem per account without
	// a marker (5 crashed + 3 missing).
	if queries != 1 || gets != 8 {
		t.Errorf("MissingResults made %d Query and %d GetItem calls, want 1 and 8", queries, gets)
	}

	// When many accounts lack a marker the RES# keys are read instead of
	// one GetItem each: a bounded number of pages whatever the count.
	many := make([]ident.AccountID, 0, 500)
	for i := range 500 {
		many = append(many, ident.AccountID(fmt.Sprintf("9%011d", i)))
	}
	missing, err = s.MissingResults(ctx, id, append(slices.Clone(expected), many...))
	if err != nil {
		t.Fatal(err)
	}
	gets, queries = api.reset()
	if want := append(slices.Clone(wantMissing), many...); !slices.Equal(missing, want) {
		t.Fatalf("MissingResults with 500 unknown accounts = %d accounts, want %d", len(missing), len(want))
	}
	t.Logf("  after, with 508 accounts without a marker: %d GetItem + %d Query", gets, queries)
	if gets != 0 || queries < 2 || queries > 10 {
		t.Errorf("MissingResults with 508 accounts without a marker made %d GetItem and %d Query calls, want 0 and a few pages", gets, queries)
	}
}

// TestResultCounterReadsNothing: with RecordResultCounted a result costs
// its writes only (RES# put, marker put, counter update returning the run
// item), no GetItem, and what it returns is what Run says.
func TestResultCounterReadsNothing(t *testing.T) {
	c := client(t)
	api := &countingAPI{API: c}
	s := newStore(t, api, newTable(t, c), dynamo.Config{})
	ctx := t.Context()
	const id = "run-counted-calls"
	if _, err := s.RecordRun(ctx, storetest.NewRun(id, 20)); err != nil {
		t.Fatal(err)
	}
	api.reset()
	api.puts.Store(0)
	api.updates.Store(0)
	for i := 1; i <= 20; i++ {
		created, rec, err := s.RecordResultCounted(ctx, storetest.NewResult(id, storetest.Account(i), 1))
		if err != nil || !created {
			t.Fatalf("RecordResultCounted(%d) = %v, %v", i, created, err)
		}
		if want := (store.Recorded{Results: i, HasStarted: true}); rec != want {
			t.Fatalf("RecordResultCounted(%d) = %+v, want %+v", i, rec, want)
		}
	}
	gets, queries := api.reset()
	puts, updates := api.puts.Load(), api.updates.Load()
	t.Logf("20 results: %d PutItem, %d UpdateItem, %d GetItem, %d Query", puts, updates, gets, queries)
	if gets != 0 || queries != 0 || puts != 40 || updates != 20 {
		t.Errorf("20 results made %d PutItem, %d UpdateItem, %d GetItem, %d Query; want 40, 20, 0, 0", puts, updates, gets, queries)
	}
	// A duplicate reads nothing either and says nothing.
	if created, rec, err := s.RecordResultCounted(ctx, storetest.NewResult(id, storetest.Account(3), 1)); err != nil || created || rec != (store.Recorded{}) {
		t.Fatalf("duplicate: %v, %+v, %v", created, rec, err)
	}
	if gets, _ := api.reset(); gets != 0 {
		t.Errorf("a duplicate made %d GetItem", gets)
	}
	if st, err := s.Run(ctx, id); err != nil || st.Results != 20 {
		t.Fatalf("Run = %d results, %v; want 20", st.Results, err)
	}
}

// heldAddAPI holds the first ADD of a counter until hold returns: the
// other results arrive while it is in flight.
type heldAddAPI struct {
	dynamo.API
	adds atomic.Int64
	hold func()
}

func (h *heldAddAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if strings.HasPrefix(aws.ToString(in.UpdateExpression), "ADD ") && h.adds.Add(1) == 1 {
		h.hold()
	}
	return h.API.UpdateItem(ctx, in, opts...)
}

// TestConcurrentResultsShareIncrements: results recorded while a
// counter's ADD is in flight share the next one (two ADDs for 12 results),
// the counter is exact, and every caller learns a count that includes its
// result, the last batch the whole run.
func TestConcurrentResultsShareIncrements(t *testing.T) {
	const n = 12
	c := client(t)
	const id = "run-shared"
	api := &heldAddAPI{API: c}
	s := newStore(t, api, newTable(t, c), dynamo.Config{})
	api.hold = func() {
		for dynamo.Gathered(s, id) < n-1 { // every other result waits for this ADD
			runtime.Gosched()
		}
	}
	ctx := t.Context()
	if _, err := s.RecordRun(ctx, storetest.NewRun(id, n)); err != nil {
		t.Fatal(err)
	}
	first := make(chan store.Recorded, 1)
	go func() {
		_, rec, err := s.RecordResultCounted(ctx, storetest.NewResult(id, storetest.Account(1), 1))
		if err != nil {
			t.Error(err)
		}
		first <- rec
	}()
	for api.adds.Load() == 0 { // the first ADD is in flight (held)
		runtime.Gosched()
	}
	var wg sync.WaitGroup
	recs := make(chan store.Recorded, n-1)
	for i := 2; i <= n; i++ {
		wg.Go(func() {
			created, rec, err := s.RecordResultCounted(ctx, storetest.NewResult(id, storetest.Account(i), 1))
			if err != nil || !created {
				t.Errorf("RecordResultCounted(%d) = %v, %v", i, created, err)
			}
			recs <- rec
		})
	}
	wg.Wait()
	close(recs)
	if rec := <-first; rec.Results != 1 {
		t.Errorf("the first result's count = %d, want 1", rec.Results)
	}
	for rec := range recs {
		if want := (store.Recorded{Results: n, HasStarted: true}); rec != want {
			t.Errorf("a result of the shared ADD got %+v, want %+v", rec, want)
		}
	}
	if got := api.adds.Load(); got != 2 {
		t.Errorf("%d results made %d ADDs, want 2 (the first, then one for the rest)", n, got)
	}
	if st, err := s.Run(ctx, id); err != nil || st.Results != n {
		t.Fatalf("Run = %d results, %v; want %d", st.Results, err, n)
	}
}
