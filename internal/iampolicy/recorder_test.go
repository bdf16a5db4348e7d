package iampolicy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// fakeAWS answers the three wire protocols the recorder test uses: JSON 1.1
// (Config), JSON 1.0 (SQS) by X-Amz-Target, and the STS query protocol by the
// Action form field. failFirst makes the first request of that operation a 500
// so the SDK retries it.
type fakeAWS struct {
	failFirst string
	failed    atomic.Bool
	requests  atomic.Int64
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	if op == "" {
		form, _ := url.ParseQuery(string(body))
		op = form.Get("Action")
	}
	if op == f.failFirst && f.failed.CompareAndSwap(false, true) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"try again"}`))
		return
	}
	switch op {
	case "DescribeConfigRules":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"ConfigRules": []any{}})
	case "GetQueueUrl":
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_ = json.NewEncoder(w).Encode(map[string]any{"QueueUrl": "https://sqs.ap-east-1.amazonaws.com/111111111111/scan"})
	case "GetCallerIdentity":
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:sts::111111111111:assumed-role/x/y</Arn><UserId>AROA:y</UserId><Account>111111111111</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`))
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnknownOperationException"}`))
	}
}

// newConfig builds an aws.Config the way the services do, with the recorder
// installed through config.WithAPIOptions, pointed at srv, with a retryer that
// does not sleep.
func newConfig(t *testing.T, srv *httptest.Server, opts ...func(*config.LoadOptions) error) aws.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := []func(*config.LoadOptions) error{
		config.WithRegion("ap-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")),
		config.WithBaseEndpoint(srv.URL),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		}),
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(base, opts...)...)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

func TestRecorderRecordsWhatClientsSend(t *testing.T) {
	fake := &fakeAWS{failFirst: "DescribeConfigRules"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	rec := NewRecorder()
	// The option twice, as a copied config may carry it: still one record per attempt.
	cfg := newConfig(t, srv, config.WithAPIOptions([]func(*middleware.Stack) error{rec.AddTo, rec.AddTo}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	cfgSvc := configservice.NewFromConfig(cfg)
	if _, err := cfgSvc.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
		t.Fatalf("DescribeConfigRules: %v", err)
	}
	// Parameter validation fails before anything is sent: not recorded.
	if _, err := cfgSvc.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{}); err == nil {
		t.Fatal("GetComplianceDetailsByConfigRule without a rule name: want a validation error")
	}
	if _, err := sqs.NewFromConfig(cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("scan")}); err != nil {
		t.Fatalf("GetQueueUrl: %v", err)
	}
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}

	want := map[Call]int{
		{"Config Service", "DescribeConfigRules"}: 2, // a 500, then the retry
		{"SQS", "GetQueueUrl"}:                    1,
		{"STS", "GetCallerIdentity"}:              1,
	}
	got := rec.Calls()
	if len(got) != len(want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	for c, n := range want {
		if got[c] != n {
			t.Errorf("calls[%v] = %d, want %d", c, got[c], n)
		}
	}
	var total int
	for _, n := range got {
		total += n
	}
	if int64(total) != fake.requests.Load() {
		t.Errorf("recorded %d attempts, server saw %d requests", total, fake.requests.Load())
	}

	actions, err := rec.Actions()
	if err != nil {
		t.Fatalf("Actions: %v", err)
	}
	wantActions := []string{"config:DescribeConfigRules", "sqs:GetQueueUrl", "sts:GetCallerIdentity"}
	if !slices.Equal(actions, wantActions) {
		t.Errorf("Actions = %v, want %v", actions, wantActions)
	}
	if u := Undeclared(actions, false); len(u) != 0 {
		t.Errorf("Undeclared(%v) = %v, want none", actions, u)
	}

	rec.Reset()
	if n := len(rec.Calls()); n != 0 {
		t.Errorf("after Reset: %d calls recorded", n)
	}
}

// A client made from a copy of the config (as STS role chaining does: the
// assumed-role config is the hub config with other credentials) still records.
func TestRecorderFollowsCopiedConfig(t *testing.T) {
	srv := httptest.NewServer(&fakeAWS{})
	defer srv.Close()
	rec := NewRecorder()
	hub := newConfig(t, srv, config.WithAPIOptions([]func(*middleware.Stack) error{rec.AddTo}))
	assumed := hub.Copy()
	assumed.Credentials = credentials.NewStaticCredentialsProvider("ASIASESSION", "s", "token")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := configservice.NewFromConfig(assumed).DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
		t.Fatalf("DescribeConfigRules: %v", err)
	}
	if got := rec.Calls()[Call{"Config Service", "DescribeConfigRules"}]; got != 1 {
		t.Errorf("recorded %d DescribeConfigRules, want 1", got)
	}
}

func TestRecorderActionsRejectsUnknownService(t *testing.T) {
	rec := NewRecorder()
	rec.record(Call{"SQS", "ReceiveMessage"})
	rec.record(Call{"Lambda", "Invoke"})
	actions, err := rec.Actions()
	if err == nil || !strings.Contains(err.Error(), `"Lambda"`) {
		t.Fatalf("Actions error = %v, want one naming Lambda", err)
	}
	if !slices.Equal(actions, []string{"sqs:ReceiveMessage"}) {
		t.Errorf("Actions = %v, want the known one kept", actions)
	}
}

func TestAction(t *testing.T) {
	tests := []struct {
		service, op, want string
		wantErr           bool
	}{
		{"Config Service", "DescribeConfigRules", "config:DescribeConfigRules", false},
		{"Config Service", "GetComplianceDetailsByConfigRule", "config:GetComplianceDetailsByConfigRule", false},
		{"Organizations", "ListAccountsForParent", "organizations:ListAccountsForParent", false},
		{"STS", "AssumeRole", "sts:AssumeRole", false},
		{"SQS", "SendMessage", "sqs:SendMessage", false},
		{"SQS", "SendMessageBatch", "sqs:SendMessage", false},
		{"SQS", "DeleteMessageBatch", "sqs:DeleteMessage", false},
		{"SNS", "Publish", "sns:Publish", false},
		{"S3", "PutObject", "s3:PutObject", false},
		{"DynamoDB", "UpdateItem", "dynamodb:UpdateItem", false},
		{"KMS", "Decrypt", "kms:Decrypt", false},
		{"S3", "HeadObject", "s3:GetObject", false},
		{"S3", "ListObjectsV2", "s3:ListBucket", false},
		{"S3", "UploadPart", "s3:PutObject", false},
		{"STS", "AssumeRoleWithWebIdentity", "sts:AssumeRoleWithWebIdentity", false},
		{"config", "DescribeConfigRules", "", true}, // an IAM prefix is not a service id
		{"Lambda", "Invoke", "", true},
		{"SQS", "", "", true},
	}
	for _, tt := range tests {
		got, err := Action(tt.service, tt.op)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Action(%q, %q) = %q, %v; want %q, error %v", tt.service, tt.op, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRecorderVerify(t *testing.T) {
	tests := []struct {
		name    string
		calls   []Call
		create  bool
		wantErr string
	}{
		{"nothing recorded", nil, false, "no AWS call was recorded"},
		{"declared only", []Call{{"SQS", "SendMessageBatch"}, {"Config Service", "DescribeConfigRules"}, {"S3", "HeadObject"}, {"STS", "GetCallerIdentity"}}, false, ""},
		{"undeclared", []Call{{"SQS", "ReceiveMessage"}, {"S3", "DeleteObject"}}, false, "[s3:DeleteObject]"},
		{"create-only in production", []Call{{"SNS", "CreateTopic"}}, false, "[sns:CreateTopic]"},
		{"create-only with -create-resources", []Call{{"SNS", "CreateTopic"}, {"SNS", "Publish"}}, true, ""},
		{"unknown service", []Call{{"Lambda", "Invoke"}}, false, `"Lambda"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := NewRecorder()
			for _, c := range tt.calls {
				rec.record(c)
			}
			err := rec.Verify(tt.create)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Verify error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
