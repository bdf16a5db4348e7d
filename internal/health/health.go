// Package health serves the operational endpoints every service exposes on
// -health-addr: /healthz (the process is alive), /readyz (it is connected
// and consuming: a check the service sets once its router runs) and
// /metrics (Prometheus). It is not an API: nothing here reads or changes
// pipeline state.
package health

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports why the service is not ready, or nil.
type Check func(ctx context.Context) error

// Config configures New.
type Config struct {
	// Addr is the listen address (default ":8080"; ":0" picks a port).
	Addr string
	// Gatherer serves /metrics (default prometheus.DefaultGatherer).
	Gatherer prometheus.Gatherer
	// CheckTimeout bounds one readiness check (default 2s, under the
	// kubelet's default 1s probe timeout plus its retries).
	CheckTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop of the HTTP server (default 5s).
	ShutdownTimeout time.Duration
	// Pprof also serves net/http/pprof under /debug/pprof/ (off by
	// default: a profile costs CPU while it runs, and the port is the
	// probes' and Prometheus's, not the world's).
	Pprof  bool
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	c.Addr = cmp.Or(c.Addr, ":8080")
	if c.Gatherer == nil {
		c.Gatherer = prometheus.DefaultGatherer
	}
	c.CheckTimeout = cmp.Or(c.CheckTimeout, 2*time.Second)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, 5*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("health address %q: %w", c.Addr, err))
	}
	if c.CheckTimeout < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("health: negative timeout"))
	}
	return errors.Join(errs...)
}

// Server is the health and metrics HTTP server.
type Server struct {
	cfg   Config
	ready atomic.Pointer[Check]
	mux   *http.ServeMux

	mu       sync.Mutex
	listener net.Listener
}

// New returns a server that reports not ready until SetReady.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return s, nil
}

// SetReady installs the readiness check (nil: not ready again, as when the
// service starts shutting down).
func (s *Server) SetReady(c Check) {
	if c == nil {
		s.ready.Store(nil)
		return
	}
	s.ready.Store(&c)
}

// Handler serves the three endpoints (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c := s.ready.Load()
	if c == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: starting or stopping\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckTimeout)
	defer cancel()
	if err := (*c)(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Listen binds the address; Run calls it when it has not been called.
// Calling it first lets a caller learn the port of ":0" (Addr) before Run.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("health: listen on %s: %w", s.cfg.Addr, err)
	}
	s.listener = ln
	return nil
}

// Addr is the bound address ("" before Listen).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Run serves until ctx ends, then shuts down gracefully (in-flight
// requests finish within ShutdownTimeout). It returns nil after a clean
// stop.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second, // a big /metrics scrape
		IdleTimeout:       60 * time.Second,
	}
	s.mu.Lock()
	ln := s.listener
	s.mu.Unlock()
	s.cfg.Logger.Info("health server listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("health server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("health server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("health server: %w", err)
	}
	return nil
}

// RouterRunning is ready while r runs its handlers (every subscription
// made) and is not closing.
func RouterRunning(r *message.Router) Check {
	return func(context.Context) error {
		switch {
		case r.IsClosed():
			return errors.New("router closing")
		case !r.IsRunning():
			return errors.New("router not running yet")
		}
		return nil
	}
}

// Flags are the health server's flags, as given.
type Flags struct {
	Addr  string
	Pprof bool
}

// Register adds -health-addr (HEALTH_ADDR) and -pprof (PPROF) to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Addr, "health-addr", ":8080", "listen address of /healthz, /readyz and /metrics")
	fs.BoolVar(&f.Pprof, "pprof", false, "also serve Go's profiler on the health address under /debug/pprof/ (for profiling a load run; off in production)")
}

// Config returns the server configuration (Gatherer and Logger are the
// caller's).
func (f Flags) Config() Config { return Config{Addr: f.Addr, Pprof: f.Pprof} }

// Serve runs the server for as long as run runs: /readyz answers with ready
// from the start (ready itself says when the service consumes), turns
// unready as soon as run returns (shutdown or failure), and the server then
// stops. It returns run's error, or the server's if it failed first.
func (s *Server) Serve(ctx context.Context, ready Check, run func(context.Context) error) error {
	if err := s.Listen(); err != nil {
		return err
	}
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvErr := make(chan error, 1)
	go func() { srvErr <- s.Run(srvCtx) }()
	s.SetReady(ready)

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	runErr := make(chan error, 1)
	go func() { runErr <- run(runCtx) }()
	var err error
	select {
	case err = <-runErr:
	case err = <-srvErr:
		// The probes cannot reach a service whose health server died: stop.
		cancelRun()
		<-runErr
		s.SetReady(nil)
		return err
	}
	s.SetReady(nil)
	stopSrv()
	if serr := <-srvErr; err == nil {
		err = serr
	}
	return err
}
