package load

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// fleet is the scanner Deployment: Scale starts or stops scanner processes
// the way the ReplicaSet controller would (the newest pods go first). A
// stopped pod gets SIGTERM and, after the grace period, SIGKILL; with
// killAtOnce it gets SIGKILL straight away (a node lost, an OOM kill).
type fleet struct {
	start      func(name string) (*proc, error)
	grace      time.Duration
	killAtOnce bool
	log        *slog.Logger

	mu       sync.Mutex
	running  []*proc
	all      []*proc
	next     int
	stopping sync.WaitGroup

	Terms, Kills, GraceKills int // SIGTERMs sent, SIGKILLs at once, SIGKILLs after the grace period
}

// Scale brings the running scanners to n. It fails when a scanner cannot
// start or one died by itself (a crash is a finding, not noise); scaling to
// 0 stops the others all the same, so that a failed run leaves no scanner
// behind.
func (f *fleet) Scale(n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var crashed error
	for _, p := range f.running {
		if p.Exited() && crashed == nil {
			crashed = fmt.Errorf("scanner %s exited by itself: %v (see %s)", p.Name, p.Err(), p.Log)
		}
	}
	if crashed != nil && n > 0 {
		return crashed
	}
	for len(f.running) < n {
		f.next++
		p, err := f.start(fmt.Sprintf("scanner-%d", f.next))
		if err != nil {
			return err
		}
		f.running = append(f.running, p)
		f.all = append(f.all, p)
	}
	for len(f.running) > n {
		p := f.running[len(f.running)-1]
		f.running = f.running[:len(f.running)-1]
		f.stopping.Add(1)
		if f.killAtOnce {
			f.Kills++
			go func() { defer f.stopping.Done(); p.Kill() }()
			continue
		}
		f.Terms++
		go func() {
			defer f.stopping.Done()
			if p.Terminate(f.grace) {
				f.mu.Lock()
				f.GraceKills++
				f.mu.Unlock()
				f.log.Warn("scanner killed after the grace period", slog.String("scanner", p.Name), slog.Duration("grace", f.grace))
			} else if p.Err() != nil {
				f.log.Warn("scanner exited non-zero after SIGTERM", slog.String("scanner", p.Name), slog.Any("err", p.Err()))
			}
		}()
	}
	return crashed
}

func (f *fleet) sampleRSS() {
	f.mu.Lock()
	procs := append([]*proc(nil), f.running...)
	f.mu.Unlock()
	for _, p := range procs {
		p.SampleRSS()
	}
}

// stopAll stops every scanner and waits for every stop to finish.
func (f *fleet) stopAll() error {
	err := f.Scale(0)
	f.stopping.Wait()
	return err
}

// peak is the largest scanner peak RSS and how many scanners ran.
func (f *fleet) peak() (int64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m int64
	for _, p := range f.all {
		m = max(m, p.PeakRSS())
	}
	return m, len(f.all)
}

// cpuTime is the CPU every scanner that ran has used (once stopped).
func (f *fleet) cpuTime() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d time.Duration
	for _, p := range f.all {
		d += p.CPUTime()
	}
	return d
}

// anyRunning is the oldest running scanner, or nil.
func (f *fleet) anyRunning() *proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.running {
		if !p.Exited() {
			return p
		}
	}
	return nil
}
