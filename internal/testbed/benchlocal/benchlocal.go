// Package benchlocal is the side-by-side speed benchmark of local mode
// (bin/local) against the thread-pool peer
// (bench/peer/peer.py, the old script's design on boto3) scanning the same
// awssim organisation, 1,000 accounts × 2 regions at 20 ms per call.
//
// It starts awssim as a child process, runs each contender as a child
// process several times (rounds interleaved, so the neighbours' load on a
// shared machine falls on all of them alike), measures wall time and the
// child's CPU (user + sys from wait4's rusage, which includes the child's
// own children), reads awssim's call counters after every run, checks that
// every run did the whole job (a workbook with every ACTIVE account and
// every finding; the peer's summary likewise), and prints medians, the
// limit and the targets. It is a benchmark, run by `make bench-local`, not a
// test: it asserts correctness, never timings.
package benchlocal

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// Config is what cmd/benchlocal's flags say.
type Config struct {
	AwssimBin string // built cmd/awssim
	LocalBin  string // built cmd/local
	// FloorBin is the built bench/floor, the plain-SDK program making a
	// scan's calls: when set, it runs at HighConcurrency beside local mode
	// and local mode's CPU per call is printed as a ratio of its.
	FloorBin string
	Python   string // the interpreter with Debian's python3-boto3
	PeerPy   string // bench/peer/peer.py
	Out      string // working folder: logs, workbooks, summaries, profile

	Accounts int
	Seed     int64
	Regions  []string
	Latency  time.Duration // awssim's mean latency per call

	// NoPeer runs local mode alone, at HighConcurrency: its latency-limit target
	// (its wall against its own latency limit, with its calls) in minutes
	// instead of the peer's 25, and without python.
	NoPeer bool

	Runs            int // per contender; medians are reported. 0: the profiled run only
	LowConcurrency  int // local mode against the peer
	PeerThreads     int
	HighConcurrency int // local mode against the limit

	RateWorkers  int           // goroutines measuring R
	RateDuration time.Duration // its window

	// CPUProfile, when set, adds one in-process local-mode run at
	// HighConcurrency under runtime/pprof and writes the profile there.
	CPUProfile string
	// Trace, with CPUProfile, also writes that run's execution trace
	// (go tool trace -pprof=sync|net|syscall shows where it waits).
	Trace string
	// ProfilePoll, when set, is the profiled run's local.Config
	// ProgressInterval (how often local mode looks for the emitted report):
	// an experiment on the run's tail; 0 keeps local mode's default.
	ProfilePoll time.Duration
}

func (c *Config) setDefaults() {
	c.AwssimBin = cmp.Or(c.AwssimBin, "bin/awssim")
	c.LocalBin = cmp.Or(c.LocalBin, "bin/local")
	c.Python = cmp.Or(c.Python, "/usr/bin/python3")
	c.PeerPy = cmp.Or(c.PeerPy, "bench/peer/peer.py")
	c.Out = cmp.Or(c.Out, "out/bench-local")
	c.Accounts = cmp.Or(c.Accounts, 1000)
	c.Seed = cmp.Or(c.Seed, 1)
	if len(c.Regions) == 0 {
		c.Regions = []string{"us-east-1", "ap-east-1"}
	}
	c.Latency = cmp.Or(c.Latency, 20*time.Millisecond)
	c.LowConcurrency = cmp.Or(c.LowConcurrency, 20)
	c.PeerThreads = cmp.Or(c.PeerThreads, 20)
	c.HighConcurrency = cmp.Or(c.HighConcurrency, 64)
	c.RateWorkers = cmp.Or(c.RateWorkers, 64)
	c.RateDuration = cmp.Or(c.RateDuration, 5*time.Second)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	files := []struct{ name, path string }{{"awssim", c.AwssimBin}, {"local", c.LocalBin}}
	if !c.NoPeer {
		files = append(files, []struct{ name, path string }{{"python", c.Python}, {"peer", c.PeerPy}}...)
	}
	if c.FloorBin != "" {
		files = append(files, struct{ name, path string }{"floor", c.FloorBin})
	}
	for _, f := range files {
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if c.Accounts < 1 {
		errs = append(errs, fmt.Errorf("accounts %d: want at least 1", c.Accounts))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %s: want 0 or more", c.Latency))
	}
	if c.Runs < 0 || (c.Runs == 0 && c.CPUProfile == "") {
		errs = append(errs, fmt.Errorf("runs %d: want at least 1 (or 0 with a CPU profile: the profiled run only)", c.Runs))
	}
	if c.Trace != "" && c.CPUProfile == "" {
		errs = append(errs, errors.New("trace: only with a CPU profile"))
	}
	for name, n := range map[string]int{"low concurrency": c.LowConcurrency, "peer threads": c.PeerThreads,
		"high concurrency": c.HighConcurrency, "rate workers": c.RateWorkers} {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s %d: want at least 1", name, n))
		}
	}
	if c.RateDuration <= 0 {
		errs = append(errs, fmt.Errorf("rate duration %s: want a positive duration", c.RateDuration))
	}
	return errors.Join(errs...)
}

// Result is a whole benchmark.
type Result struct {
	Rate    rateResult
	Rows    []row // local at low, peer, local at high
	Targets []verdict
	Profile *profileResult
}

// AllMet tells whether every target was met.
func (r Result) AllMet() bool {
	for _, v := range r.Targets {
		if !v.Met {
			return false
		}
	}
	return len(r.Targets) > 0
}

// contender is one program under measurement.
type contender struct {
	name string
	c    int
	run  func(ctx context.Context, sim *simProc, dir string) (sample, error)
}

// Run runs the benchmark and prints the table and targets to w.
func Run(ctx context.Context, cfg Config, w io.Writer, logger *slog.Logger) (Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	var res Result
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return res, err
	}
	// Both awssims of the run append to awssim.log: this run's only.
	if err := os.Remove(filepath.Join(cfg.Out, "awssim.log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	truthFull, err := groundTruth(cfg.Accounts, cfg.Seed, cfg.Regions)
	if err != nil {
		return res, err
	}
	regions := strings.Join(cfg.Regions, ",")
	fmt.Fprintf(w, "bench-local: %s, %d CPUs, %s, load average at start %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version(), loadAvg())

	// R first, on its own awssim at zero latency, while nothing else of
	// ours runs.
	const rateAccounts = 50
	truthRate, err := groundTruth(rateAccounts, cfg.Seed, cfg.Regions)
	if err != nil {
		return res, err
	}
	rsim, err := startSim(ctx, cfg.Out, cfg.AwssimBin, []string{"-accounts", strconv.Itoa(rateAccounts), "-seed", strconv.FormatInt(cfg.Seed, 10),
		"-regions", regions, "-latency", "0"})
	if err != nil {
		return res, err
	}
	res.Rate, err = measureRate(ctx, rsim, truthRate.org, cfg.Regions, cfg.RateWorkers, cfg.RateDuration)
	rsim.Stop()
	if err != nil {
		return res, err
	}
	if res.Rate.Failed > 0 {
		return res, fmt.Errorf("rate: %d of %d calls failed", res.Rate.Failed, res.Rate.Calls+res.Rate.Failed)
	}
	fmt.Fprintf(w, "R (awssim at -latency 0, %d keep-alive workers replaying signed Config calls for %s): %.0f calls/s; max_in_flight %d (control: at most %d)\n",
		res.Rate.Workers, cfg.RateDuration, res.Rate.PerSecond(), res.Rate.MaxInFlight, res.Rate.Workers)
	logger.Info("rate measured", slog.Float64("calls_per_s", res.Rate.PerSecond()), slog.Int64("max_in_flight", res.Rate.MaxInFlight))

	simArgs := []string{"-accounts", strconv.Itoa(cfg.Accounts), "-seed", strconv.FormatInt(cfg.Seed, 10),
		"-regions", regions, "-latency", cfg.Latency.String()}
	sim, err := startSim(ctx, cfg.Out, cfg.AwssimBin, simArgs)
	if err != nil {
		return res, err
	}
	defer sim.Stop()
	if err := os.WriteFile(filepath.Join(cfg.Out, "awssim.args"), []byte(strings.Join(simArgs, " ")+"\n"), 0o644); err != nil {
		return res, err
	}
	fmt.Fprintf(w, "awssim %s: %d ACTIVE accounts, %d findings expected\n", strings.Join(simArgs, " "), len(truthFull.Active), truthFull.Findings)

	high := contender{fmt.Sprintf("local -concurrency %d", cfg.HighConcurrency), cfg.HighConcurrency, localRunner(cfg, cfg.HighConcurrency, truthFull)}
	cs := []contender{
		{fmt.Sprintf("local -concurrency %d", cfg.LowConcurrency), cfg.LowConcurrency, localRunner(cfg, cfg.LowConcurrency, truthFull)},
		{fmt.Sprintf("peer, %d threads", cfg.PeerThreads), cfg.PeerThreads, peerRunner(cfg, truthFull)},
		high,
	}
	if cfg.NoPeer {
		cs = []contender{high}
	}
	if cfg.FloorBin != "" {
		cs = append(cs, contender{fmt.Sprintf("floor -concurrency %d", cfg.HighConcurrency), cfg.HighConcurrency, floorRunner(cfg, truthFull)})
	}
	samples := make([][]sample, len(cs))
	for round := 1; round <= cfg.Runs; round++ {
		for i, c := range cs {
			if err := sim.ResetStats(ctx); err != nil {
				return res, err
			}
			dir := filepath.Join(cfg.Out, fmt.Sprintf("run%d-%d", round, i))
			if err := os.RemoveAll(dir); err != nil {
				return res, err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return res, err
			}
			s, err := c.run(ctx, sim, dir)
			if err != nil {
				return res, fmt.Errorf("%s, run %d: %w", c.name, round, err)
			}
			st, err := sim.Stats(ctx)
			if err != nil {
				return res, err
			}
			s.Calls, s.MaxInFlight = st.Total, st.MaxInFlight
			s.ConfigCalls = st.ConfigCalls()
			samples[i] = append(samples[i], s)
			fmt.Fprintf(w, "run %d %-26s wall %7.2f s  CPU %7.2f s  calls %6d  max_in_flight %3d  load %s\n",
				round, c.name, s.Wall.Seconds(), s.CPU.Seconds(), s.Calls, s.MaxInFlight, loadAvg())
		}
	}
	if cfg.Runs > 0 {
		for i, c := range cs {
			res.Rows = append(res.Rows, summarise(c.name, c.c, samples[i], cfg.Latency, res.Rate.PerSecond()))
		}
		if cfg.NoPeer {
			res.Targets = localTargets(res.Rows[0])
		} else {
			res.Targets = targets(res.Rows[0], res.Rows[1], res.Rows[2])
		}
		if cfg.FloorBin != "" {
			res.Targets = append(res.Targets, floorTarget(res.Rows[len(res.Rows)-2], res.Rows[len(res.Rows)-1]))
		}
		fmt.Fprintln(w)
		printTable(w, res.Rows, res.Targets)
	}

	if cfg.CPUProfile != "" {
		if err := sim.ResetStats(ctx); err != nil {
			return res, err
		}
		p, err := profileLocal(ctx, cfg, sim, truthFull)
		if err != nil {
			return res, fmt.Errorf("profile: %w", err)
		}
		res.Profile = &p
		st, err := sim.Stats(ctx)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(w, "\nprofiled in-process run at -concurrency %d (progress/poll interval %s): wall %s, process CPU %s, %d calls, max_in_flight %d; profile %s (go tool pprof -top %s)\n",
			cfg.HighConcurrency, pollName(cfg.ProfilePoll), secs(p.Wall), secs(p.CPU), st.Total, st.MaxInFlight, cfg.CPUProfile, cfg.CPUProfile)
		fmt.Fprintf(w, "\nawssim's calls during the profiled run, every 250 ms (# = 4 in flight):\n\n")
		p.Timeline.print(w, cfg.Latency)
	}
	return res, nil
}

func localRunner(cfg Config, conc int, t truth) func(context.Context, *simProc, string) (sample, error) {
	return func(ctx context.Context, sim *simProc, dir string) (sample, error) {
		cmd := exec.CommandContext(ctx, cfg.LocalBin, "-out", dir, "-regions", strings.Join(cfg.Regions, ","),
			"-concurrency", strconv.Itoa(conc))
		cmd.Env = harness.SimClientEnv(os.Environ(), sim.Endpoint)
		var stdout bytes.Buffer
		s, err := timed(cmd, &stdout, filepath.Join(dir, "local.log"))
		if err != nil {
			return s, err
		}
		path := lastLine(stdout.String())
		if path == "" {
			return s, errors.New("local printed no workbook path")
		}
		if err := checkWorkbook(path, t); err != nil {
			return s, err
		}
		return s, nil
	}
}

// floorRunner runs bench/floor, checking that it read every finding the
// org has, so that its CPU per call is for the same work.
func floorRunner(cfg Config, t truth) func(context.Context, *simProc, string) (sample, error) {
	return func(ctx context.Context, sim *simProc, dir string) (sample, error) {
		cmd := exec.CommandContext(ctx, cfg.FloorBin, "-regions", strings.Join(cfg.Regions, ","),
			"-concurrency", strconv.Itoa(cfg.HighConcurrency))
		cmd.Env = harness.SimClientEnv(os.Environ(), sim.Endpoint)
		var stdout bytes.Buffer
		s, err := timed(cmd, &stdout, filepath.Join(dir, "floor.log"))
		if err != nil {
			return s, err
		}
		return s, checkFloor(lastLine(stdout.String()), t)
	}
}

func peerRunner(cfg Config, t truth) func(context.Context, *simProc, string) (sample, error) {
	return func(ctx context.Context, sim *simProc, dir string) (sample, error) {
		summary := filepath.Join(dir, "peer.json")
		cmd := exec.CommandContext(ctx, cfg.Python, cfg.PeerPy, "--threads", strconv.Itoa(cfg.PeerThreads),
			"--regions", strings.Join(cfg.Regions, ","), "--endpoint", sim.Endpoint, "--summary", summary)
		cmd.Env = harness.SimClientEnv(os.Environ(), sim.Endpoint)
		s, err := timed(cmd, io.Discard, filepath.Join(dir, "peer.log"))
		if err != nil {
			return s, err
		}
		ps, err := readPeerSummary(summary)
		if err != nil {
			return s, err
		}
		return s, checkPeer(ps, t)
	}
}

// timed runs cmd to completion, its stderr to logPath, and measures it.
func timed(cmd *exec.Cmd, stdout io.Writer, logPath string) (sample, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return sample{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = stdout, logf
	start := time.Now()
	err = cmd.Run()
	s := sample{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		s.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w (log: %s)", filepath.Base(cmd.Path), err, logPath)
	}
	return s, nil
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last
}

// loadAvg is /proc/loadavg's first three figures: the machine is shared,
// so every figure is printed with the load it was measured under.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuSelf is this process's CPU so far (user + sys).
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pollName(d time.Duration) string {
	if d == 0 {
		return "local mode's default"
	}
	return d.String()
}
