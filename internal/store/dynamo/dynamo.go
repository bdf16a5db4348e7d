package dynamo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// API is the part of *dynamodb.Client the store calls.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Attribute and index names: the CloudFormation template must match them.
const (
	AttrPK      = "pk"
	AttrSK      = "sk"
	AttrQueue   = "queue"      // sparse GSI hash key
	AttrExpires = "expires_at" // TTL attribute, epoch seconds
	QueueIndex  = "queue-index"

	queuePending    = "pending"
	queueUnticketed = "unticketed"
)

// DynamoDB's item limit is 400 KB (names and values); a chunk leaves room
// for the keys and attributes beside it.
const defaultChunkSize = 350 * 1024

// Config configures New.
type Config struct {
	// Table is the table's name (from CloudFormation in production).
	Table string
	// Retention is how long items live before DynamoDB's TTL deletes them;
	// default 30 days. It must outlast a run's deadline by far.
	Retention time.Duration
	// ChunkSize is the most compressed body bytes one item carries; larger
	// bodies are split. Default 350 KiB; tests lower it to exercise chunking.
	ChunkSize int
	// RecountEvery bounds how often Run recounts an incomplete run's
	// results to repair its counter after a crash; default 1 minute.
	RecountEvery time.Duration
	// Now stamps expires_at and paces recounts; default time.Now.
	Now func() time.Time
	// Unsafe is for tests proving the conformance suite can fail; nil in
	// production (and inert there anyway, see store.Unsafe).
	Unsafe *store.Unsafe
}

func (c *Config) setDefaults() {
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = defaultChunkSize
	}
	if c.RecountEvery == 0 {
		c.RecountEvery = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Table == "" {
		errs = append(errs, errors.New("dynamo store: table name is required"))
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("dynamo store: retention %s is under a day (runs would expire mid-flight)", c.Retention))
	}
	if c.RecountEvery < 0 {
		errs = append(errs, fmt.Errorf("dynamo store: recount interval %s is negative", c.RecountEvery))
	}
	if c.ChunkSize < 1024 || c.ChunkSize > defaultChunkSize {
		errs = append(errs, fmt.Errorf("dynamo store: chunk size %d is outside [1024, %d]", c.ChunkSize, defaultChunkSize))
	}
	return errors.Join(errs...)
}

// Store implements store.Store on one DynamoDB table.
type Store struct {
	api     API
	cfg     Config
	log     *slog.Logger
	started *store.StartedCache
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.ResultCounter = (*Store)(nil)
)

// New returns a store on cfg.Table through api (a *dynamodb.Client).
func New(cfg Config, api API, logger *slog.Logger) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if api == nil {
		return nil, errors.New("dynamo store: nil client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{api: api, cfg: cfg, log: logger.With(slog.String("table", cfg.Table)), started: store.NewStartedCache(64)}, nil
}

// Close implements store.Store; the client is the caller's.
func (s *Store) Close() error { return nil }

func runPK(id ident.RunID) string { return "RUN#" + string(id) }
func cntPK(id ident.RunID) string { return "CNT#" + string(id) }

// adhocPK is an account's ad-hoc slot (sk adhocSK): which ad-hoc run of the
// account is open (see store.Store.RecordRun).
func adhocPK(acct ident.AccountID) string { return "ADHOC#" + string(acct) }

const adhocSK = "OPEN"

// pendingPK is the deadline index of pending runs: one item per run,
// sk <deadline, unix ns, 20 digits>#<run id>, so that one Query with a
// Limit reads the earliest deadlines first (the queue-index GSI orders by
// run id, which a sender chooses).
const pendingPK = "PENDING"

func pendingSK(deadline time.Time, id ident.RunID) string {
	return fmt.Sprintf("%020d#%s", max(deadline.UnixNano(), 0), id)
}

func heldSK(acct ident.AccountID) string { return "HELD#" + string(acct) }

const runSK = "RUN"

func resSK(acct ident.AccountID) string { return "RES#" + string(acct) }

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(pk), AttrSK: str(sk)}
}

func (s *Store) expires() types.AttributeValue {
	return num(s.cfg.Now().Add(s.cfg.Retention).Unix())
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

func getTime(item map[string]types.AttributeValue, name string) time.Time {
	if n, ok := getN(item, name); ok {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

func getBool(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

func getB(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func gz(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gunzipJSON(b []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer zr.Close()
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, zr) // reach EOF so the gzip checksum is verified
	return err
}

func newWriteID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// putChunks writes data as items pk/<prefix><wid>#<nnnn>, returning the
// write id and the chunk count.
func (s *Store) putChunks(ctx context.Context, pk, prefix string, data []byte) (string, int, error) {
	// Chunk numbers have 4 digits so that sort key order is chunk order.
	if len(data) > 9999*s.cfg.ChunkSize {
		return "", 0, fmt.Errorf("body of %d bytes compressed needs more than 9,999 chunks of %d", len(data), s.cfg.ChunkSize)
	}
	wid := newWriteID()
	n := 0
	for off := 0; off < len(data) || n == 0; off += s.cfg.ChunkSize {
		end := min(off+s.cfg.ChunkSize, len(data))
		item := key(pk, fmt.Sprintf("%s%s#%04d", prefix, wid, n))
		item["chunk"] = &types.AttributeValueMemberB{Value: data[off:end]}
		item[AttrExpires] = s.expires()
		if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item}); err != nil {
			return "", 0, fmt.Errorf("put chunk %d: %w", n, err)
		}
		n++
	}
	return wid, n, nil
}

// dropChunks deletes a losing writer's chunks; failures only leave garbage
// that TTL removes.
func (s *Store) dropChunks(ctx context.Context, pk, prefix, wid string, n int) {
	for i := range n {
		sk := fmt.Sprintf("%s%s#%04d", prefix, wid, i)
		if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(pk, sk)}); err != nil {
			s.log.Warn("dedupe store: could not delete a losing writer's chunk (TTL will)", slog.String("pk", pk), slog.String("sk", sk), slog.Any("error", err))
			return
		}
	}
}

// getChunks reads back what putChunks wrote, checking the count.
func (s *Store) getChunks(ctx context.Context, pk, prefix, wid string, n int) ([]byte, error) {
	var (
		out  []byte
		next map[string]types.AttributeValue
		got  int
	)
	for {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :pre)"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":pre": str(prefix + wid + "#")},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return nil, fmt.Errorf("read chunks %s%s: %w", prefix, wid, err)
		}
		for _, it := range page.Items {
			if want := fmt.Sprintf("%s%s#%04d", prefix, wid, got); getS(it, AttrSK) != want {
				return nil, fmt.Errorf("read chunks %s%s: found %s, want %s", prefix, wid, getS(it, AttrSK), want)
			}
			out = append(out, getB(it, "chunk")...)
			got++
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			break
		}
	}
	if got != n {
		return nil, fmt.Errorf("read chunks %s%s: %d of %d chunks present", prefix, wid, got, n)
	}
	return out, nil
}

// RecordRun implements store.Store. The RunStarted goes to chunk items
// first; the conditional update of the run item that references them
// decides which write wins. The run item stays small (no body), so the
// claim updates that follow cost one write unit each.
func (s *Store) RecordRun(ctx context.Context, run *events.RunStarted) (bool, error) {
	if err := store.CheckRun(run); err != nil {
		return false, err
	}
	body, err := gz(run)
	if err != nil {
		return false, fmt.Errorf("record run %s: encode: %w", run.RunID, err)
	}
	pk := runPK(run.RunID)
	wid, n, err := s.putChunks(ctx, pk, "START#", body)
	if err != nil {
		return false, fmt.Errorf("record run %s: %w", run.RunID, err)
	}
	// The deadline index entry goes before the run item, like the chunks:
	// a run item without one would never be Pending. A losing writer with
	// another deadline deletes its own; Pending skips and deletes any
	// entry that does not match its run.
	dl := run.Deadline.UTC()
	pend := key(pendingPK, pendingSK(dl, run.RunID))
	pend[AttrExpires] = s.expires()
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: pend}); err != nil {
		return false, fmt.Errorf("record run %s: deadline index: %w", run.RunID, err)
	}
	upd := "SET #ref = :ref, #n = :n, #rid = :rid, #exp = :exp, #q = if_not_exists(#q, :pending), #dl = :dl, #sat = :sat"
	names := map[string]string{"#ref": "started_ref", "#n": "started_chunks", "#rid": "run_id",
		"#exp": AttrExpires, "#q": AttrQueue, "#dl": "deadline", "#sat": "started_at"}
	vals := map[string]types.AttributeValue{":ref": str(wid), ":n": num(int64(n)),
		":rid": str(string(run.RunID)), ":exp": s.expires(), ":pending": str(queuePending),
		":dl": num(dl.UnixNano()), ":sat": num(run.StartedAt.UnixNano())}
	acct, adhoc := store.AdhocAccount(run)
	if adhoc {
		upd += ", #acct = :acct"
		names["#acct"], vals[":acct"] = "adhoc_account", str(string(acct))
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(pk, runSK), UpdateExpression: aws.String(upd),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	}
	if !s.cfg.Unsafe.Overwrite() {
		in.ConditionExpression = aws.String("attribute_not_exists(#ref)")
	}
	if _, err := s.api.UpdateItem(ctx, in); err != nil {
		if !isConditionFailed(err) {
			return false, fmt.Errorf("record run %s: %w", run.RunID, err)
		}
		s.dropChunks(ctx, pk, "START#", wid, n)
		item, err := s.getRunItem(ctx, run.RunID)
		if err != nil {
			return false, fmt.Errorf("record run %s: read the recorded run: %w", run.RunID, err)
		}
		if got, _ := getN(item, "deadline"); got != dl.UnixNano() {
			s.deletePending(ctx, dl, run.RunID)
		}
		// A writer that died between the run item and the ad-hoc slot:
		// its redelivery finishes the decision, from the recorded run.
		if err := s.adhocDecide(ctx, run.RunID, item); err != nil {
			return false, fmt.Errorf("record run %s: %w", run.RunID, err)
		}
		return false, nil
	}
	if adhoc {
		item, err := s.getRunItem(ctx, run.RunID)
		if err != nil {
			return false, fmt.Errorf("record run %s: read the recorded run: %w", run.RunID, err)
		}
		if err := s.adhocDecide(ctx, run.RunID, item); err != nil {
			return false, fmt.Errorf("record run %s: %w", run.RunID, err)
		}
	}
	return true, nil
}

func (s *Store) deletePending(ctx context.Context, deadline time.Time, id ident.RunID) {
	sk := pendingSK(deadline, id)
	if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(pendingPK, sk)}); err != nil {
		s.log.Warn("dedupe store: could not delete a deadline index entry (Pending or TTL will)", slog.String("sk", sk), slog.Any("error", err))
	}
}

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

// RecordResult implements store.Store: a conditional put of the RES# item
// decides, then the CNT# marker is written (by every caller, idempotently,
// so a redelivery repairs a crash between the two).
func (s *Store) RecordResult(ctx context.Context, res *events.AccountScanned) (bool, error) {
	created, _, err := s.RecordResultCounted(ctx, res)
	return created, err
}

// RecordResultCounted implements store.ResultCounter: the counter's
// increment returns the run item as it left it (ReturnValues ALL_NEW; the
// run item holds no body, so it is small), which is the count with this
// result, whether the RunStarted is recorded and whether the run is
// emitted, with no GetItem. The count is the counter's, so, as with Run, it
// may be short after a crash between a marker and its increment until a
// recount (Run, which the aggregator's loop calls every tick through
// Pending) repairs it, or ahead after a retried increment (the aggregator
// confirms completion with MissingResults).
func (s *Store) RecordResultCounted(ctx context.Context, res *events.AccountScanned) (bool, store.Recorded, error) {
	if err := store.CheckResult(res); err != nil {
		return false, store.Recorded{}, err
	}
	body, err := gz(res)
	if err != nil {
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: encode: %w", res.RunID, res.AccountID, err)
	}
	pk := runPK(res.RunID)
	item := key(pk, resSK(res.AccountID))
	item[AttrExpires] = s.expires()
	var (
		wid, prefix string
		n           int
	)
	if len(body) <= s.cfg.ChunkSize {
		item["body"] = &types.AttributeValueMemberB{Value: body}
	} else {
		prefix = "BLOB#" + string(res.AccountID) + "#"
		if wid, n, err = s.putChunks(ctx, pk, prefix, body); err != nil {
			return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
		}
		item["body_ref"], item["body_chunks"] = str(wid), num(int64(n))
	}
	in := &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item}
	if !s.cfg.Unsafe.Overwrite() {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": AttrPK}
	}
	created := true
	if _, err := s.api.PutItem(ctx, in); err != nil {
		if !isConditionFailed(err) {
			return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
		}
		created = false
		if n > 0 {
			s.dropChunks(ctx, pk, prefix, wid, n)
		}
	}
	runItem, err := s.count(ctx, res.RunID, res.AccountID)
	if err != nil {
		// The result is stored but maybe not counted: an error makes the
		// caller nack, and the redelivery counts it.
		return false, store.Recorded{}, fmt.Errorf("record result %s/%s: %w", res.RunID, res.AccountID, err)
	}
	if !created {
		return false, store.Recorded{}, nil
	}
	if runItem == nil {
		// The marker was there already although this write created the
		// result: only when first-write-wins is off (store.Unsafe).
		if runItem, err = s.getRunItem(ctx, res.RunID); err != nil {
			return false, store.Recorded{}, fmt.Errorf("record result %s/%s: read run: %w", res.RunID, res.AccountID, err)
		}
	}
	return true, recorded(runItem), nil
}

// recorded is what store.Recorded says of a run item.
func recorded(item map[string]types.AttributeValue) store.Recorded {
	n, _ := getN(item, "results")
	return store.Recorded{Results: int(n), HasStarted: getS(item, "started_ref") != "", Emitted: getBool(item, "emitted")}
}

// count writes the account's CNT# marker if absent and, when it was
// absent, adds one to the run item's counter and returns the run item as
// the increment left it (nil when the marker was there). A crash between
// the two leaves the counter short; Run's recount repairs it (see doc.go).
func (s *Store) count(ctx context.Context, id ident.RunID, acct ident.AccountID) (map[string]types.AttributeValue, error) {
	marker := key(cntPK(id), string(acct))
	marker[AttrExpires] = s.expires()
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: marker,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK}})
	if isConditionFailed(err) {
		return nil, nil // counted already (or being repaired by a recount)
	}
	if err != nil {
		return nil, fmt.Errorf("count marker: %w", err)
	}
	// The run item may not exist yet (results before RunStarted): ADD makes it.
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.cfg.Table,
		Key:                       key(runPK(id), runSK),
		UpdateExpression:          aws.String("ADD #n :one SET #exp = :exp"),
		ExpressionAttributeNames:  map[string]string{"#n": "results", "#exp": AttrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":exp": s.expires()},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	return out.Attributes, nil
}

func (s *Store) getRunItem(ctx context.Context, id ident.RunID) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.cfg.Table, Key: key(runPK(id), runSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

func (s *Store) countResults(ctx context.Context, id ident.RunID) (int, error) {
	var (
		total int
		next  map[string]types.AttributeValue
	)
	for {
		page, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(cntPK(id))},
			Select:                    types.SelectCount,
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         next,
		})
		if err != nil {
			return 0, err
		}
		total += int(page.Count)
		if next = page.LastEvaluatedKey; len(next) == 0 {
			return total, nil
		}
	}
}

func (s *Store) state(ctx context.Context, id ident.RunID, item map[string]types.AttributeValue) (store.RunState, error) {
	st := store.RunState{
		RunID:       id,
		GeneratedAt: getTime(item, "generated_at"),
		ClaimOwner:  getS(item, "claim_owner"),
		ClaimUntil:  getTime(item, "claim_until"),
		Emitted:     getBool(item, "emitted"),
		EmittedAt:   getTime(item, "emitted_at"),
		ReportKey:   getS(item, "report_key"),
		TicketKey:   getS(item, "ticket_key"),
		TicketOwner: getS(item, "ticket_owner"),
		TicketUntil: getTime(item, "ticket_until"),
		JoinedTo:    ident.RunID(getS(item, "joined_to")),
	}
	if wid := getS(item, "started_ref"); wid != "" {
		// The write id names one recorded RunStarted for good (chunks are
		// never rewritten under it), so its chunks are read and decoded
		// once per process, not on every completion check.
		var err error
		st.Started, err = s.started.Get(string(id)+"/"+wid, func() (*events.RunStarted, error) {
			n, _ := getN(item, "started_chunks")
			body, err := s.getChunks(ctx, runPK(id), "START#", wid, int(n))
			if err != nil {
				return nil, err
			}
			rs := new(events.RunStarted)
			if err := gunzipJSON(body, rs); err != nil {
				return nil, fmt.Errorf("decode RunStarted: %w", err)
			}
			return rs, nil
		})
		if err != nil {
			return st, err
		}
	}
	n, _ := getN(item, "results")
	st.Results = int(n)
	if st.Started != nil && !st.Emitted && st.Results < len(st.Started.Accounts) {
		return s.maybeRecount(ctx, st, item)
	}
	return st, nil
}

// maybeRecount repairs a counter left short by a crash between a marker
// and its increment. The counter is in doubt whenever a run is incomplete,
// which is most of its life, so the recount (a COUNT query over the CNT#
// partition, O(accounts x 40 B)) runs at most once per RecountEvery per
// run: the replica whose conditional update of recounted_at wins does it.
// The repaired value is written only if no increment landed meanwhile;
// otherwise the next recount does it.
func (s *Store) maybeRecount(ctx context.Context, st store.RunState, item map[string]types.AttributeValue) (store.RunState, error) {
	now := s.cfg.Now()
	last, hasLast := getN(item, "recounted_at")
	if hasLast && now.Sub(time.Unix(0, last)) < s.cfg.RecountEvery {
		return st, nil
	}
	cond := "attribute_not_exists(#at)"
	vals := map[string]types.AttributeValue{":now": num(now.UnixNano())}
	if hasLast {
		cond = "#at = :last"
		vals[":last"] = num(last)
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(st.RunID), runSK),
		UpdateExpression: aws.String("SET #at = :now"), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#at": "recounted_at"}, ExpressionAttributeValues: vals,
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return st, nil // another caller recounts
	}
	if err != nil {
		return st, fmt.Errorf("recount: %w", err)
	}
	seen, _ := getN(out.Attributes, "results")
	n, err := s.countResults(ctx, st.RunID)
	if err != nil {
		return st, fmt.Errorf("recount: %w", err)
	}
	if int64(n) == seen {
		st.Results = n
		return st, nil
	}
	s.log.Warn("dedupe store: result counter repaired (a writer died between a marker and its increment, or retried an increment)",
		slog.String("run_id", string(st.RunID)), slog.Int64("counter", seen), slog.Int("markers", n))
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(st.RunID), runSK),
		UpdateExpression: aws.String("SET #n = :n"), ConditionExpression: aws.String("#n = :seen"),
		ExpressionAttributeNames:  map[string]string{"#n": "results"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n)), ":seen": num(seen)},
	})
	switch {
	case isConditionFailed(err):
		// An increment landed between the read and the count: the next
		// recount repairs it; the markers are the truth meanwhile.
	case err != nil:
		return st, fmt.Errorf("recount: %w", err)
	}
	st.Results = n
	return st, nil
}

// Run implements store.Store.
func (s *Store) Run(ctx context.Context, id ident.RunID) (store.RunState, error) {
	item, err := s.getRunItem(ctx, id)
	if err != nil {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, err)
	}
	if item == nil {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	st, err := s.state(ctx, id, item)
	if err != nil {
		return store.RunState{}, fmt.Errorf("run %s: %w", id, err)
	}
	return st, nil
}

// HasResult implements store.Store. It reads the RES# item, the truth,
// not the marker (which may lag it after a crash).
func (s *Store) HasResult(ctx context.Context, id ident.RunID, account ident.AccountID) (bool, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.cfg.Table, Key: key(runPK(id), resSK(account)), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#pk"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if err != nil {
		return false, fmt.Errorf("has result %s/%s: %w", id, account, err)
	}
	return out.Item != nil, nil
}

// verifyByGet is the most accounts MissingResults confirms with one GetItem
// each; more are confirmed by one key-only Query over the RES# items.
const verifyByGet = 64

// MissingResults implements store.Store in two steps. First one
// consistent Query over the run's CNT# markers (about 40 bytes each, so
// 5,000 accounts fit one 1 MB page): a marker is only ever written after
// its RES# item exists, so an account with a marker has a result. An
// expected account without a marker may still have one (a writer died
// between the two, and its redelivery has not come yet), so those are
// confirmed against the RES# items, the truth, as HasResult does: one
// GetItem each when they are few, else one paginated Query of the RES#
// keys. The second step is not the first: a Query's 1 MB page and its
// read units count whole items before any projection, and results are
// kilobytes each, so reading the RES# keys of 5,000 accounts costs tens of
// pages where the markers cost one.
func (s *Store) MissingResults(ctx context.Context, id ident.RunID, expected []ident.AccountID) ([]ident.AccountID, error) {
	if len(expected) == 0 {
		return nil, nil
	}
	marked, err := s.sortKeys(ctx, cntPK(id), "")
	if err != nil {
		return nil, fmt.Errorf("missing results of %s: markers: %w", id, err)
	}
	unmarked := store.MissingFrom(expected, func(a ident.AccountID) bool { return marked[string(a)] })
	if len(unmarked) == 0 {
		return nil, nil
	}
	if len(unmarked) <= verifyByGet {
		var missing []ident.AccountID
		for _, acct := range unmarked {
			ok, err := s.HasResult(ctx, id, acct)
			if err != nil {
				return nil, fmt.Errorf("missing results of %s: %w", id, err)
			}
			if !ok {
				missing = append(missing, acct)
			}
		}
		return missing, nil
	}
	stored, err := s.sortKeys(ctx, runPK(id), "RES#")
	if err != nil {
		return nil, fmt.Errorf("missing results of %s: results: %w", id, err)
	}
	return store.MissingFrom(unmarked, func(a ident.AccountID) bool { return stored[string(a)] }), nil
}

// sortKeys returns the sort keys under pk that begin with prefix, without
// the prefix, reading the keys only (one consistent Query, all pages).
func (s *Store) sortKeys(ctx context.Context, pk, prefix string) (map[string]bool, error) {
	out := map[string]bool{}
	var next map[string]types.AttributeValue
	for {
		in := &dynamodb.QueryInput{
			TableName:                 &s.cfg.Table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
			ProjectionExpression:      aws.String("#sk"),
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         next,
		}
		if prefix != "" {
			in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :pre)")
			in.ExpressionAttributeValues[":pre"] = str(prefix)
		}
		page, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			out[getS(it, AttrSK)[len(prefix):]] = true
		}
		if next = page.LastEvaluatedKey; len(next) == 0 {
			return out, nil
		}
	}
}

// Results implements store.Store: the RES# items come back in sort key
// order, which is the accounts' code point order. One Query page (at most
// 1 MB, DynamoDB's cap) and one decoded result are in memory at a time;
// a chunked result is fetched when its turn comes.
func (s *Store) Results(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, id, "results", "RES#", "BLOB#")
}

// Held implements store.Store, as Results over the HELD# items.
func (s *Store) Held(ctx context.Context, id ident.RunID) iter.Seq2[*events.AccountScanned, error] {
	return s.bodies(ctx, id, "held results", "HELD#", "HBLOB#")
}

// HoldResult implements store.Store: a put of the HELD# item whose
// condition is the replacement rule (absent, or narrower than this one).
func (s *Store) HoldResult(ctx context.Context, res *events.AccountScanned) (bool, error) {
	if err := store.CheckResult(res); err != nil {
		return false, err
	}
	body, err := gz(res)
	if err != nil {
		return false, fmt.Errorf("hold result %s/%s: encode: %w", res.RunID, res.AccountID, err)
	}
	pk := runPK(res.RunID)
	item := key(pk, heldSK(res.AccountID))
	item[AttrExpires] = s.expires()
	breadth := int64(store.Breadth(res))
	item["breadth"] = num(breadth)
	var (
		wid, prefix string
		n           int
	)
	if len(body) <= s.cfg.ChunkSize {
		item["body"] = &types.AttributeValueMemberB{Value: body}
	} else {
		prefix = "HBLOB#" + string(res.AccountID) + "#"
		if wid, n, err = s.putChunks(ctx, pk, prefix, body); err != nil {
			return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
		}
		item["body_ref"], item["body_chunks"] = str(wid), num(int64(n))
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.cfg.Table, Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #b < :b"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#b": "breadth"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": num(breadth)}})
	if err == nil {
		// The replaced body's chunks, if any, are left to TTL.
		return true, nil
	}
	if n > 0 {
		s.dropChunks(ctx, pk, prefix, wid, n)
	}
	if isConditionFailed(err) {
		return false, nil
	}
	return false, fmt.Errorf("hold result %s/%s: %w", res.RunID, res.AccountID, err)
}

// DropHeld implements store.Store.
func (s *Store) DropHeld(ctx context.Context, id ident.RunID, account ident.AccountID) error {
	if _, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(runPK(id), heldSK(account))}); err != nil {
		return fmt.Errorf("drop held result %s/%s: %w", id, account, err)
	}
	return nil
}

// bodies yields the result bodies under the run's items whose sort key
// begins with skPrefix, their chunks under blobPrefix<account>#.
func (s *Store) bodies(ctx context.Context, id ident.RunID, what, skPrefix, blobPrefix string) iter.Seq2[*events.AccountScanned, error] {
	return func(yield func(*events.AccountScanned, error) bool) {
		pk := runPK(id)
		var next map[string]types.AttributeValue
		for {
			page, err := s.api.Query(ctx, &dynamodb.QueryInput{
				TableName:                 &s.cfg.Table,
				KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :pre)"),
				ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk), ":pre": str(skPrefix)},
				ConsistentRead:            aws.Bool(true),
				ExclusiveStartKey:         next,
			})
			if err != nil {
				yield(nil, fmt.Errorf("%s of %s: %w", what, id, err))
				return
			}
			for i, it := range page.Items {
				page.Items[i] = nil // let each body go once decoded
				res, err := s.decodeResult(ctx, pk, it, skPrefix, blobPrefix)
				if err != nil {
					yield(nil, fmt.Errorf("%s of %s: %s: %w", what, id, getS(it, AttrSK), err))
					return
				}
				if !yield(res, nil) {
					return
				}
			}
			if next = page.LastEvaluatedKey; len(next) == 0 {
				return
			}
		}
	}
}

func (s *Store) decodeResult(ctx context.Context, pk string, it map[string]types.AttributeValue, skPrefix, blobPrefix string) (*events.AccountScanned, error) {
	body := getB(it, "body")
	if wid := getS(it, "body_ref"); wid != "" {
		n, _ := getN(it, "body_chunks")
		acct := getS(it, AttrSK)[len(skPrefix):]
		var err error
		if body, err = s.getChunks(ctx, pk, blobPrefix+acct+"#", wid, int(n)); err != nil {
			return nil, err
		}
	}
	res := new(events.AccountScanned)
	if err := gunzipJSON(body, res); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return res, nil
}

// Claim implements store.Store with one conditional update: the condition
// is the whole lease rule, so concurrent claimers cannot both win.
func (s *Store) Claim(ctx context.Context, id ident.RunID, owner string, now time.Time, ttl time.Duration) (store.Claim, error) {
	if err := store.CheckClaim(id, owner, ttl); err != nil {
		return store.Claim{}, err
	}
	until := now.Add(ttl).UTC()
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.cfg.Table,
		Key:              key(runPK(id), runSK),
		UpdateExpression: aws.String("SET #owner = :owner, #until = :until, #gen = if_not_exists(#gen, :now), #exp = :exp"),
		ConditionExpression: aws.String("attribute_exists(#ref) AND attribute_not_exists(#emitted) AND " +
			"(attribute_not_exists(#owner) OR #owner = :owner OR #until < :now)"),
		ExpressionAttributeNames: map[string]string{"#owner": "claim_owner", "#until": "claim_until", "#gen": "generated_at",
			"#exp": AttrExpires, "#ref": "started_ref", "#emitted": "emitted"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": str(owner), ":until": num(until.UnixNano()),
			":now": num(now.UnixNano()), ":exp": s.expires()},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err == nil {
		c := store.Claim{RunID: id, Owner: owner, Until: until, GeneratedAt: getTime(out.Attributes, "generated_at")}
		if c.GeneratedAt.IsZero() {
			// UPDATED_NEW returns generated_at on DynamoDB and dynalite even
			// when if_not_exists kept it; read it should an emulator not.
			item, err := s.getRunItem(ctx, id)
			if err != nil {
				return store.Claim{}, fmt.Errorf("claim %s: read generated_at: %w", id, err)
			}
			if c.GeneratedAt = getTime(item, "generated_at"); c.GeneratedAt.IsZero() {
				return store.Claim{}, fmt.Errorf("claim %s: claimed, but the run item has no generated_at", id)
			}
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

// MarkEmitted implements store.Store.
func (s *Store) MarkEmitted(ctx context.Context, id ident.RunID, owner, reportKey string, now time.Time) error {
	if err := store.CheckEmit(id, owner, reportKey); err != nil {
		return err
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.cfg.Table,
		Key:                 key(runPK(id), runSK),
		UpdateExpression:    aws.String("SET #emitted = :true, #at = :at, #key = :key, #q = :unticketed, #exp = :exp"),
		ConditionExpression: aws.String("#owner = :owner AND attribute_not_exists(#emitted)"),
		ExpressionAttributeNames: map[string]string{"#emitted": "emitted", "#at": "emitted_at", "#key": "report_key",
			"#q": AttrQueue, "#exp": AttrExpires, "#owner": "claim_owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true},
			":at": num(now.UnixNano()), ":key": str(reportKey), ":unticketed": str(queueUnticketed),
			":exp": s.expires(), ":owner": str(owner)},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err == nil {
		// A crash here leaves the entry to Pending, which deletes it.
		s.deletePending(ctx, getTime(out.Attributes, "deadline"), id)
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	item, err := s.getRunItem(ctx, id)
	if err != nil {
		return fmt.Errorf("mark %s emitted: %w", id, err)
	}
	switch {
	case item == nil:
		return fmt.Errorf("mark %s emitted: %w", id, store.ErrNotFound)
	case getBool(item, "emitted") && getS(item, "claim_owner") == owner && getS(item, "report_key") == reportKey:
		return nil
	case getBool(item, "emitted"):
		return fmt.Errorf("mark %s emitted: already at %s by %s: %w", id, getS(item, "report_key"), getS(item, "claim_owner"), store.ErrEmitted)
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
	item, err := s.getRunItem(ctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("set ticket of %s: %w", id, err)
	case item == nil:
		return fmt.Errorf("set ticket of %s: %w", id, store.ErrNotFound)
	default:
		return fmt.Errorf("set ticket of %s: %w", id, store.ErrNotEmitted)
	}
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
	item, err := s.getRunItem(ctx, id)
	if err != nil {
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, err)
	}
	switch {
	case item == nil:
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, store.ErrNotFound)
	case !getBool(item, "emitted"):
		return time.Time{}, fmt.Errorf("claim ticket of %s: %w", id, store.ErrNotEmitted)
	case getS(item, "ticket_key") != "":
		return time.Time{}, fmt.Errorf("claim ticket of %s: %s: %w", id, getS(item, "ticket_key"), store.ErrTicketed)
	default:
		return time.Time{}, fmt.Errorf("claim ticket of %s: held by %s until %s: %w", id, getS(item, "ticket_owner"),
			getTime(item, "ticket_until").Format(time.RFC3339), store.ErrClaimed)
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
