package blob_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/events"
)

// endless is an object body that never ends, counting what was read.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.read += int64(len(p))
	return len(p), nil
}

// hugeS3 answers every GetObject with an endless body and, when size is
// set, a Content-Length that says so.
type hugeS3 struct {
	size int64
	body *endless
}

func (h *hugeS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return &s3.PutObjectOutput{}, nil
}

func (h *hugeS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out := &s3.GetObjectOutput{Body: io.NopCloser(h.body)}
	if h.size > 0 {
		out.ContentLength = aws.Int64(h.size)
	}
	return out, nil
}

func (h *hugeS3) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return &s3.HeadObjectOutput{}, nil
}

// An object over the limit is refused without reading it: by its
// Content-Length when S3 gives one, else after limit+1 bytes (plus what
// one buffered read takes).
func TestS3GetLimitReadsBounded(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name     string
		size     int64
		maxBytes int64
	}{
		{"content-length over the limit: nothing read", 1 << 40, 0},
		{"no content-length: stops after the limit", 0, 2 * limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hugeS3{size: tt.size, body: &endless{}}
			st, err := blob.NewS3(h, blob.S3Config{Bucket: "b"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = blob.Payloads{Store: st}.GetPayload(context.Background(), "payloads/r/a.json", limit)
			if !errors.Is(err, events.ErrPayloadTooLarge) || !errors.Is(err, blob.ErrTooLarge) {
				t.Fatalf("GetPayload = %v, want ErrPayloadTooLarge", err)
			}
			if h.body.read > tt.maxBytes {
				t.Errorf("read %d bytes of the body, want at most %d", h.body.read, tt.maxBytes)
			}
		})
	}
}
