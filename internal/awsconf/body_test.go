package awsconf

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/configservice"
)

// opaqueBody hides its reader's type from net/http, as the SDK's
// SafeReadCloser does.
type opaqueBody struct {
	r      io.Reader
	closed atomic.Bool
}

func (o *opaqueBody) Read(p []byte) (int, error) { return o.r.Read(p) }
func (o *opaqueBody) Close() error               { o.closed.Store(true); return nil }

// writeCounter counts the writes made on the connections it dials.
type writeCounter struct {
	mu     sync.Mutex
	writes int
}

func (w *writeCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, w: w}, nil
}

func (w *writeCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

type countingConn struct {
	net.Conn
	w *writeCounter
}

func (c countingConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes++
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

func TestInMemoryBody(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
	}))
	t.Cleanup(srv.Close)
	big := strings.Repeat("x", maxBufferedBody+1)
	tests := []struct {
		name       string
		body       string
		length     int64 // -1: unknown
		wantWrites int
	}{
		{"small body, one write", `{"ConfigRuleNames":["r1"]}`, 26, 1},
		{"body over the limit, as net/http sends it", big, int64(len(big)), -1},
		{"unknown length, as net/http sends it", "chunked body", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := &writeCounter{}
			c := inMemoryBody{c: &http.Client{Transport: &http.Transport{DialContext: wc.dial}}}
			do := func() {
				body := &opaqueBody{r: strings.NewReader(tt.body)}
				req, err := http.NewRequest(http.MethodPost, srv.URL, body)
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = tt.length
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if !body.closed.Load() {
					t.Error("the SDK's body was not closed")
				}
				if got.Load() != tt.body {
					t.Errorf("server read %d bytes, want %d", len(got.Load().(string)), len(tt.body))
				}
			}
			do() // dials
			before := wc.count()
			do() // reuses the connection
			if n := wc.count() - before; tt.wantWrites > 0 && n != tt.wantWrites {
				t.Errorf("%d writes for one request, want %d", n, tt.wantWrites)
			}
		})
	}
}

// TestInMemoryBodyLengthMismatch: a body shorter or longer than its
// ContentLength is refused before anything is sent, as net/http does.
func TestInMemoryBodyLengthMismatch(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		body   string
		length int64
		want   string
	}{
		{"short", 10, "unexpected EOF"},
		{"longer than said", 4, "longer than ContentLength"},
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL, &opaqueBody{r: strings.NewReader(tc.body)})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = tc.length
		_, err = inMemoryBody{c: srv.Client()}.Do(req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("body %q, ContentLength %d: error %v, want one saying %q", tc.body, tc.length, err, tc.want)
		}
	}
	if calls.Load() != 0 {
		t.Error("a body whose length did not match was sent")
	}
}

// TestLoadSendsBodyInMemory: the client Load returns is the one that reads
// bodies ahead, and SDK calls still arrive whole and signed.
func TestLoadSendsBodyInMemory(t *testing.T) {
	var body atomic.Value
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"ConfigRules":[]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := load(t, srv.URL, Options{})
	if _, ok := cfg.HTTPClient.(inMemoryBody); !ok {
		t.Fatalf("HTTPClient is %T, want inMemoryBody", cfg.HTTPClient)
	}
	name := "rule-1"
	if _, err := configservice.NewFromConfig(cfg).DescribeConfigRules(context.Background(),
		&configservice.DescribeConfigRulesInput{ConfigRuleNames: []string{name}}); err != nil {
		t.Fatal(err)
	}
	if b := body.Load().(string); b != `{"ConfigRuleNames":["rule-1"]}` {
		t.Errorf("body %q", b)
	}
	if a := auth.Load().(string); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") {
		t.Errorf("Authorization %q, want SigV4", a)
	}
}
