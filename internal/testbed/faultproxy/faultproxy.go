// Package faultproxy is a TCP proxy on loopback, put in front of an emulator
// (S3, DynamoDB, SQS) by the chaos suite, that can refuse new connections or
// cut the open ones for a window of time: the faults of a network partition
// or a service outage, made from outside the code under test, which only
// sees its endpoint stop answering.
//
// It is test infrastructure: it forwards bytes, it does not parse HTTP, and
// it never slows or corrupts traffic (awssim's switches do latency and error
// answers). It listens on 127.0.0.1 only.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Stats counts what the proxy did, for the suite's "faults injected".
type Stats struct {
	Accepted  int64 `json:"accepted"`  // connections forwarded
	Refused   int64 `json:"refused"`   // connections reset on arrival while down
	Cut       int64 `json:"cut"`       // open connections reset by Cut or Down
	DialFails int64 `json:"dialFails"` // connections whose target did not answer
}

// Proxy forwards every connection to one target address.
type Proxy struct {
	target string
	ln     net.Listener
	log    *slog.Logger

	mu        sync.Mutex
	downUntil time.Time
	conns     map[net.Conn]struct{} // both sides of every open pair
	stats     Stats
	now       func() time.Time
	wg        sync.WaitGroup
	closed    bool
}

// New listens on 127.0.0.1 (a free port) and forwards to target
// (host:port). Close stops it.
func New(target string, logger *slog.Logger) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy target %q: %w", target, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, log: logger.With(slog.String("proxy", ln.Addr().String()), slog.String("target", target)),
		conns: map[net.Conn]struct{}{}, now: time.Now}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is http://Addr, for an endpoint variable.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Down refuses new connections and cuts the open ones for d: the service
// behind is unreachable until the window ends (or Up).
func (p *Proxy) Down(d time.Duration) {
	p.Refuse(d)
	p.Cut()
}

// Refuse resets every new connection for d; open ones go on.
func (p *Proxy) Refuse(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downUntil = p.now().Add(d)
	p.log.Info("faultproxy: refusing connections", slog.Duration("for", d))
}

// Up ends a Refuse or Down window now.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downUntil = time.Time{}
}

// IsDown reports whether new connections are refused now.
func (p *Proxy) IsDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now().Before(p.downUntil)
}

// Cut resets every open connection (both sides), as a network failure
// mid-request would; new ones are accepted unless the proxy is down.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
		n++
	}
	// Each forwarded connection is a pair.
	p.stats.Cut += int64(n / 2)
	if n > 0 {
		p.log.Info("faultproxy: connections cut", slog.Int("connections", n/2))
	}
	return n / 2
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops accepting, cuts every connection and waits for the copiers.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

// reset closes c with an RST rather than a FIN, so the client sees
// "connection reset by peer", not a clean end of response.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.refusedLocked() {
			p.mu.Unlock()
			reset(c)
			continue
		}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.forward(c)
	}
}

// refusedLocked counts a connection refused because the proxy is closed or
// down, and says whether it was. p.mu is held.
func (p *Proxy) refusedLocked() bool {
	if p.closed || p.now().Before(p.downUntil) {
		p.stats.Refused++
		return true
	}
	return false
}

func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.mu.Lock()
		p.stats.DialFails++
		p.mu.Unlock()
		reset(client)
		return
	}
	p.mu.Lock()
	if p.refusedLocked() { // went down while dialling
		p.mu.Unlock()
		reset(client)
		reset(upstream)
		return
	}
	p.stats.Accepted++
	p.conns[client], p.conns[upstream] = struct{}{}, struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
	p.mu.Lock()
	_, open := p.conns[client]
	delete(p.conns, client)
	delete(p.conns, upstream)
	p.mu.Unlock()
	if open {
		_ = client.Close()
		_ = upstream.Close()
	}
}

// Handler is the control API, for a proxy driven by another process:
//
//	POST /down?for=5s    refuse new connections and cut open ones for 5 s
//	POST /refuse?for=5s  refuse new connections for 5 s
//	POST /cut            cut open connections
//	POST /up             end the window now
//	GET  /stats          the counters, JSON
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	window := func(f func(time.Duration)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			d, err := time.ParseDuration(r.URL.Query().Get("for"))
			if err != nil || d <= 0 {
				http.Error(w, "for: a positive duration such as 5s", http.StatusBadRequest)
				return
			}
			f(d)
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("POST /down", window(p.Down))
	mux.HandleFunc("POST /refuse", window(p.Refuse))
	mux.HandleFunc("POST /cut", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"cut":%s}`+"\n", strconv.Itoa(p.Cut()))
	})
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, _ *http.Request) {
		p.Up()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		s := p.Stats()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"accepted":%d,"refused":%d,"cut":%d,"dialFails":%d}`+"\n", s.Accepted, s.Refused, s.Cut, s.DialFails)
	})
	return mux
}

// ServeControl serves Handler on 127.0.0.1:port (0: a free one) until ctx
// ends, returning the control address once listening.
func (p *Proxy) ServeControl(ctx context.Context, port int) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("faultproxy control listen: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("faultproxy control server", slog.Any("error", err))
		}
	}()
	return ln.Addr().String(), nil
}
