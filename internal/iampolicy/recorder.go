package iampolicy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// iamPrefix maps an SDK client's service id (the ServiceID constant of each
// aws-sdk-go-v2/service package, as awsmiddleware.GetServiceID reports it) to
// the IAM action prefix. They differ in case and, for Config, in name.
var iamPrefix = map[string]string{
	"Config Service": "config",
	"DynamoDB":       "dynamodb",
	"EC2":            "ec2",
	"KMS":            "kms",
	"Organizations":  "organizations",
	"S3":             "s3",
	"SNS":            "sns",
	"SQS":            "sqs",
	"STS":            "sts",
}

// renamed are the operations IAM authorises under another action's name. For
// every other operation of the services above, the IAM action is the API
// operation's name. The Service Authorization Reference lists SQS's batch
// operations under their single-message actions (there is no
// sqs:SendMessageBatch action), S3's HeadObject under s3:GetObject, its list
// operations under s3:ListBucket and multipart uploads under s3:PutObject.
var renamed = map[Call]string{
	{"SQS", "SendMessageBatch"}:             "sqs:SendMessage",
	{"SQS", "DeleteMessageBatch"}:           "sqs:DeleteMessage",
	{"SQS", "ChangeMessageVisibilityBatch"}: "sqs:ChangeMessageVisibility",
	{"S3", "HeadObject"}:                    "s3:GetObject",
	{"S3", "GetObjectAttributes"}:           "s3:GetObject",
	{"S3", "HeadBucket"}:                    "s3:ListBucket",
	{"S3", "ListObjects"}:                   "s3:ListBucket",
	{"S3", "ListObjectsV2"}:                 "s3:ListBucket",
	{"S3", "ListObjectVersions"}:            "s3:ListBucketVersions",
	{"S3", "CreateMultipartUpload"}:         "s3:PutObject",
	{"S3", "UploadPart"}:                    "s3:PutObject",
	{"S3", "CompleteMultipartUpload"}:       "s3:PutObject",
	{"S3", "DeleteObjects"}:                 "s3:DeleteObject",
}

// Action maps an SDK (service id, operation name) pair to its IAM action:
// ("Config Service", "DescribeConfigRules") -> "config:DescribeConfigRules",
// ("S3", "HeadObject") -> "s3:GetObject".
func Action(serviceID, operation string) (string, error) {
	prefix, ok := iamPrefix[serviceID]
	if !ok {
		return "", fmt.Errorf("iampolicy: no IAM prefix known for SDK service id %q (operation %q)", serviceID, operation)
	}
	if operation == "" {
		return "", fmt.Errorf("iampolicy: empty operation name for service %q", serviceID)
	}
	if a, ok := renamed[Call{serviceID, operation}]; ok {
		return a, nil
	}
	return prefix + ":" + operation, nil
}

// Call is one SDK operation, as the client named it.
type Call struct {
	ServiceID string
	Operation string
}

// recorderID names the middleware in the stack; one recorder per stack.
const recorderID = "iampolicy.Recorder"

// Recorder is an SDK middleware that records every (service, operation) a
// client actually sends, retries included, so a test can compare what the
// code calls with the table. Install it on an aws.Config before any client is
// made from it, so clients derived through STS role chaining inherit it:
//
//	rec := iampolicy.NewRecorder()
//	cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions(
//		[]func(*middleware.Stack) error{rec.AddTo}))
//
// It is safe for concurrent use. It is test instrumentation: production
// wiring need not install it, though doing so is harmless.
type Recorder struct {
	mu    sync.Mutex
	calls map[Call]int
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{calls: map[Call]int{}} }

// AddTo installs the recorder on an operation's middleware stack; its
// signature is that of an aws.Config.APIOptions element.
//
// It sits at the end of the Finalize step, after retries and signing, so it
// sees each attempt that goes to the transport and nothing that failed before
// (credential resolution, parameter validation). Adding it twice to one stack
// is a no-op, since a copied aws.Config may carry the option twice.
func (r *Recorder) AddTo(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get(recorderID); ok {
		return nil
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(recorderID,
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			r.record(Call{
				ServiceID: awsmiddleware.GetServiceID(ctx),
				Operation: awsmiddleware.GetOperationName(ctx),
			})
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

func (r *Recorder) record(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[c]++
}

// Calls returns how many times each operation was sent, attempts included.
func (r *Recorder) Calls() map[Call]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[Call]int, len(r.calls))
	for c, n := range r.calls {
		out[c] = n
	}
	return out
}

// Actions returns the sorted IAM actions of every recorded call. A service the
// mapping does not know is an error naming it, never silently dropped.
func (r *Recorder) Actions() ([]string, error) {
	var (
		out  []string
		errs []error
	)
	for c := range r.Calls() {
		a, err := Action(c.ServiceID, c.Operation)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	slices.Sort(out)
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return out, errors.Join(errs...)
}

// Reset forgets every recorded call.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.calls)
}

// Verify is the end-to-end test's check: every operation the clients sent
// maps to an IAM action the table declares (create-only actions allowed when
// createResources is true). It does not require every declared action to have
// been sent, since one run need not reach every path; use Unexercised for that.
func (r *Recorder) Verify(createResources bool) error {
	actions, err := r.Actions()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if len(actions) == 0 && err == nil {
		errs = append(errs, errors.New("iampolicy: no AWS call was recorded: is the Recorder installed on the clients' aws.Config?"))
	}
	if u := Undeclared(actions, createResources); len(u) > 0 {
		errs = append(errs, fmt.Errorf("iampolicy: the code sent actions internal/iampolicy does not declare (add them to the table and the templates, or stop calling them): %v", u))
	}
	return errors.Join(errs...)
}
