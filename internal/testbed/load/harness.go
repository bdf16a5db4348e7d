package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cybsecops/configreport/internal/report"
	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

const (
	// hub.yaml's scan queue: maxReceiveCount 5. Its visibility timeout
	// (900 s) and the results queue's (300 s) are not shortened by the
	// ratio: they bound real work (one account's scan, one result's
	// handling), which no ratio makes shorter; shortened below a scan's
	// duration they would redeliver messages still being scanned. The scan
	// queue's is Config.ScanVisibility; the results queue's 60 s, as in
	// test/e2e.
	scanMaxReceives   = 5
	resultsVisibility = 60 * time.Second
	// The scanner's -shutdown-timeout default, when its container does
	// not set SHUTDOWN_TIMEOUT (scannerStopTimeout).
	shutdownTimeout = 20 * time.Second
)

// Sample is one autoscaler step: the queue as sampled and the replicas
// decided.
type Sample struct {
	At         time.Duration // since the trigger started
	Visible    int64
	NotVisible int64
	Replicas   int32
	Reason     string
}

// Result is what a run measured.
type Result struct {
	Policy Policy
	// StopTimeout is the scanners' -shutdown-timeout (scannerStopTimeout).
	StopTimeout time.Duration
	SimArgs     []string
	RunID       string
	Expected    int

	Wall                     time.Duration // trigger start -> report object in S3
	Samples                  []Sample
	MaxReplica               int32
	ScannersRun              int
	Terms, Kills, GraceKills int

	Reported, Lost, DuplicateRows, Reports int
	FindingsFiles                          int   // the run's findings files beside its workbook
	CheckErr                               error // reportcheck's verdict against the ground truth
	ErrorRows, Findings                    int   // the workbook's Errors and Non-compliant Resources rows

	Sim       awssim.Stats
	Rate      float64 // R: awssim's calls/s at zero latency, measured
	Limit     time.Duration
	LimitTerm string
	Terms3    [3]time.Duration // calls×latency÷C, calls÷R, busiest account-region÷throttle
	C         int
	Ramp      time.Duration // the Autoscaler's time from 0 to its peak

	PeakRSS       map[string]int64 // aggregator, trigger, scanner (largest)
	Rescans       int              // scans completed beyond one per account (scanner logs)
	Nacked        int              // "message nacked for redelivery" lines of the scanners
	Released      int              // of those, abandoned at shutdown and released at once
	DeletedAtStop int              // scans finished after SIGTERM, deleted by the scanner
	Duplicates    int64            // AccountScanned the aggregator found already recorded
	MidRunStops   int              // scanners stopped while the queue still held messages
	DLQ           int64            // messages left on the scan DLQ
	Workbook      string
	Plot          string

	// Machine is the whole machine's CPU from the trigger's start to the
	// report; ProcCPU each child's user+system CPU over its life
	// (scanners summed), for where that went; awssim's up to the end of
	// the fleet's run, before the floor's calls.
	Machine MachineCPU
	ProcCPU map[string]time.Duration
	// Profiles are the CPU profiles taken mid-run (-profile-at) and
	// awssim's whole-life one (-awssim-cpuprofile).
	Profiles []string
	// Floor is bench/floor's run (-floor), nil when not run.
	Floor *FloorRun
}

// Run does one load run; the error is for a harness failure (a service that
// would not start, no report within the timeout). A report that is wrong is
// in Result (Lost, DuplicateRows, Reports, CheckErr), judged by the caller.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	manifest, err := os.ReadFile(cfg.Manifest)
	if err != nil {
		return nil, fmt.Errorf("read the rendered manifest (make render-deploy): %w", err)
	}
	full, err := ParsePolicy(manifest)
	if err != nil {
		return nil, err
	}
	pol, err := full.Shorten(cfg.Ratio)
	if err != nil {
		return nil, err
	}
	// Each process gets what the Downward API gives its container
	// (MEMORY_LIMIT): the scanner's accounts in hand follow from it.
	downward, err := DownwardEnv(manifest)
	if err != nil {
		return nil, err
	}
	for _, c := range []string{"aggregator", "scanner", "trigger"} {
		if _, ok := downward[c]; !ok {
			return nil, fmt.Errorf("%s: no container named %s", cfg.Manifest, c)
		}
	}
	stopTimeout, err := scannerStopTimeout(downward["scanner"], pol.TerminationGrace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Manifest, err)
	}
	res := &Result{Policy: pol, StopTimeout: stopTimeout, PeakRSS: map[string]int64{}, ProcCPU: map[string]time.Duration{}}
	log.Info("policy", slog.String("from", cfg.Manifest), slog.String("policy", pol.String()))

	logs := filepath.Join(cfg.Out, "logs")
	if err := os.RemoveAll(logs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}

	// awssim, with the org the report will be checked against.
	res.SimArgs = []string{"-accounts", strconv.Itoa(cfg.Accounts), "-seed", strconv.FormatInt(cfg.Seed, 10),
		"-regions", strings.Join(cfg.Regions, ","), "-latency", cfg.Latency.String(),
		"-throttle-rps", strconv.FormatFloat(cfg.ThrottleRPS, 'g', -1, 64),
		"-error-rate", strconv.FormatFloat(cfg.ErrorRate, 'g', -1, 64)}
	if cfg.SimProcs > 0 {
		res.SimArgs = append(res.SimArgs, "-procs", strconv.Itoa(cfg.SimProcs))
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "awssim.args"), []byte(strings.Join(res.SimArgs, " ")+"\n"), 0o644); err != nil {
		return nil, err
	}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: cfg.Accounts, Seed: cfg.Seed, Regions: cfg.Regions})
	if err != nil {
		return nil, err
	}
	for _, a := range org.Accounts {
		if a.Status == awssim.StatusActive {
			res.Expected++
		}
	}
	simArgs := res.SimArgs
	if cfg.SimCPUProfile != "" {
		simArgs = append(slices.Clip(simArgs), "-cpuprofile", cfg.SimCPUProfile)
	}
	sim, simURL, err := harness.StartSim(ctx, logs, "awssim", filepath.Join(cfg.Bin, "awssim"), simArgs, time.Minute)
	if err != nil {
		return nil, err
	}
	defer sim.Terminate(10 * time.Second)

	hub := aws.Config{Region: harness.Region, Credentials: credentials.NewStaticCredentialsProvider("AKIDHUB", "hubsecret", "")}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	rs, err := provision(ctx, hub, cfg, suffix)
	if err != nil {
		return nil, err
	}
	env := harness.ServiceEnvWith(endpoints(cfg, simURL), rs, org.ManagementAccountID, harness.Settings{
		Regions: cfg.Regions, Deadline: 45 * time.Minute, Concurrency: cfg.Concurrency,
	})

	// At the cluster's log level (info): debug added a line per result,
	// 3% of the aggregator's CPU.
	svcEnv := env
	if cfg.ProfileAt > 0 {
		svcEnv = append(slices.Clip(env), "PPROF=true")
	}
	// Health on port 0: the kernel picks a free port (no race with another
	// process between choosing and binding), and the log line names it.
	agg, err := startProc(logs, "aggregator", filepath.Join(cfg.Bin, "aggregator"), append(slices.Concat(svcEnv, downward["aggregator"]), "HEALTH_ADDR=127.0.0.1:0"))
	if err != nil {
		return nil, err
	}
	defer agg.Terminate(30 * time.Second)
	aggAddr, err := listenAddr(ctx, agg, time.Minute)
	if err != nil {
		return nil, err
	}
	agg.Health = aggAddr
	if err := harness.WaitReady(ctx, agg, "http://"+aggAddr+"/readyz", time.Minute, 200*time.Millisecond); err != nil {
		return nil, err
	}

	fl := &fleet{grace: pol.TerminationGrace, killAtOnce: cfg.Scenario == ScenarioKill, log: log,
		start: func(name string) (*proc, error) {
			// Port 0, as the aggregator's: a profiled run reads the port
			// from the scanner's log when it needs it.
			scanEnv := append(slices.Concat(svcEnv, downward["scanner"]), "HEALTH_ADDR=127.0.0.1:0", "SHUTDOWN_TIMEOUT="+stopTimeout.String())
			if cfg.Consumers > 0 {
				scanEnv = append(scanEnv, "CONSUMERS="+strconv.Itoa(cfg.Consumers))
			}
			return startProc(logs, name, filepath.Join(cfg.Bin, "scanner"), scanEnv)
		}}
	defer fl.stopAll()

	q := sqs.New(sqs.Options{Region: harness.Region, Credentials: hub.Credentials, BaseEndpoint: aws.String(cfg.SQS)})
	s3c := s3.New(s3.Options{Region: harness.Region, Credentials: hub.Credentials, BaseEndpoint: aws.String(cfg.S3), UsePathStyle: true})

	// The trigger: the run starts here.
	res.RunID = "load-" + suffix
	cpuFrom, err := readCPUStat()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	trig, err := startProc(logs, "trigger", filepath.Join(cfg.Bin, "trigger"), append(slices.Concat(env, downward["trigger"]), "RUN_ID="+res.RunID))
	if err != nil {
		return nil, err
	}

	// The autoscaler loop, the RSS sampler and the report watcher run until
	// the fleet is back at zero after the report, or the context ends.
	scaler := NewAutoscaler(pol, started)
	key := fmt.Sprintf("%s/%s/config-compliance-%s.xlsx", harness.ReportPrefix, started.UTC().Format("2006/01/02"), res.RunID)
	var (
		mu                      sync.Mutex
		reportAt                time.Time
		loopErr                 error
		wg                      sync.WaitGroup
		sampleCtx, stopSampling = context.WithCancel(ctx)
	)
	wg.Add(1)
	go func() { // RSS, every 100 ms: VmHWM is only readable while alive
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
				agg.SampleRSS()
				trig.SampleRSS()
				fl.sampleRSS()
			}
		}
	}()
	wg.Add(1)
	go func() { // the report
		defer wg.Done()
		for {
			if _, err := s3c.HeadObject(sampleCtx, &s3.HeadObjectInput{Bucket: aws.String(rs.Bucket), Key: aws.String(key)}); err == nil {
				cpuTo, cerr := readCPUStat()
				mu.Lock()
				reportAt = time.Now()
				if cerr == nil {
					res.Machine = machineCPU(cpuFrom, cpuTo, runtime.NumCPU())
				}
				mu.Unlock()
				return
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	if cfg.ProfileAt > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths := profileRun(sampleCtx, cfg, started, agg, fl, log)
			mu.Lock()
			res.Profiles = paths
			mu.Unlock()
		}()
	}

	trigDone := false
	for {
		select {
		case <-ctx.Done():
			loopErr = fmt.Errorf("no report and back to zero within %s: %w", cfg.Timeout, ctx.Err())
		case <-time.After(time.Until(scaler.Next())):
		}
		if loopErr != nil {
			break
		}
		if !trigDone && trig.Exited() {
			if err := trig.Err(); err != nil {
				loopErr = fmt.Errorf("trigger: %w (see %s)", err, trig.Log)
				break
			}
			trigDone = true
		}
		if agg.Exited() {
			loopErr = fmt.Errorf("aggregator exited: %v (see %s)", agg.Err(), agg.Log)
			break
		}
		d, err := queueDepth(ctx, q, rs.ScanQueue)
		if err != nil {
			loopErr = err
			break
		}
		now := time.Now()
		dec := scaler.Step(now, d)
		if err := fl.Scale(int(dec.Replicas)); err != nil {
			loopErr = err
			break
		}
		res.Samples = append(res.Samples, Sample{At: now.Sub(started), Visible: d.Visible, NotVisible: d.NotVisible, Replicas: dec.Replicas, Reason: dec.Reason})
		res.MaxReplica = max(res.MaxReplica, dec.Replicas)
		if n := len(res.Samples); n > 1 && dec.Replicas < res.Samples[n-2].Replicas && d.Visible+d.NotVisible > 0 {
			res.MidRunStops += int(res.Samples[n-2].Replicas - dec.Replicas)
		}
		if dec.Reason != "" {
			log.Info("scale", slog.String("reason", dec.Reason), slog.Int("replicas", int(dec.Replicas)),
				slog.Int64("visible", d.Visible), slog.Int64("in_flight", d.NotVisible), slog.Duration("t", now.Sub(started).Round(time.Millisecond)))
		}
		mu.Lock()
		done := !reportAt.IsZero()
		mu.Unlock()
		if done && trigDone && dec.Replicas == 0 {
			break
		}
	}
	mu.Lock()
	if !reportAt.IsZero() {
		res.Wall = reportAt.Sub(started)
	}
	mu.Unlock()
	if err := fl.stopAll(); err != nil && loopErr == nil {
		loopErr = err
	}
	stopSampling()
	wg.Wait()
	if loopErr != nil {
		return res, loopErr
	}
	res.Terms, res.Kills, res.GraceKills = fl.Terms, fl.Kills, fl.GraceKills
	res.PeakRSS["scanner"], res.ScannersRun = fl.peak()
	res.PeakRSS["aggregator"], res.PeakRSS["trigger"] = agg.PeakRSS(), trig.PeakRSS()
	res.ProcCPU["scanners"], res.ProcCPU["trigger"] = fl.cpuTime(), trig.CPUTime()
	res.Ramp = ramp(res.Samples)

	// What the services say, then stop them.
	if res.Duplicates, err = duplicates(ctx, "http://"+aggAddr+"/metrics"); err != nil {
		return res, err
	}
	agg.Terminate(30 * time.Second)
	res.ProcCPU["aggregator"] = agg.CPUTime()
	var sl scanLog
	if sl, err = scannerLogs(logs); err != nil {
		return res, err
	}
	res.Rescans, res.Nacked, res.Released, res.DeletedAtStop = sl.Rescans, sl.Nacked, sl.Released, sl.Deleted
	if dlq, err := queueDepth(ctx, q, rs.ScanDLQ); err == nil {
		res.DLQ = dlq.Visible + dlq.NotVisible
	} else {
		return res, err
	}
	if res.Sim, err = awssim.FetchStats(ctx, http.DefaultClient, simURL); err != nil {
		return res, err
	}
	// awssim's CPU for the fleet's calls alone: the floor's run below makes
	// as many calls again to the same process.
	if res.ProcCPU["awssim"], err = procCPUTime(sim.Pid()); err != nil {
		return res, fmt.Errorf("awssim's CPU: %w", err)
	}

	// The report: how many objects, then the one workbook against the truth.
	if res.Reports, res.FindingsFiles, err = countReports(ctx, s3c, rs.Bucket, res.RunID); err != nil {
		return res, err
	}
	res.Workbook = filepath.Join(cfg.Out, filepath.Base(key))
	if err := download(ctx, s3c, rs.Bucket, key, res.Workbook); err != nil {
		return res, err
	}
	if err := judge(res, org, cfg.Regions); err != nil {
		return res, err
	}
	if cfg.Floor {
		fr, err := runFloor(ctx, filepath.Join(cfg.Bin, "floor"), simURL, cfg.Regions, cfg.Concurrency*int(pol.MaxReplicas), logs)
		if err != nil {
			return res, err
		}
		res.Floor = &fr
	}

	// The limit, with R measured now on a second awssim at zero latency.
	sim.Terminate(10 * time.Second)
	if res.Floor != nil {
		res.Floor.SimCPU = sim.CPUTime() - res.ProcCPU["awssim"]
	}
	if cfg.SimCPUProfile != "" {
		res.Profiles = append(res.Profiles, cfg.SimCPUProfile)
	}
	res.Rate, err = measureRate(ctx, logs, filepath.Join(cfg.Bin, "awssim"), cfg, org)
	if err != nil {
		return res, err
	}
	res.C = cfg.Concurrency * int(pol.MaxReplicas)
	res.Terms3 = limitTerms(res.Sim.Total, cfg.Latency, res.C, res.Rate, busiestConfigCalls(org, cfg.Regions), cfg.ThrottleRPS)
	res.Limit, res.LimitTerm = pickLimit(res.Terms3)

	res.Plot = filepath.Join(cfg.Out, "replicas.png")
	if err := plotRun(res, res.Plot); err != nil {
		return res, err
	}
	return res, nil
}

// provision makes what CloudFormation makes in production
// (harness.Provision); the services run without -create-resources.
func provision(ctx context.Context, hub aws.Config, cfg Config, suffix string) (harness.Resources, error) {
	return harness.Provision(ctx, endpoints(cfg, ""), hub.Credentials, harness.ProvisionConfig{
		Prefix: "config-report", Suffix: suffix, Bucket: "config-report-load-" + suffix,
		ScanVisibility: cfg.ScanVisibility, ScanMaxReceives: scanMaxReceives, ResultsVisibility: resultsVisibility,
	})
}

// endpoints are the emulators' (cfg) and awssim's.
func endpoints(cfg Config, simURL string) harness.Endpoints {
	return harness.Endpoints{SQS: cfg.SQS, SNS: cfg.SNS, S3: cfg.S3, DynamoDB: cfg.DynamoDB, Sim: simURL}
}

// listenAddr waits (bounded) for p's "health server listening" log line
// and returns the address it names: a service started on port 0 says there
// which port the kernel gave it.
func listenAddr(ctx context.Context, p *proc, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if addr, ok := findListenAddr(p.Log); ok {
			return addr, nil
		}
		if p.Exited() {
			return "", fmt.Errorf("%s exited before listening: %v (see %s)", p.Name, p.Err(), p.Log)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: no health address in its log within %s (see %s)", p.Name, timeout, p.Log)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func findListenAddr(path string) (string, bool) {
	var addr string
	_ = logLines(path, func(l struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}) bool {
		if l.Msg == "health server listening" && l.Addr != "" {
			addr = l.Addr
		}
		return addr == ""
	})
	return addr, addr != ""
}

// queueDepth is what KEDA's aws-sqs-queue scaler asks for.
func queueDepth(ctx context.Context, q *sqs.Client, url string) (Depth, error) {
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"}})
	if err != nil {
		return Depth{}, fmt.Errorf("queue depth of %s: %w", url, err)
	}
	return goawsDepth(out.Attributes)
}

// goawsDepth reads goaws's answer as SQS means it. goaws v0.5.4 answers
// ApproximateNumberOfMessages with every message it holds, in flight
// included (app/gosqs/get_queue_attributes.go: len(queue.Messages)), where
// SQS counts the visible ones only; the in-flight ones are subtracted so
// that visible + in flight, KEDA's metric, counts each message once.
func goawsDepth(attrs map[string]string) (Depth, error) {
	var errs []error
	num := func(k string) int64 {
		v, ok := attrs[k]
		if !ok {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s %q: %w", k, v, err))
		}
		return n
	}
	all, hidden := num("ApproximateNumberOfMessages"), num("ApproximateNumberOfMessagesNotVisible")
	d := Depth{Visible: max(0, all-hidden), NotVisible: hidden, Delayed: num("ApproximateNumberOfMessagesDelayed")}
	if _, ok := attrs["ApproximateNumberOfMessages"]; !ok {
		errs = append(errs, errors.New("no ApproximateNumberOfMessages in the answer"))
	}
	return d, errors.Join(errs...)
}

// countReports counts the run's workbooks and findings files in the
// bucket (by their names, report.FileName and report.FindingsFileName).
func countReports(ctx context.Context, c *s3.Client, bucket, runID string) (workbooks, findings int, err error) {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(harness.ReportPrefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("list reports: %w", err)
		}
		for _, o := range page.Contents {
			switch path.Base(aws.ToString(o.Key)) {
			case report.FileName(runID):
				workbooks++
			case report.FindingsFileName(runID):
				findings++
			}
		}
	}
	return workbooks, findings, nil
}

func download(ctx context.Context, c *s3.Client, bucket, key, local string) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return writeFile(local, out.Body)
}

// writeFile streams r into a new file at path.
func writeFile(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// scannerStopTimeout is the scanner's -shutdown-timeout as its container
// sets it (SHUTDOWN_TIMEOUT in env, from DownwardEnv), else the binary's
// default; kept under the grace period (80% of it at most), as the scanner
// must give up a message in hand before SIGKILL. It bounds how long a
// stopping scanner finishes its scans, in real time like the scans (a
// scan longer than the scan queue's visibility is delivered again however
// it ends: Config.ScanVisibility).
func scannerStopTimeout(env []string, grace time.Duration) (time.Duration, error) {
	d := shutdownTimeout
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SHUTDOWN_TIMEOUT="); ok {
			var err error
			if d, err = time.ParseDuration(v); err != nil || d < 0 {
				return 0, fmt.Errorf("scanner container: SHUTDOWN_TIMEOUT %q: want a non-negative duration", v)
			}
		}
	}
	return min(d, grace*4/5), nil
}
