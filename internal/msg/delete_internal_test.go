package msg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeDeleteAPI holds every DeleteMessageBatch call until the test answers
// it, so the test decides what is in flight while acks arrive.
type fakeDeleteAPI struct {
	calls chan deleteCall // buffered: a call never waits to be seen
}

type deleteCall struct {
	in     *sqs.DeleteMessageBatchInput
	answer chan deleteAnswer
}

type deleteAnswer struct {
	out *sqs.DeleteMessageBatchOutput
	err error
}

func newFakeDeleteAPI() *fakeDeleteAPI { return &fakeDeleteAPI{calls: make(chan deleteCall, 100)} }

func (f *fakeDeleteAPI) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	c := deleteCall{in: in, answer: make(chan deleteAnswer, 1)}
	f.calls <- c
	select {
	case a := <-c.answer:
		return a.out, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeDeleteAPI) next(t *testing.T) deleteCall {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no DeleteMessageBatch call")
		return deleteCall{}
	}
}

// handles are the call's receipt handles, in order.
func (c deleteCall) handles() []string {
	var out []string
	for _, e := range c.in.Entries {
		out = append(out, aws.ToString(e.ReceiptHandle))
	}
	return out
}

// ok answers every entry as deleted.
func (c deleteCall) ok() {
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range c.in.Entries {
		out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	c.answer <- deleteAnswer{out: out}
}

// logBuffer collects a logger's JSON records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// uuidsLogged are the message UUIDs named by error records.
func (b *logBuffer) uuidsLogged(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec struct {
			Level string
			UUID  string   `json:"message_uuid"`
			UUIDs []string `json:"message_uuids"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level != "ERROR" {
			continue
		}
		if rec.UUID != "" {
			out = append(out, rec.UUID)
		}
		out = append(out, rec.UUIDs...)
	}
	slices.Sort(out)
	return out
}

func newTestDeleter(t *testing.T) (*batchDeleter, *fakeDeleteAPI, *logBuffer) {
	t.Helper()
	f, logs := newFakeDeleteAPI(), &logBuffer{}
	d := newBatchDeleter(f, fakeQueueURL, slog.New(slog.NewJSONHandler(logs, nil)))
	d.start()
	t.Cleanup(d.Close)
	return d, f, logs
}

// waitPending waits until n deletes wait for the next call.
func waitPending(t *testing.T, d *batchDeleter, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d.mu.Lock()
		got := len(d.pending)
		d.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deletes waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: delete never tried", what)
	}
}

// TestDeleterBatches: an ack alone is deleted at once, in a call of its
// own; the acks that arrive while that call is in flight share the next
// call, 10 at most, and more than 10 go out as several calls at the same
// time; Close deletes what waits before it returns. (One DeleteMessage
// per ack before: as many calls as acks.)
func TestDeleterBatches(t *testing.T) {
	cases := []struct {
		name      string
		during    int   // acks while the first call is in flight
		wantCalls []int // sizes of the calls after the first
		close     bool  // Close while the first call is in flight
	}{
		{name: "an ack alone", during: 0, wantCalls: nil},
		{name: "acks during a call share the next", during: 3, wantCalls: []int{3}},
		{name: "ten fill one call", during: 10, wantCalls: []int{10}},
		{name: "more than ten at once", during: 23, wantCalls: []int{3, 10, 10}},
		{name: "close deletes what waits", during: 4, wantCalls: []int{4}, close: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, f, logs := newTestDeleter(t)
			first := d.delete(aws.String("rh-first"), "m-first")
			c := f.next(t)
			if got := c.handles(); !slices.Equal(got, []string{"rh-first"}) {
				t.Fatalf("first call deletes %v, want the one ack at once", got)
			}
			var dones []<-chan struct{}
			want := map[string]bool{}
			for i := range tc.during {
				h := "rh-" + strconv.Itoa(i)
				want[h] = true
				dones = append(dones, d.delete(aws.String(h), "m-"+strconv.Itoa(i)))
			}
			waitPending(t, d, tc.during)
			closed := make(chan struct{})
			if tc.close {
				go func() {
					defer close(closed)
					d.Close()
				}()
				// Close has begun (and waits) before the call in flight ends.
				for !d.isClosed() {
					time.Sleep(time.Millisecond)
				}
			}
			c.ok()
			waitDone(t, first, "first")
			// The next calls are all in flight before any is answered.
			var calls []deleteCall
			var sizes []int
			for range tc.wantCalls {
				c := f.next(t)
				calls = append(calls, c)
				sizes = append(sizes, len(c.in.Entries))
				ids := map[string]bool{}
				for _, e := range c.in.Entries {
					h := aws.ToString(e.ReceiptHandle)
					if !want[h] {
						t.Errorf("handle %s deleted twice or never acked", h)
					}
					delete(want, h)
					if ids[aws.ToString(e.Id)] {
						t.Errorf("entry id %s twice in one call", aws.ToString(e.Id))
					}
					ids[aws.ToString(e.Id)] = true
				}
			}
			slices.Sort(sizes)
			if !slices.Equal(sizes, tc.wantCalls) {
				t.Errorf("calls of %v entries, want %v", sizes, tc.wantCalls)
			}
			if len(want) > 0 {
				t.Errorf("acks never sent: %v", want)
			}
			for _, c := range calls {
				c.ok()
			}
			for i, done := range dones {
				waitDone(t, done, "ack "+strconv.Itoa(i))
			}
			if tc.close {
				<-closed
			} else {
				d.Close()
			}
			select {
			case c := <-f.calls:
				t.Errorf("an extra call deleting %v", c.handles())
			default:
			}
			if got := logs.uuidsLogged(t); len(got) > 0 {
				t.Errorf("errors logged for %v", got)
			}
		})
	}
}

// TestDeleterFailures: an entry that fails because the message is gone
// (deleted already) is not an error; any other failed entry, and every
// entry of a call that failed, is logged by its message UUID (it will be
// handled again after its visibility timeout).
func TestDeleterFailures(t *testing.T) {
	notFound := sqstypes.BatchResultErrorEntry{Code: aws.String("1"), Message: aws.String("Message not found"), SenderFault: true}
	invalid := sqstypes.BatchResultErrorEntry{Code: aws.String("ReceiptHandleIsInvalid"), Message: aws.String("The input receipt handle is invalid."), SenderFault: true}
	internal := sqstypes.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("We encountered an internal error."), SenderFault: false}
	cases := []struct {
		name       string
		failed     map[int]sqstypes.BatchResultErrorEntry // by entry index
		callErr    error
		wantLogged []string
	}{
		{name: "all deleted", wantLogged: nil},
		{name: "already deleted", failed: map[int]sqstypes.BatchResultErrorEntry{0: notFound, 2: notFound}, wantLogged: nil},
		{name: "invalid handle", failed: map[int]sqstypes.BatchResultErrorEntry{1: invalid}, wantLogged: []string{"m-1"}},
		{name: "mixed", failed: map[int]sqstypes.BatchResultErrorEntry{0: notFound, 1: internal, 2: invalid}, wantLogged: []string{"m-1", "m-2"}},
		{name: "call failed", callErr: errors.New("connection refused"), wantLogged: []string{"m-0", "m-1", "m-2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, f, logs := newTestDeleter(t)
			// A first call in flight gathers the three into one.
			first := d.delete(aws.String("rh-first"), "m-first")
			held := f.next(t)
			var dones []<-chan struct{}
			for i := range 3 {
				dones = append(dones, d.delete(aws.String(fmt.Sprintf("rh-%d", i)), fmt.Sprintf("m-%d", i)))
			}
			waitPending(t, d, 3)
			held.ok()
			waitDone(t, first, "first")
			c := f.next(t)
			if len(c.in.Entries) != 3 {
				t.Fatalf("call of %d entries, want 3", len(c.in.Entries))
			}
			if tc.callErr != nil {
				c.answer <- deleteAnswer{err: tc.callErr}
			} else {
				out := &sqs.DeleteMessageBatchOutput{}
				for i, e := range c.in.Entries {
					if fe, ok := tc.failed[i]; ok {
						fe.Id = e.Id
						out.Failed = append(out.Failed, fe)
					} else {
						out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
					}
				}
				c.answer <- deleteAnswer{out: out}
			}
			for i, done := range dones {
				waitDone(t, done, "ack "+strconv.Itoa(i))
			}
			if got := logs.uuidsLogged(t); !slices.Equal(got, tc.wantLogged) {
				t.Errorf("logged %v, want %v", got, tc.wantLogged)
			}
		})
	}
}

func (d *batchDeleter) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// A call that never returns is given up after the deleter's call timeout:
// its acks are logged and their handlers freed, and the next acks are
// deleted, instead of the whole queue waiting behind it.
func TestDeleterCallTimeout(t *testing.T) {
	f, logs := newFakeDeleteAPI(), &logBuffer{}
	d := newBatchDeleter(f, fakeQueueURL, slog.New(slog.NewJSONHandler(logs, nil)))
	d.callTimeout = 50 * time.Millisecond
	d.start()
	t.Cleanup(d.Close)

	hung := d.delete(aws.String("h1"), "u1")
	f.next(t) // never answered
	select {
	case <-hung:
	case <-time.After(20 * time.Second):
		t.Fatal("a hung DeleteMessageBatch call held its ack")
	}
	if got := logs.uuidsLogged(t); !slices.Equal(got, []string{"u1"}) {
		t.Fatalf("logged %q, want the hung call's message", got)
	}
	next := d.delete(aws.String("h2"), "u2")
	c := f.next(t)
	if !slices.Equal(c.handles(), []string{"h2"}) {
		t.Fatalf("next call deletes %q, want h2", c.handles())
	}
	c.ok()
	<-next
}
