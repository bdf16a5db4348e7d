package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// Account returns the 12-digit account id of n (leading zeros kept).
func Account(n int) ident.AccountID { return ident.AccountID(fmt.Sprintf("%012d", n)) }

// NewRun returns a valid RunStarted listing accounts 1..n.
func NewRun(id ident.RunID, n int) *events.RunStarted {
	accts := make([]events.Account, n)
	for i := range accts {
		accts[i] = events.Account{AccountID: Account(i + 1), Name: fmt.Sprintf("acct-%d", i+1), OUPath: "Root/Prod"}
	}
	return &events.RunStarted{
		Header:    events.Header{Type: events.TypeRunStarted, SchemaVersion: events.SchemaVersion},
		RunID:     id,
		Trigger:   events.TriggerScheduled,
		StartedAt: T0,
		Deadline:  T0.Add(45 * time.Minute),
		Regions:   []ident.Region{"us-east-1", "eu-west-1"},
		Accounts:  accts,
	}
}

// bigResults caches the large results: building and encoding 20,000
// findings under -race costs seconds, and the suite runs several times per
// package. Stores only read what they are given.
var bigResults sync.Map

// NewResult returns a valid AccountScanned with nFindings findings whose
// resource ids are pseudo-random (seeded by account), so that compressed
// they are still large. Large ones are shared: callers must not modify them.
func NewResult(id ident.RunID, acct ident.AccountID, nFindings int) *events.AccountScanned {
	if nFindings < 1000 {
		return newResult(id, acct, nFindings)
	}
	k := fmt.Sprintf("%s/%s/%d", id, acct, nFindings)
	if v, ok := bigResults.Load(k); ok {
		return v.(*events.AccountScanned)
	}
	v, _ := bigResults.LoadOrStore(k, newResult(id, acct, nFindings))
	return v.(*events.AccountScanned)
}

func newResult(id ident.RunID, acct ident.AccountID, nFindings int) *events.AccountScanned {
	rng := rand.New(rand.NewPCG(uint64(len(acct)), uint64(nFindings)))
	res := &events.AccountScanned{
		Header:     events.Header{Type: events.TypeAccountScanned, SchemaVersion: events.SchemaVersion},
		RunID:      id,
		AccountID:  acct,
		Status:     events.StatusOK,
		ScannedAt:  T0.Add(time.Minute),
		DurationMS: 1234,
		Rules: []events.Rule{{Region: "us-east-1", Name: "s3-bucket-ssl", Owner: "AWS",
			SourceIdentifier: "S3_BUCKET_SSL_REQUESTS_ONLY", Compliance: events.NonCompliant, NoncompliantCount: nFindings}},
		Findings: make([]events.Finding, nFindings),
		Errors:   []events.ScanError{},
	}
	for i := range res.Findings {
		res.Findings[i] = events.Finding{
			Region: "us-east-1", Rule: "s3-bucket-ssl", ResourceType: "AWS::S3::Bucket",
			ResourceID: fmt.Sprintf("bucket-%d-%016x%016x", i, rng.Uint64(), rng.Uint64()),
			Compliance: events.NonCompliant,
			Annotation: "bucket policy does not deny aws:SecureTransport=false",
			RecordedAt: T0.Add(time.Duration(i) * time.Second),
		}
	}
	return res
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON checks that got encodes as want does. DeepEqual first: it is
// far cheaper than encoding 20,000 findings twice under -race, and when it
// says equal the encodings are equal too.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, w := mustJSON(t, got), mustJSON(t, want)
	if g != w {
		if len(g) > 300 {
			g = g[:300] + "..."
		}
		if len(w) > 300 {
			w = w[:300] + "..."
		}
		t.Errorf("%s differs from what was first written:\n got  %s\n want %s", what, g, w)
	}
}

func recordRun(t *testing.T, s store.Store, run *events.RunStarted, wantCreated bool) {
	t.Helper()
	created, err := s.RecordRun(ctxOf(t), run)
	if err != nil {
		t.Fatalf("RecordRun(%s): %v", run.RunID, err)
	}
	if created != wantCreated {
		t.Fatalf("RecordRun(%s) created = %v, want %v", run.RunID, created, wantCreated)
	}
}

func recordResult(t *testing.T, s store.Store, res *events.AccountScanned, wantCreated bool) {
	t.Helper()
	created, err := s.RecordResult(ctxOf(t), res)
	if err != nil {
		t.Fatalf("RecordResult(%s/%s): %v", res.RunID, res.AccountID, err)
	}
	if created != wantCreated {
		t.Fatalf("RecordResult(%s/%s) created = %v, want %v (first write must win)", res.RunID, res.AccountID, created, wantCreated)
	}
}

func runState(t *testing.T, s store.Store, id ident.RunID) store.RunState {
	t.Helper()
	st, err := s.Run(ctxOf(t), id)
	if err != nil {
		t.Fatalf("Run(%s): %v", id, err)
	}
	if st.RunID != id {
		t.Fatalf("Run(%s).RunID = %q", id, st.RunID)
	}
	return st
}

func collect(t *testing.T, s store.Store, id ident.RunID) []*events.AccountScanned {
	t.Helper()
	var out []*events.AccountScanned
	for res, err := range s.Results(ctxOf(t), id) {
		if err != nil {
			t.Fatalf("Results(%s): %v", id, err)
		}
		out = append(out, res)
	}
	return out
}

func claim(t *testing.T, s store.Store, id ident.RunID, owner string, now time.Time, ttl time.Duration, wantErr error) store.Claim {
	t.Helper()
	c, err := s.Claim(ctxOf(t), id, owner, now, ttl)
	if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
		t.Fatalf("Claim(%s, %s, %s) err = %v, want %v", id, owner, now.Format(time.RFC3339Nano), err, wantErr)
	}
	return c
}

func markEmitted(t *testing.T, s store.Store, id ident.RunID, owner, key string, now time.Time, wantErr error) {
	t.Helper()
	err := s.MarkEmitted(ctxOf(t), id, owner, key, "", now)
	if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
		t.Fatalf("MarkEmitted(%s, %s, %s) err = %v, want %v", id, owner, key, err, wantErr)
	}
}

func emit(t *testing.T, s store.Store, id ident.RunID) {
	t.Helper()
	claim(t, s, id, "o", T0, time.Minute, nil)
	markEmitted(t, s, id, "o", "reports/"+string(id)+".xlsx", T0.Add(time.Second), nil)
}

func ids(states []store.RunState) []ident.RunID {
	out := make([]ident.RunID, 0, len(states))
	for _, st := range states {
		out = append(out, st.RunID)
	}
	slices.Sort(out)
	return out
}

func claimTicket(t *testing.T, s store.Store, id ident.RunID, owner string, now time.Time, ttl time.Duration, wantErr error) {
	t.Helper()
	until, err := s.ClaimTicket(ctxOf(t), id, owner, now, ttl)
	if wantErr == nil {
		if err != nil || !until.Equal(now.Add(ttl)) {
			t.Fatalf("ClaimTicket(%s, %s, %s) = %s, %v; want %s", id, owner, now.Format(time.RFC3339Nano), until, err, now.Add(ttl))
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("ClaimTicket(%s, %s, %s) err = %v, want %v", id, owner, now.Format(time.RFC3339Nano), err, wantErr)
	}
}

// Covering returns res with a coverage entry (read yes) for each region.
func Covering(res *events.AccountScanned, regions ...ident.Region) *events.AccountScanned {
	out := *res
	out.Coverage = nil
	for _, r := range regions {
		out.Coverage = append(out.Coverage, events.Coverage{Region: r, Read: events.ReadYes})
	}
	return &out
}

// NewAdhocRun returns a valid ad-hoc RunStarted of one account.
func NewAdhocRun(id ident.RunID, acct ident.AccountID, startedAt time.Time) *events.RunStarted {
	run := NewRun(id, 1)
	run.Trigger = events.TriggerAdhoc
	run.Accounts[0].AccountID = acct
	run.StartedAt, run.Deadline = startedAt, startedAt.Add(45*time.Minute)
	return run
}

func held(t *testing.T, s store.Store, id ident.RunID) []*events.AccountScanned {
	t.Helper()
	var out []*events.AccountScanned
	for res, err := range s.Held(ctxOf(t), id) {
		if err != nil {
			t.Fatalf("Held(%s): %v", id, err)
		}
		out = append(out, res)
	}
	return out
}

func hold(t *testing.T, s store.Store, res *events.AccountScanned, want bool) {
	t.Helper()
	got, err := s.HoldResult(ctxOf(t), res)
	if err != nil {
		t.Fatalf("HoldResult(%s/%s): %v", res.RunID, res.AccountID, err)
	}
	if got != want {
		t.Fatalf("HoldResult(%s/%s, breadth %d) = %v, want %v", res.RunID, res.AccountID, store.Breadth(res), got, want)
	}
}

// withStatus returns a copy of res with status st.
func withStatus(res *events.AccountScanned, st events.Status) *events.AccountScanned {
	out := *res
	out.Status = st
	return &out
}
