package faultproxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/faultproxy"
)

// backend is a real HTTP server: /ok answers at once, /slow holds the
// request until release is closed or the client goes away.
func backend(t *testing.T) (addr string, inSlow chan struct{}, release chan struct{}) {
	t.Helper()
	inSlow, release = make(chan struct{}, 8), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inSlow <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		srv.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://"), inSlow, release
}

// client opens a new connection per request, as a fresh SDK client after
// a reset would.
var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if string(b) != "ok" {
		return io.ErrUnexpectedEOF
	}
	return nil
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name string
		// fault runs with the proxy and the URL of /slow's request channel.
		run       func(t *testing.T, p *faultproxy.Proxy, inSlow, release chan struct{})
		wantStats faultproxy.Stats
	}{
		{
			name: "forwards",
			run: func(t *testing.T, p *faultproxy.Proxy, _, _ chan struct{}) {
				for range 3 {
					if err := get(p.URL() + "/ok"); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantStats: faultproxy.Stats{Accepted: 3},
		},
		{
			name: "refuses for a window, then forwards",
			run: func(t *testing.T, p *faultproxy.Proxy, _, _ chan struct{}) {
				p.Refuse(300 * time.Millisecond)
				if !p.IsDown() {
					t.Error("IsDown false inside the window")
				}
				if err := get(p.URL() + "/ok"); err == nil {
					t.Fatal("request through a refusing proxy succeeded")
				}
				time.Sleep(400 * time.Millisecond)
				if err := get(p.URL() + "/ok"); err != nil {
					t.Fatalf("after the window: %v", err)
				}
			},
			wantStats: faultproxy.Stats{Accepted: 1, Refused: 1},
		},
		{
			name: "up ends the window early",
			run: func(t *testing.T, p *faultproxy.Proxy, _, _ chan struct{}) {
				p.Down(time.Hour)
				if err := get(p.URL() + "/ok"); err == nil {
					t.Fatal("request through a down proxy succeeded")
				}
				p.Up()
				if err := get(p.URL() + "/ok"); err != nil {
					t.Fatalf("after Up: %v", err)
				}
			},
			wantStats: faultproxy.Stats{Accepted: 1, Refused: 1},
		},
		{
			name: "cut resets a request in flight; new ones go on",
			run: func(t *testing.T, p *faultproxy.Proxy, inSlow, release chan struct{}) {
				errc := make(chan error, 1)
				go func() { errc <- get(p.URL() + "/slow") }()
				<-inSlow
				if n := p.Cut(); n != 1 {
					t.Errorf("Cut cut %d connections, want 1", n)
				}
				if err := <-errc; err == nil {
					t.Fatal("the cut request succeeded")
				}
				if err := get(p.URL() + "/ok"); err != nil {
					t.Fatalf("after the cut: %v", err)
				}
			},
			wantStats: faultproxy.Stats{Accepted: 2, Cut: 1},
		},
		{
			name: "down cuts open connections too",
			run: func(t *testing.T, p *faultproxy.Proxy, inSlow, release chan struct{}) {
				errc := make(chan error, 1)
				go func() { errc <- get(p.URL() + "/slow") }()
				<-inSlow
				p.Down(time.Hour)
				if err := <-errc; err == nil {
					t.Fatal("the request in flight survived Down")
				}
			},
			wantStats: faultproxy.Stats{Accepted: 1, Cut: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, inSlow, release := backend(t)
			p, err := faultproxy.New(addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			tc.run(t, p, inSlow, release)
			if got := p.Stats(); got != tc.wantStats {
				t.Errorf("stats %+v, want %+v", got, tc.wantStats)
			}
		})
	}
}

func TestDialFailure(t *testing.T) {
	addr, _, _ := backend(t)
	p, err := faultproxy.New(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dead, err := faultproxy.New("127.0.0.1:1", nil) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if err := get(dead.URL() + "/ok"); err == nil {
		t.Fatal("request to a dead target succeeded")
	}
	if s := dead.Stats(); s.DialFails != 1 {
		t.Errorf("stats %+v, want one dial failure", s)
	}
	if _, err := faultproxy.New("no-port", nil); err == nil {
		t.Error("New accepted a target without a port")
	}
}

func TestControl(t *testing.T) {
	addr, _, _ := backend(t)
	p, err := faultproxy.New(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctl, err := p.ServeControl(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string) int {
		resp, err := client.Post("http://"+ctl+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		path      string
		code      int
		reachable bool
	}{
		{"/down?for=1h", http.StatusNoContent, false},
		{"/up", http.StatusNoContent, true},
		{"/refuse?for=1h", http.StatusNoContent, false},
		{"/up", http.StatusNoContent, true},
		{"/down?for=soon", http.StatusBadRequest, true},
		{"/refuse", http.StatusBadRequest, true},
		{"/cut", http.StatusOK, true},
	}
	for _, s := range steps {
		if code := post(s.path); code != s.code {
			t.Errorf("POST %s: %d, want %d", s.path, code, s.code)
		}
		if err := get(p.URL() + "/ok"); (err == nil) != s.reachable {
			t.Errorf("after POST %s: reachable=%v, want %v (%v)", s.path, err == nil, s.reachable, err)
		}
	}
	resp, err := client.Get("http://" + ctl + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st faultproxy.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	// Cut may catch the previous request's pair before its copiers noticed
	// the end; what was forwarded and refused is exact.
	if st.Accepted != 5 || st.Refused != 2 || st.Cut > 1 {
		t.Errorf("stats %+v, want 5 accepted, 2 refused", st)
	}
}
