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
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	kgzip "github.com/klauspost/compress/gzip"

	"github.com/cybsecops/configreport/internal/ident"
)

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

// gzWriters holds reset gzip writers: a new one allocates the deflate
// state on its first Write, which the aggregator's profile showed as a
// third of the cost of each result it stores (the allocation, its clearing
// and the GC it drives), for bodies of a few KiB.
//
// Bodies are compressed at gzip.BestSpeed: at the default level the
// deflate of each result (and the reset of its 640 KiB of hash tables)
// was 8% of the aggregator's CPU over a full-size load run (issue 20),
// for bodies read back once or twice and kept for the retention only.
// BestSpeed takes less than half the CPU for a body about a fifth larger;
// a reader reads either (gzip is gzip). The writer is klauspost/compress's
// (already in the module graph): the same gzip format, read back here and
// by earlier versions with compress/gzip, in 20% less CPU than the
// standard library's at BestSpeed and a little smaller (BenchmarkGz: 56 ->
// 45 µs, 1,105 -> 1,084 bytes); gz was a tenth of the aggregator's CPU
// in a load run's profile. Reading keeps compress/gzip: klauspost's reader
// was no faster there (BenchmarkGunzipJSON, decoding dominates).
var gzWriters = sync.Pool{New: func() any {
	zw, _ := kgzip.NewWriterLevel(io.Discard, kgzip.BestSpeed) // a valid level: no error
	return zw
}}

func gz(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzWriters.Get().(*kgzip.Writer)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err // not returned to the pool: its state is unknown
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	zw.Reset(io.Discard) // let go of buf before pooling
	gzWriters.Put(zw)
	return buf.Bytes(), nil
}

// gzReaders and jsonBufs hold gzip readers and the buffers bodies are
// inflated into, for gunzipJSON.
var (
	gzReaders sync.Pool // *gzip.Reader
	jsonBufs  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// maxPooledBuf: a buffer grown past it by one large result, or a reader
// that read a larger body, is let go rather than pooled.
const maxPooledBuf = 1 << 20

// gunzipJSON decodes the one JSON value of a gz body into v. The body is
// inflated whole (which verifies the gzip checksum), then decoded with
// json.Unmarshal: a json.Decoder reading from the gzip stream, as before,
// cost a third more per result (its buffer grown by copies, and a
// scan of the value before the decoding), and each emission decodes every
// result.
func gunzipJSON(b []byte, v any) error {
	var (
		zr  *gzip.Reader
		err error
	)
	if pooled, ok := gzReaders.Get().(*gzip.Reader); ok {
		zr, err = pooled, pooled.Reset(bytes.NewReader(b))
	} else {
		zr, err = gzip.NewReader(bytes.NewReader(b))
	}
	if err != nil {
		return err
	}
	buf := jsonBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuf {
			jsonBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(zr); err != nil {
		return err // the reader's state is unknown: not pooled
	}
	// A pooled reader keeps the body it last read: only small ones are.
	if err := zr.Close(); err == nil && len(b) <= maxPooledBuf {
		gzReaders.Put(zr)
	}
	// Unmarshal copies every string out of buf, so buf is free to reuse.
	return json.Unmarshal(buf.Bytes(), v)
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

// bodyChunks names the chunks setBody wrote a body to (n == 0: none, the
// body is inline).
type bodyChunks struct {
	prefix, wid string
	n           int
}

// setBody puts a result body in item: inline as "body" when it fits one
// chunk, else in chunk items pk/<prefix><wid>#<nnnn> that item references
// ("body_ref", "body_chunks"). The caller drops the chunks (dropBody) when
// the item's own write loses.
func (s *Store) setBody(ctx context.Context, pk, prefix string, item map[string]types.AttributeValue, body []byte) (bodyChunks, error) {
	if len(body) <= s.cfg.ChunkSize {
		item["body"] = &types.AttributeValueMemberB{Value: body}
		return bodyChunks{}, nil
	}
	wid, n, err := s.putChunks(ctx, pk, prefix, body)
	if err != nil {
		return bodyChunks{}, err
	}
	item["body_ref"], item["body_chunks"] = str(wid), num(int64(n))
	return bodyChunks{prefix: prefix, wid: wid, n: n}, nil
}

// dropBody deletes the chunks setBody wrote, if any.
func (s *Store) dropBody(ctx context.Context, pk string, c bodyChunks) {
	if c.n > 0 {
		s.dropChunks(ctx, pk, c.prefix, c.wid, c.n)
	}
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
