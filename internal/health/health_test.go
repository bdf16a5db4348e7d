package health_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/health"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// start runs a server on a free loopback port until the returned stop.
func start(t *testing.T, cfg health.Config) (*health.Server, string, func() error) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := health.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("server did not stop within 10s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, "http://" + s.Addr(), stop
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "configreport_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Add(3)
	s, base, stop := start(t, health.Config{Gatherer: reg})

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("/readyz before SetReady = %d %q", code, body)
	}
	failing := errors.New("router not running yet")
	s.SetReady(func(context.Context) error { return failing })
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, failing.Error()) {
		t.Errorf("/readyz failing = %d %q", code, body)
	}
	s.SetReady(func(context.Context) error { return nil })
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz ready = %d", code)
	}
	s.SetReady(nil)
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Errorf("/readyz after SetReady(nil) = %d", code)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "configreport_test_total 3") {
		t.Errorf("/metrics = %d %.200q", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("unknown path = %d", code)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Errorf("/debug/pprof/ without Pprof = %d, want 404", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get(base + "/healthz"); err == nil {
		t.Error("server still answers after stop")
	}
}

func TestReadyCheckTimeout(t *testing.T) {
	s, base, _ := start(t, health.Config{Gatherer: prometheus.NewRegistry(), CheckTimeout: 50 * time.Millisecond})
	s.SetReady(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "deadline") {
		t.Errorf("slow check = %d %q", code, body)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	s, base, stop := start(t, health.Config{Gatherer: prometheus.NewRegistry(), CheckTimeout: 5 * time.Second})
	entered := make(chan struct{})
	release := make(chan struct{})
	s.SetReady(func(context.Context) error {
		close(entered)
		<-release
		return nil
	})
	res := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			res <- -1
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if code := <-res; code != 200 {
		t.Errorf("in-flight request got %d during shutdown, want 200", code)
	}
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

func TestRouterRunning(t *testing.T) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	r.AddConsumerHandler("h", "t", pubsub, func(*message.Message) error { return nil })
	check := health.RouterRunning(r)
	ctx := context.Background()
	if err := check(ctx); err == nil {
		t.Error("ready before Run")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	<-r.Running()
	if err := check(ctx); err != nil {
		t.Errorf("not ready while running: %v", err)
	}
	cancel()
	<-done
	if err := check(ctx); err == nil {
		t.Error("ready after close")
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := health.New(health.Config{Addr: "no-port"}); err == nil {
		t.Error("address without port accepted")
	}
	if _, err := health.New(health.Config{Addr: ":0", CheckTimeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var f health.Flags
	f.Register(fs)
	if err := fs.Parse([]string{"-health-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := health.New(f.Config()); err != nil {
		t.Fatal(err)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	f = health.Flags{}
	f.Register(fs)
	_ = fs.Parse(nil)
	if f.Config().Addr != ":8080" {
		t.Errorf("default %q", f.Config().Addr)
	}
}

func TestServe(t *testing.T) {
	s, err := health.New(health.Config{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(ctx, func(context.Context) error { return nil }, func(ctx context.Context) error {
			close(running)
			<-ctx.Done()
			return errors.New("stopped: " + ctx.Err().Error())
		})
	}()
	<-running
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz while running = %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped: context canceled") {
			t.Errorf("Serve returned %v, want run's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get(base + "/healthz"); err == nil {
		t.Error("server still up after Serve returned")
	}
}

func TestPprofOptIn(t *testing.T) {
	_, base, stop := start(t, health.Config{Gatherer: prometheus.NewRegistry(), Pprof: true})
	defer func() { _ = stop() }()
	if code, body := get(t, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d %.100q", code, body)
	}
	if code, body := get(t, base+"/debug/pprof/profile?seconds=1"); code != 200 || len(body) == 0 {
		t.Errorf("/debug/pprof/profile = %d, %d bytes", code, len(body))
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var f health.Flags
	f.Register(fs)
	if err := fs.Parse([]string{"-pprof"}); err != nil || !f.Config().Pprof {
		t.Errorf("-pprof: %v, Pprof %v", err, f.Config().Pprof)
	}
}
