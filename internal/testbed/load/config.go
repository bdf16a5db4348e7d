package load

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Scenario says how scale-down stops a scanner.
type Scenario string

const (
	// ScenarioTerm: SIGTERM, then SIGKILL after terminationGracePeriodSeconds
	// (as in the manifest: Policy.Shorten keeps it), as Kubernetes does.
	ScenarioTerm Scenario = "sigterm"
	// ScenarioKill: SIGKILL at once (a lost node, an OOM kill): messages in
	// hand come back only after the queue's visibility timeout.
	ScenarioKill Scenario = "sigkill"
)

// Config is what cmd/loadtest's flags say.
type Config struct {
	Bin      string // folder holding awssim, trigger, scanner, aggregator
	Manifest string // rendered prod overlay (make render-deploy)
	Out      string // out/load: logs, workbook, awssim.args, plot

	// Emulator endpoints (scripts/with-emulators.sh exports them).
	SQS, SNS, S3, DynamoDB string

	// The organisation and awssim's faults.
	Accounts    int
	Regions     []string
	Seed        int64
	Latency     time.Duration
	ThrottleRPS float64
	ErrorRate   float64

	Concurrency int     // each scanner's -concurrency (prod: 16)
	Consumers   int     // each scanner's -consumers, accounts in hand (0: its default)
	Ratio       float64 // the autoscaler's time constants ÷ this (Policy.Shorten)
	// ScanVisibility is the scan queue's visibility timeout: longer than
	// one account's scan on this machine under this load (not shortened:
	// the scan is real), the scans a stopping scanner finishes included.
	ScanVisibility time.Duration
	Scenario       Scenario // how scale-down stops scanners
	// Timeout bounds the whole run; the report must be in S3 well before.
	Timeout time.Duration
	// RateDuration is how long R (awssim's own throughput at zero
	// latency) is measured, after the run, on a second awssim.
	RateDuration time.Duration
	RateWorkers  int
	// ProfileAt, when > 0, takes a CPU profile of the aggregator and of one
	// running scanner (their -pprof endpoint) ProfileAt after the trigger
	// starts, for ProfileFor (default 30s), into Out/*.pprof.
	ProfileAt  time.Duration
	ProfileFor time.Duration
	// Floor runs Bin/floor (bench/floor) against the same awssim after the
	// report, at the fleet's concurrency, and prints the scanners' CPU per
	// call as a ratio of its.
	Floor bool
	// SimCPUProfile, when set, is passed to the load's awssim as
	// -cpuprofile: a CPU profile of its whole life (the fleet's run, then
	// the floor's when Floor is set), written when it stops.
	SimCPUProfile string
	// SimProcs is the load's awssim's -procs (GOMAXPROCS; 0: every
	// core). It shares the machine's two cores with the fleet and needs
	// a fraction of one (about 1,100 calls/s at full size): on one
	// processor it spends no CPU on stealing goroutines and waking the
	// other. The awssim R is measured on keeps every core.
	SimProcs int
}

func (c *Config) setDefaults() {
	c.Bin = cmp.Or(c.Bin, "out/load/bin")
	c.Manifest = cmp.Or(c.Manifest, "out/deploy/prod.yaml")
	c.Out = cmp.Or(c.Out, "out/load")
	c.Accounts = cmp.Or(c.Accounts, 1000)
	if len(c.Regions) == 0 {
		c.Regions = []string{"us-east-1", "eu-west-1"}
	}
	c.Seed = cmp.Or(c.Seed, 10)
	c.Concurrency = cmp.Or(c.Concurrency, 16)
	c.Ratio = cmp.Or(c.Ratio, 60)
	c.ScanVisibility = cmp.Or(c.ScanVisibility, 60*time.Second)
	c.Scenario = cmp.Or(c.Scenario, ScenarioTerm)
	c.Timeout = cmp.Or(c.Timeout, 20*time.Minute)
	c.RateDuration = cmp.Or(c.RateDuration, 3*time.Second)
	c.RateWorkers = cmp.Or(c.RateWorkers, 32)
	c.ProfileFor = cmp.Or(c.ProfileFor, 30*time.Second)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{"SQS_ENDPOINT": c.SQS, "SNS_ENDPOINT": c.SNS, "S3_ENDPOINT": c.S3, "DYNAMODB_ENDPOINT": c.DynamoDB} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s unset: run under scripts/with-emulators.sh", name))
		}
	}
	if c.Accounts < 1 {
		errs = append(errs, fmt.Errorf("accounts %d: want >= 1", c.Accounts))
	}
	if c.Latency < 0 || c.ThrottleRPS < 0 || c.ErrorRate < 0 || c.ErrorRate >= 1 {
		errs = append(errs, fmt.Errorf("latency %s, throttle %g rps, error rate %g: want >= 0 (error rate < 1)", c.Latency, c.ThrottleRPS, c.ErrorRate))
	}
	if c.Consumers < 0 {
		errs = append(errs, fmt.Errorf("consumers %d: want >= 0", c.Consumers))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: want >= 1", c.Concurrency))
	}
	if !(c.Ratio >= 1) {
		errs = append(errs, fmt.Errorf("ratio %g: want >= 1", c.Ratio))
	}
	if c.Scenario != ScenarioTerm && c.Scenario != ScenarioKill {
		errs = append(errs, fmt.Errorf("scenario %q: want %s or %s", c.Scenario, ScenarioTerm, ScenarioKill))
	}
	if c.ProfileAt < 0 || c.ProfileFor < time.Second {
		errs = append(errs, fmt.Errorf("profile at %s for %s: want at >= 0, for >= 1s", c.ProfileAt, c.ProfileFor))
	}
	if c.SimProcs < 0 {
		errs = append(errs, fmt.Errorf("awssim procs %d: want >= 0", c.SimProcs))
	}
	if c.Timeout <= 0 || c.RateDuration < 0 || c.RateWorkers < 1 {
		errs = append(errs, errors.New("timeout, rate duration and rate workers must be positive"))
	}
	return errors.Join(errs...)
}
