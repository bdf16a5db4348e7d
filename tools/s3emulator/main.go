// Command s3emulator serves an in-memory S3 (gofakes3, pinned in go.mod) on
// loopback for the integration tests and `make e2e`. It is test
// infrastructure, started by scripts/emulators/s3.sh; production talks to
// AWS S3. Path-style addressing only (http://127.0.0.1:PORT/bucket/key).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "s3emulator:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free one)")
	addrFile := flag.String("addr-file", "", "write the endpoint URL to this file once listening")
	buckets := flag.String("buckets", "", "comma-separated buckets to create at start")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	backend := s3mem.New()
	for _, b := range strings.Split(*buckets, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if err := backend.CreateBucket(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	fake := gofakes3.New(backend,
		gofakes3.WithLogger(gofakes3.GlobalLog()),
		// The SDK signs with the machine's clock; a generous skew keeps a
		// slow CI machine from failing with RequestTimeTooSkewed.
		gofakes3.WithTimeSkewLimit(time.Hour),
	)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile+".tmp", []byte(url+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
			return err
		}
	}
	logger.Info("s3 emulator listening", slog.String("endpoint", url))
	srv := &http.Server{Handler: fake.Server(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
