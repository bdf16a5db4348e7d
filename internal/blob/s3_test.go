package blob_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

var bucketSeq atomic.Int64

// newEmulatorS3 returns an S3 client on the emulator (path-style, static
// credentials) and a fresh bucket.
func newEmulatorS3(t *testing.T) (*s3.Client, string) {
	t.Helper()
	endpoint := harness.Endpoint(t, "S3_ENDPOINT")
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
	})
	bucket := fmt.Sprintf("blob-test-%d-%d", time.Now().UnixNano(), bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return client, bucket
}

// TestStoreConformance runs the Store contract against every implementation,
// so that the folder used locally and S3 in the cluster cannot drift.
func TestStoreConformance(t *testing.T) {
	impls := map[string]func(t *testing.T) blob.Store{
		"folder": func(t *testing.T) blob.Store { return blob.Folder{Dir: t.TempDir()} },
		"s3": func(t *testing.T) blob.Store {
			client, bucket := newEmulatorS3(t)
			st, err := blob.NewS3(client, blob.S3Config{Bucket: bucket})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		// The emulator accepts (and ignores) the SSE-KMS headers, so the
		// production configuration runs unchanged against it.
		"s3 sse-kms": func(t *testing.T) blob.Store {
			client, bucket := newEmulatorS3(t)
			st, err := blob.NewS3(client, blob.S3Config{Bucket: bucket, KMSKeyID: "alias/config-report"})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			st := mk(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			key := "reports/2026/11/23/config-compliance-01J.xlsx"
			if ok, err := st.Exists(ctx, key); err != nil || ok {
				t.Fatalf("Exists before Put = %v, %v; want false, nil", ok, err)
			}
			_, err := st.Get(ctx, key)
			if !errors.Is(err, blob.ErrNotFound) || !errors.Is(err, events.ErrPayloadNotFound) {
				t.Fatalf("Get missing: %v; want ErrNotFound wrapping events.ErrPayloadNotFound", err)
			}
			if n, err := st.Size(ctx, key); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Size missing = %d, %v; want ErrNotFound", n, err)
			}

			body := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB: above one 256 KiB message
			if err := st.Put(ctx, key, bytes.NewReader(body), "application/octet-stream"); err != nil {
				t.Fatal(err)
			}
			got, err := st.Get(ctx, key)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("Get after Put: %d bytes, %v; want %d bytes", len(got), err, len(body))
			}
			if ok, err := st.Exists(ctx, key); err != nil || !ok {
				t.Fatalf("Exists after Put = %v, %v; want true, nil", ok, err)
			}
			// Open streams (a baseline's findings file is read so).
			o, ok := st.(interface {
				Open(context.Context, string) (io.ReadCloser, error)
			})
			if !ok {
				t.Fatalf("%T has no Open", st)
			}
			rc, err := o.Open(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(rc)
			_ = rc.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("Open after Put: %d bytes, %v; want %d bytes", len(got), err, len(body))
			}
			if _, err := o.Open(ctx, key+".missing"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Open missing: %v; want ErrNotFound", err)
			}
			if n, err := st.Size(ctx, key); err != nil || n != int64(len(body)) {
				t.Fatalf("Size after Put = %d, %v; want %d", n, err, len(body))
			}
			if err := st.Put(ctx, key, strings.NewReader("v2"), "text/plain"); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.Get(ctx, key); string(got) != "v2" {
				t.Fatalf("Put does not replace: got %q", got)
			}
			if n, err := st.Size(ctx, key); err != nil || n != 2 {
				t.Fatalf("Size after the replacing Put = %d, %v; want 2", n, err)
			}
			if _, err := st.Size(ctx, "a/../b"); err == nil {
				t.Error("Size accepted a bad key")
			}

			// The claim-check adapter sees the same semantics.
			p := blob.Payloads{Store: st}
			if err := p.PutPayload(ctx, "payloads/run/acct.json", []byte(`{"a":1}`)); err != nil {
				t.Fatal(err)
			}
			if got, err := p.GetPayload(ctx, "payloads/run/acct.json", 100); err != nil || string(got) != `{"a":1}` {
				t.Fatalf("GetPayload = %q, %v", got, err)
			}
			if _, err := p.GetPayload(ctx, "payloads/run/none.json", 100); !errors.Is(err, events.ErrPayloadNotFound) {
				t.Fatalf("GetPayload missing: %v", err)
			}
			// The bounded read: an object over the limit is refused, one
			// at or under it read whole.
			for _, lt := range []struct {
				limit int64
				big   bool
			}{{0, true}, {6, true}, {7, false}, {1 << 20, false}} {
				got, err := p.GetPayload(ctx, "payloads/run/acct.json", lt.limit)
				if lt.big != errors.Is(err, events.ErrPayloadTooLarge) || (!lt.big && (err != nil || string(got) != `{"a":1}`)) {
					t.Errorf("GetPayload(limit %d) = %q, %v; want too large %v", lt.limit, got, err, lt.big)
				}
			}

			for _, bad := range []string{"", "/abs", "a/../b", "a//b", "dir/"} {
				if err := st.Put(ctx, bad, strings.NewReader("x"), ""); err == nil {
					t.Errorf("Put(%q) accepted a bad key", bad)
				}
			}
		})
	}
}

type recordingS3 struct {
	puts  []*s3.PutObjectInput
	err   error
	heads int
}

func (r *recordingS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.puts = append(r.puts, in)
	return &s3.PutObjectOutput{}, r.err
}

func (r *recordingS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if r.err != nil {
		return nil, r.err
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

func (r *recordingS3) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	r.heads++
	return nil, r.err
}

func TestS3Encryption(t *testing.T) {
	tests := []struct {
		name    string
		kms     string
		wantSSE types.ServerSideEncryption
	}{
		{"bucket default", "", ""},
		{"sse-kms", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", types.ServerSideEncryptionAwsKms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingS3{}
			st, err := blob.NewS3(rec, blob.S3Config{Bucket: "reports", KMSKeyID: tt.kms})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Put(context.Background(), "a/b.xlsx", strings.NewReader("x"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"); err != nil {
				t.Fatal(err)
			}
			in := rec.puts[0]
			if in.ServerSideEncryption != tt.wantSSE || aws.ToString(in.SSEKMSKeyId) != tt.kms {
				t.Fatalf("SSE = %q key %q; want %q key %q", in.ServerSideEncryption, aws.ToString(in.SSEKMSKeyId), tt.wantSSE, tt.kms)
			}
			if tt.kms != "" && !aws.ToBool(in.BucketKeyEnabled) {
				t.Error("bucket key not enabled with SSE-KMS")
			}
			if aws.ToString(in.Bucket) != "reports" || aws.ToString(in.Key) != "a/b.xlsx" {
				t.Errorf("bucket/key = %s/%s", aws.ToString(in.Bucket), aws.ToString(in.Key))
			}
		})
	}
}

func TestS3ErrorsAreNotNotFound(t *testing.T) {
	boom := errors.New("connection reset")
	st, err := blob.NewS3(&recordingS3{err: boom}, blob.S3Config{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Get(ctx, "k"); !errors.Is(err, boom) || errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get: %v; want the transport error, not ErrNotFound", err)
	}
	if ok, err := st.Exists(ctx, "k"); ok || !errors.Is(err, boom) {
		t.Errorf("Exists: %v, %v; want false and the transport error", ok, err)
	}
	if n, err := st.Size(ctx, "k"); n != 0 || !errors.Is(err, boom) || errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Size: %d, %v; want the transport error, not ErrNotFound", n, err)
	}
	if err := st.Put(ctx, "k", strings.NewReader(""), ""); !errors.Is(err, boom) {
		t.Errorf("Put: %v", err)
	}
}

func TestNewS3Validates(t *testing.T) {
	if _, err := blob.NewS3(&recordingS3{}, blob.S3Config{}); err == nil {
		t.Error("empty bucket accepted")
	}
	if _, err := blob.NewS3(nil, blob.S3Config{Bucket: "b"}); err == nil {
		t.Error("nil client accepted")
	}
}

// TestS3Flags builds the store from flags against the emulator: path-style
// requests reach it, and a missing bucket flag is refused.
func TestS3Flags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var f blob.S3Flags
	f.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Store(aws.Config{Region: "us-east-1"}); err == nil || !strings.Contains(err.Error(), "-report-bucket") {
		t.Errorf("no bucket: %v", err)
	}
	_, bucket := newEmulatorS3(t)
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	f = blob.S3Flags{}
	f.Register(fs)
	if err := fs.Parse([]string{"-report-bucket", bucket, "-s3-path-style"}); err != nil {
		t.Fatal(err)
	}
	st, err := f.Store(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(harness.Endpoint(t, "S3_ENDPOINT"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Put(ctx, "flags/k", strings.NewReader("v"), "text/plain"); err != nil {
		t.Fatalf("put through a path-style client: %v", err)
	}
	if ok, err := st.Exists(ctx, "flags/k"); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
}
