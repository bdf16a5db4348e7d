package load

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"
)

// profileRun waits until ProfileAt after started, then takes a CPU profile
// of ProfileFor from the aggregator and from one running scanner at once
// (their /debug/pprof/profile, served with -pprof), into cfg.Out. A
// profile that cannot be taken (the process stopped meanwhile) is logged
// and left out: profiling informs, it does not judge the run.
func profileRun(ctx context.Context, cfg Config, started time.Time, agg *proc, fl *fleet, log *slog.Logger) []string {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Until(started.Add(cfg.ProfileAt))):
	}
	targets := map[string]*proc{"aggregator": agg}
	if s := fl.anyRunning(); s != nil {
		targets["scanner"] = s
	} else {
		log.Warn("no scanner running to profile", slog.Duration("at", cfg.ProfileAt))
	}
	var (
		mu    sync.Mutex
		paths []string
		wg    sync.WaitGroup
	)
	for name, p := range targets {
		wg.Go(func() {
			path := filepath.Join(cfg.Out, name+".pprof")
			addr := p.Health
			if addr == "" {
				addr, _ = findListenAddr(p.Log)
			}
			if err := fetchProfile(ctx, addr, cfg.ProfileFor, path); err != nil {
				log.Warn("CPU profile not taken", slog.String("process", p.Name), slog.Any("error", err))
				return
			}
			log.Info("CPU profile taken", slog.String("process", p.Name), slog.String("path", path))
			mu.Lock()
			paths = append(paths, path)
			mu.Unlock()
		})
	}
	wg.Wait()
	return paths
}

func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	if addr == "" {
		return fmt.Errorf("no health address")
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return writeFile(path, resp.Body)
}
