package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
)

// madeUpRegions returns n distinct regions in AWS's format that no scanner
// is configured for ("zz-ab-12").
func madeUpRegions(n int) []string {
	out := make([]string, n)
	for i := range out {
		j := i / 100
		out[i] = fmt.Sprintf("zz-%c%c-%d", 'a'+j/26%26, 'a'+j%26, i%100)
	}
	return out
}

// The scanner in these tests is configured for us-east-1 and ap-east-1.
func TestHandleRegionsOutsideConfigured(t *testing.T) {
	many := jsonList(madeUpRegions(20000))
	tests := []struct {
		name string
		body string
	}{
		{"scheduled, a real region not configured", `{"run_id": "run-1", "account_id": "222222222222", "regions": ["eu-west-1"]}`},
		{"scheduled, one configured and one not", `{"run_id": "run-1", "account_id": "222222222222", "regions": ["us-east-1", "eu-west-1"]}`},
		{"ad-hoc, a region not configured", `{"account_id": "222222222222", "regions": ["eu-west-1"]}`},
		{"ad-hoc, 20,000 made-up regions", `{"account_id": "222222222222", "regions": ` + many + `}`},
	}
	e := newHandlerEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) > events.MessageLimit {
				t.Fatalf("test body is %d bytes, over the message limit", len(tt.body))
			}
			err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(tt.body)))
			var de *events.DecodeError
			if !errors.As(err, &de) || de.Reason != events.ReasonInvalid {
				t.Fatalf("Handle = %v, want a DecodeError with reason %s", err, events.ReasonInvalid)
			}
			if len(err.Error()) > 500 {
				t.Errorf("error is %d characters; it must name a few regions, not all", len(err.Error()))
			}
		})
	}
	e.none(t)
	if st := e.sim.Stats(); st.Total != 0 {
		t.Errorf("invalid requests made %d AWS calls", st.Total)
	}
}

func jsonList(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteByte(']')
	return b.String()
}

func TestAllowedRegions(t *testing.T) {
	e := newHandlerEnv(t, nil)
	tests := []struct {
		asked []ident.Region
		want  []ident.Region
		err   bool
	}{
		{nil, []ident.Region{"us-east-1", "ap-east-1"}, false},
		{[]ident.Region{}, []ident.Region{"us-east-1", "ap-east-1"}, false},
		{[]ident.Region{"ap-east-1"}, []ident.Region{"ap-east-1"}, false},
		{[]ident.Region{"ap-east-1", "us-east-1"}, []ident.Region{"ap-east-1", "us-east-1"}, false}, // the request's order
		{[]ident.Region{"us-east-1", "ap-east-1", "us-east-1"}, []ident.Region{"us-east-1", "ap-east-1"}, false},
		{[]ident.Region{"us-east-1", "eu-west-1"}, nil, true},
		{[]ident.Region{"eu-west-1"}, nil, true},
	}
	for _, tt := range tests {
		got, err := e.h.allowedRegions(tt.asked)
		if (err != nil) != tt.err || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("allowedRegions(%v) = %v, %v; want %v, error %v", tt.asked, got, err, tt.want, tt.err)
		}
	}
}

// A scheduled request for a subset of the regions, in its own order, gets
// a result covering exactly those, in that order.
func TestHandleRegionSubsetOrder(t *testing.T) {
	e := newHandlerEnv(t, nil)
	body := `{"run_id": "run-1", "account_id": "333333333333", "regions": ["ap-east-1", "us-east-1"]}`
	if err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(body))); err != nil {
		t.Fatal(err)
	}
	res, ok := e.next(t).(*events.AccountScanned)
	if !ok {
		t.Fatal("no result")
	}
	checkResult(t, e.sim, []ident.Region{"ap-east-1", "us-east-1"}, res, true)
}

// An ad-hoc request is poison as unknown-account only when Organizations
// says the account is not there or not ACTIVE; nothing is scanned.
func TestHandleAdhocUnknownAccount(t *testing.T) {
	tests := []struct {
		name    string
		account string
	}{
		{"not in the organisation (AccountNotFoundException)", "999999999999"},
		{"SUSPENDED", "555555555555"},
	}
	e := newHandlerEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(`{"account_id": "`+tt.account+`"}`)))
			var de *events.DecodeError
			if !errors.As(err, &de) || de.Reason != events.ReasonUnknownAccount {
				t.Fatalf("Handle = %v, want a DecodeError with reason %s", err, events.ReasonUnknownAccount)
			}
		})
	}
	e.none(t)
	st := e.sim.Stats()
	if n := st.OpCalls("DescribeAccount"); n != 2 {
		t.Errorf("%d DescribeAccount calls, want 2 (one per request)", n)
	}
	if n := len(st.Calls["AssumeRole"]) + len(st.Calls["DescribeConfigRules"]); n != 0 {
		t.Errorf("unknown accounts were scanned: %v", st.Calls)
	}
}

// Names come from Organizations, never from an ad-hoc message.
func TestHandleAdhocIgnoresMessageNames(t *testing.T) {
	e := newHandlerEnv(t, nil)
	body := `{"account_id": "333333333333", "account_name": "someone else", "ou_path": "Root/Elsewhere", "regions": ["us-east-1"]}`
	if err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(body))); err != nil {
		t.Fatal(err)
	}
	rs, ok := e.next(t).(*events.RunStarted)
	if !ok {
		t.Fatal("first event is not RunStarted")
	}
	want := events.Account{AccountID: "333333333333", Name: "sandbox", OUPath: "Root/Sandbox"}
	if len(rs.Accounts) != 1 || !rs.Accounts[0].Equal(want) {
		t.Errorf("accounts %+v, want %+v from Organizations", rs.Accounts, want)
	}
	if fmt.Sprint(rs.Regions) != "[us-east-1]" {
		t.Errorf("run regions %v, want the request's [us-east-1]", rs.Regions)
	}
	if _, ok := e.next(t).(*events.AccountScanned); !ok {
		t.Fatal("second event is not AccountScanned")
	}
}

type fakeNamer struct {
	accts []events.Account
	err   error
}

func (f fakeNamer) Lookup(context.Context, []ident.AccountID) ([]events.Account, error) {
	return f.accts, f.err
}

// Only the lookup's "not scannable" answer is poison; any other failure is
// a plain error (the router nacks, the queue redelivers), and nothing is
// published or scanned.
func TestHandleAdhocLookupErrors(t *testing.T) {
	tests := []struct {
		name   string
		namer  fakeNamer
		reason events.Reason // "" for a redelivery
	}{
		{"not scannable", fakeNamer{err: fmt.Errorf("%w: account 222222222222 is SUSPENDED, not ACTIVE", events.ErrNotScannable)}, events.ReasonUnknownAccount},
		{"organizations unavailable", fakeNamer{err: apiError(500, "ServiceException")}, ""},
		{"org-list role refused", fakeNamer{err: apiError(403, "AccessDenied")}, ""},
		{"timeout", fakeNamer{err: context.DeadlineExceeded}, ""},
		{"another account answered", fakeNamer{accts: []events.Account{{AccountID: "111111111111", Name: "x", OUPath: "Root"}}}, ""},
		{"no account answered", fakeNamer{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHandlerEnv(t, nil)
			e.h.cfg.Namer = tt.namer
			err := e.h.Handle(message.NewMessage(watermill.NewUUID(), []byte(`{"account_id": "222222222222"}`)))
			if err == nil || events.ReasonOf(err) != tt.reason {
				t.Fatalf("Handle = %v, want reason %q", err, tt.reason)
			}
			e.none(t)
			if st := e.sim.Stats(); st.Total != 0 {
				t.Errorf("%d AWS calls after a failed lookup", st.Total)
			}
		})
	}
}

func TestHandlerNeedsNamer(t *testing.T) {
	e := newEnv(t, awssim.Config{Org: orgFile(t)}, envOpts{})
	_, err := NewHandler(HandlerConfig{Scanner: e.scanner, Publisher: &failingPublisher{}, Deadline: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "namer") {
		t.Fatalf("NewHandler without a Namer = %v, want a namer error", err)
	}
}
