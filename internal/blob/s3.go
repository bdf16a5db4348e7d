package blob

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3API is the part of *s3.Client that S3 calls.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// S3Config names the bucket and, optionally, the KMS key its objects are
// encrypted with.
type S3Config struct {
	Bucket string
	// KMSKeyID (key id, ARN or alias) turns on SSE-KMS for every Put. Empty
	// leaves the bucket's default encryption (SSE-S3 at least, on AWS).
	KMSKeyID string
}

func (c S3Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("s3 blob store: bucket is required (-report-bucket)"))
	}
	return errors.Join(errs...)
}

// S3 is a Store on one bucket.
type S3 struct {
	client S3API
	cfg    S3Config
}

// NewS3 returns the Store for cfg.Bucket. The client carries region,
// credentials and endpoint (AWS_ENDPOINT_URL_S3 and path-style for
// emulators are the caller's choice).
func NewS3(client S3API, cfg S3Config) (*S3, error) {
	if client == nil {
		return nil, errors.New("s3 blob store: nil client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &S3{client: client, cfg: cfg}, nil
}

// Put uploads body in one PutObject (the SDK needs the seeker to sign and
// retry). With a KMS key, the bucket key is enabled: S3 then asks KMS for a
// data key per bucket and period rather than per object, which keeps the
// kms:GenerateDataKey rate (and bill) flat when thousands of claim-check
// objects are written in a run.
func (s *S3) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
		Body:   body,
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if s.cfg.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
		in.BucketKeyEnabled = aws.Bool(true)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return nil
}

// Get reads the whole object. NoSuchKey becomes ErrNotFound (a missing
// claim check is a poison message); anything else is returned as is, for the
// caller to retry.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return b, nil
}

// Open streams the object: the caller reads and closes the body (a
// findings file of a million findings is tens of megabytes, read once as
// a stream by the next run's report). NoSuchKey becomes ErrNotFound.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.open(ctx, key)
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// open starts reading an object for Get and GetLimit: NoSuchKey becomes
// ErrNotFound. The caller closes the body.
func (s *S3) open(ctx context.Context, key string) (*s3.GetObjectOutput, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.cfg.Bucket, key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return out, nil
}

// GetLimit is Get refusing an object over limit bytes: by its
// Content-Length before the body is read, and by reading at most limit+1
// bytes of the body in any case.
func (s *S3) GetLimit(ctx context.Context, key string, limit int64) ([]byte, error) {
	out, err := s.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > limit {
		return nil, fmt.Errorf("get s3://%s/%s: %d bytes, over %d: %w", s.cfg.Bucket, key, n, limit, ErrTooLarge)
	}
	b, err := readLimit(out.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return b, nil
}

// Exists uses HeadObject, whose 404 has no body: the SDK reports it as
// types.NotFound rather than NoSuchKey.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	if err := CheckKey(key); err != nil {
		return false, err
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	})
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("head s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	return true, nil
}

// Size is HeadObject's Content-Length: the object's size without
// downloading it.
func (s *S3) Size(ctx context.Context, key string) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
	})
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return 0, fmt.Errorf("head s3://%s/%s: %w", s.cfg.Bucket, key, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("head s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	if out.ContentLength == nil || *out.ContentLength < 0 {
		return 0, fmt.Errorf("head s3://%s/%s: no Content-Length in the answer", s.cfg.Bucket, key)
	}
	return *out.ContentLength, nil
}

var _ Store = (*S3)(nil)

// S3Flags are the S3 store's flags, as given. Register them on the
// binary's FlagSet (cli.Parse fills each from its environment variable:
// -report-bucket from REPORT_BUCKET, ...), then call Store.
type S3Flags struct {
	Bucket    string
	KMSKeyID  string
	PathStyle bool
}

// Register adds -report-bucket, -kms-key-id and -s3-path-style to fs.
func (f *S3Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Bucket, "report-bucket", "", "S3 bucket of the reports and of the claim-check payloads (under their own prefix)")
	fs.StringVar(&f.KMSKeyID, "kms-key-id", "", "KMS key (id, ARN or alias) to encrypt every object with SSE-KMS; empty: the bucket's default encryption")
	// The SDK reads no environment variable for path-style addressing, and
	// an emulator on 127.0.0.1 has no bucket subdomains.
	fs.BoolVar(&f.PathStyle, "s3-path-style", false, "path-style S3 requests (http://host/bucket/key): for emulators; AWS uses virtual-hosted style")
}

// Store builds the S3 client from hub (its endpoint from
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL when set) and the store.
func (f S3Flags) Store(hub aws.Config) (*S3, error) {
	client := s3.NewFromConfig(hub, func(o *s3.Options) { o.UsePathStyle = f.PathStyle })
	return NewS3(client, S3Config{Bucket: f.Bucket, KMSKeyID: f.KMSKeyID})
}
