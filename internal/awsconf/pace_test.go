package awsconf

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// fakeClock is the pacer's time in these tests: sleeping advances it.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		c.t = c.t.Add(d)
	}
	return ctx.Err()
}

func fakePacer() (*pacer, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	p := newPacer(&paceHint{})
	p.now, p.sleep = c.now, c.sleep
	return p, c
}

// bucket is awssim's and AWS's throttle: a token bucket of rate calls/s
// and capacity burst, starting with tokens.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

const ms = time.Millisecond

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*max(1, math.Abs(b)) }

// TestPacerLearnsRate drives the pacer through answers at set times and
// checks the rate it learns: the first estimate from the burst, a later
// throttle's cut, the probe up, the floor.
func TestPacerLearnsRate(t *testing.T) {
	type step struct {
		after     time.Duration // since the previous step
		throttled bool
	}
	ok := func(after time.Duration) step { return step{after, false} }
	thr := func(after time.Duration) step { return step{after, true} }
	tests := []struct {
		name  string
		steps []step // each: an attempt started, answered after `after`
		want  float64
	}{
		{"never throttled: not paced", []step{ok(20 * ms), ok(20 * ms), ok(20 * ms)}, 0},
		// Bucket of 1/s, burst 1: the second call 20 ms after the first
		// finds it empty; 1 admitted in 1 s of burst + 40 ms.
		{"burst of one", []step{ok(20 * ms), thr(20 * ms)}, 1 / 1.04},
		{"burst of five", []step{ok(20 * ms), ok(20 * ms), ok(20 * ms), ok(20 * ms), ok(20 * ms), thr(20 * ms)}, 5 / 1.12},
		{"empty bucket at the first call", []step{thr(20 * ms)}, 1 / 1.02},
		// Learned 1/1.04, then throttled 500 ms later with none admitted in
		// between: (0 + 1) / 0.5 = 2 allows more than 0.8 × 1/1.04, the cut.
		{"later throttle cuts by slowDown", []step{ok(20 * ms), thr(20 * ms), thr(500 * ms)}, 0.8 / 1.04},
		// Throttled again after 10 s with 2 admitted: at most 3 / 10 calls/s.
		{"later throttle bounded by its span", []step{ok(20 * ms), thr(20 * ms), ok(4 * time.Second), ok(4 * time.Second), thr(2 * time.Second)}, 0.3},
		{"probe up after probeEvery admitted", append([]step{ok(20 * ms), thr(20 * ms)},
			ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second)),
			probeUp / 1.04},
		// Probed to 1.25/1.04 after 8 admitted, refused 2 calls later:
		// back to 1/1.04 (the span would have allowed more).
		{"refused probe undone", append([]step{ok(20 * ms), thr(20 * ms)},
			ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second), ok(time.Second),
			ok(800*ms), thr(800*ms)),
			1 / 1.04},
		// The default 20 s backoff cap: the rate never falls below 1/20 calls/s.
		{"floor at one call per max backoff", []step{thr(20 * ms), thr(time.Minute), thr(time.Minute), thr(time.Minute), thr(time.Minute), thr(time.Minute), thr(time.Minute), thr(time.Minute), thr(time.Minute), thr(time.Minute)}, 1.0 / 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := fakePacer()
			for _, s := range tt.steps {
				p.reserve() // starts now: the test sets the times itself
				c.t = c.t.Add(s.after)
				p.done(s.throttled)
			}
			if got := p.learned(); !near(got, tt.want) {
				t.Errorf("learned %.6f calls/s, want %.6f", got, tt.want)
			}
		})
	}
}

// TestPacerSpacing checks the waits: none before a throttle, a full
// interval after one, then one interval between attempt starts whatever
// the attempts' own length, and concurrent attempts each get their own slot.
func TestPacerSpacing(t *testing.T) {
	p, c := fakePacer()
	waits := func(n int) []time.Duration {
		var out []time.Duration
		for range n {
			out = append(out, p.reserve())
		}
		return out
	}
	if w := waits(3); w[0]+w[1]+w[2] != 0 {
		t.Fatalf("waits before any throttle %v, want none", w)
	}
	// Learn 0.5 calls/s: the first attempt throttled 1 s after the start.
	p.first = c.t
	c.t = c.t.Add(time.Second)
	p.done(true)
	iv := 2 * time.Second
	tests := []struct {
		name    string
		advance time.Duration // clock moves before the reservations
		n       int
		want    []time.Duration
	}{
		{"right after the throttle: a full interval", 0, 1, []time.Duration{iv}},
		{"concurrent attempts: one interval apart", 0, 3, []time.Duration{2 * iv, 3 * iv, 4 * iv}},
		{"the clock caught up: an attempt that took long waits the rest", 9*time.Second + 500*ms, 1, []time.Duration{500 * ms}},
		{"an idle spell earns no burst", 10 * time.Second, 2, []time.Duration{0, iv}},
	}
	for _, tt := range tests {
		c.t = c.t.Add(tt.advance)
		got := waits(tt.n)
		for i := range tt.want {
			if got[i] != tt.want[i] {
				t.Errorf("%s: waits %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

// TestPacerAgainstBucket runs one account-region's sequential calls, in
// simulated time, against a bucket like awssim's and AWS's: the throttled
// share and the time taken against the floor, (calls - tokens at start) /
// rate. Without pacing (waits of zero after a throttle) the client hammers
// the empty bucket and the throttled share passes 90%; with the SDK's
// exponential backoff it wastes seconds (BenchmarkAccountRegionUnderThrottle).
func TestPacerAgainstBucket(t *testing.T) {
	tests := []struct {
		name                string
		rate, burst, tokens float64
		hint                float64 // the process's other clients learned
		calls               int
		maxThrottled        int     // throttling answers at most
		maxOverFloor        float64 // time taken ÷ floor at most
	}{
		{"1/s, a scan's 8 calls", 1, 1, 1, 0, 8, 1, 1.1},
		{"2/s, a scan's 8 calls", 2, 2, 2, 0, 8, 1, 1.1},
		{"1/s, a long region: 60 calls", 1, 1, 1, 0, 60, 6, 1.15},
		{"5/s, 60 calls", 5, 5, 5, 0, 60, 6, 1.15},
		{"0.5/s, burst 1: slower than the first guess", 0.5, 1, 1, 0, 12, 4, 1.25},
		// Another account-region learned the rate: none of this one's
		// calls is refused.
		{"1/s, hint known: 8 calls", 1, 1, 1, 1 / 1.04, 8, 0, 1.1},
		{"2/s, hint known: 8 calls", 2, 2, 2, 2 / 1.06, 8, 0, 1.1},
		{"2/s, hint known: 60 calls, probes", 2, 2, 2, 2 / 1.06, 60, 4, 1.15},
		{"1/s, hint too high", 1, 1, 1, 2, 8, 2, 1.25},
		// Nothing to learn from at the first throttle: paced at 1/s, the
		// probes climb to 2/s (and, fed by the burst the bucket saved
		// meanwhile, past it before coming back).
		{"bucket empty at the start (another client used it)", 2, 2, 0, 0, 30, 4, 1.6},
		{"burst of two seconds: the first guess too high", 1, 2, 2, 0, 30, 5, 1.2},
	}
	const latency = 20 * ms
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := fakePacer()
			p.hint.set(tt.hint)
			b := &bucket{rate: tt.rate, burst: tt.burst, tokens: tt.tokens}
			start := c.t
			throttled := 0
			for i := range tt.calls {
				for attempt := 1; ; attempt++ {
					if err := p.wait(context.Background()); err != nil {
						t.Fatal(err)
					}
					admitted := b.allow(c.t.Add(latency / 2))
					c.t = c.t.Add(latency)
					p.done(!admitted)
					if admitted {
						break
					}
					throttled++
					if attempt == DefaultMaxAttempts {
						t.Fatalf("call %d throttled %d times: gave up", i+1, attempt)
					}
				}
			}
			floor := (float64(tt.calls) - tt.tokens) / tt.rate
			took := c.t.Sub(start).Seconds()
			t.Logf("%d calls: %d throttled (%.0f%%), %.2f s, floor %.2f s, learned %.3f calls/s",
				tt.calls, throttled, 100*float64(throttled)/float64(tt.calls+throttled), took, floor, p.learned())
			if throttled > tt.maxThrottled {
				t.Errorf("%d throttling answers, want at most %d", throttled, tt.maxThrottled)
			}
			if took > floor*tt.maxOverFloor {
				t.Errorf("took %.2f s, want at most %.2f × the floor %.2f s", took, tt.maxOverFloor, floor)
			}
		})
	}
}

// TestPacedRetryer checks what the retryer does per service: a Config
// client's throttled attempt is retried without the exponential backoff
// (the pacer waits instead), everything else keeps the adaptive mode's
// delays; permanent errors stay unretried and MaxAttempts unchanged.
func TestPacedRetryer(t *testing.T) {
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	timeout := &smithy.GenericAPIError{Code: "RequestTimeoutException", Message: "later"}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}
	tests := []struct {
		name      string
		service   string
		err       error
		zeroDelay bool
	}{
		{"Config throttled: the pacer's wait only", "Config Service", throttle, true},
		{"Config timeout: exponential backoff", "Config Service", timeout, false},
		{"STS throttled: exponential backoff", "STS", throttle, false},
		{"Organizations throttled: exponential backoff", "Organizations", throttle, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRetryer(DefaultMaxAttempts, time.Hour).(*pacedRetryer)
			ctx := middleware.WithServiceID(context.Background(), tt.service)
			release, err := r.GetAttemptToken(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = release(tt.err)
			if r.MaxAttempts() != DefaultMaxAttempts {
				t.Errorf("max attempts %d", r.MaxAttempts())
			}
			if r.IsErrorRetryable(denied) {
				t.Error("a permanent error is retryable")
			}
			if !r.IsErrorRetryable(tt.err) {
				t.Errorf("%v not retryable", tt.err)
			}
			// The SDK's backoff is rand × 2^n s: retry 5 is 0 only when the
			// draw is exactly 0; a paced throttle is always 0.
			zero := true
			for range 5 {
				if d, err := r.RetryDelay(5, tt.err); err != nil || d != 0 {
					zero = false
				}
			}
			if zero != tt.zeroDelay {
				t.Errorf("retry delay always zero: %v, want %v", zero, tt.zeroDelay)
			}
			if paced := r.pace.learned() > 0; paced != (tt.zeroDelay) {
				t.Errorf("pacer learned a rate: %v, want %v", paced, tt.zeroDelay)
			}
		})
	}
}

// TestPacerHint checks the hint: what one client learns paces the next
// ones, after the burst a full bucket admits; a hint changes with every
// rate learned at a throttle.
func TestPacerHint(t *testing.T) {
	tests := []struct {
		name  string
		hint  float64
		waits []time.Duration // of attempts reserved at the same instant
	}{
		{"no hint: not paced", 0, []time.Duration{0, 0, 0, 0}},
		{"1/s: one at once, then one a second", 1, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}},
		{"2/s: two at once, then one each half second", 2, []time.Duration{0, 0, 500 * ms, time.Second}},
		{"0.25/s: one at once, then one each 4 s", 0.25, []time.Duration{0, 4 * time.Second, 8 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := fakePacer()
			p.hint.set(tt.hint)
			for i, want := range tt.waits {
				if got := p.reserve(); got != want {
					t.Errorf("attempt %d waits %s, want %s", i+1, got, want)
				}
			}
		})
	}

	// The first call's credentials took 200 ms (an AssumeRole the bucket
	// does not see): the bucket's second refills a second after the
	// first answer, not the first reservation.
	p, c := fakePacer()
	p.hint.set(1)
	p.reserve()
	c.t = c.t.Add(200 * ms)
	p.done(false)
	if w := p.reserve(); w != time.Second {
		t.Errorf("after a slow first call, the second waits %s, want 1s from its answer", w)
	}

	// Learned by one client, used by the next of the same process.
	hint := &paceHint{}
	first, c := fakePacer()
	first.hint = hint
	first.reserve()
	c.t = c.t.Add(20 * ms)
	first.done(false)
	first.reserve()
	c.t = c.t.Add(20 * ms)
	first.done(true)
	if got, want := hint.get(), 1/1.04; !near(got, want) {
		t.Fatalf("hint after the first throttle %.6f, want %.6f", got, want)
	}
	next := newPacer(hint)
	next.now, next.sleep = c.now, c.sleep
	if w := next.reserve(); w != 0 {
		t.Errorf("next client's first attempt waits %s, want 0 (the burst)", w)
	}
	if w, want := next.reserve(), interval(1/1.04); w != want {
		t.Errorf("next client's second attempt waits %s, want %s (the hint's interval)", w, want)
	}
}

// TestPacingThroughTheSDK runs Config clients built from one Load against
// awssim's buckets (20 calls/s a bucket, burst 20): the first
// account-region is refused once, which teaches the rate, and pays no
// exponential backoff for it; the next ones, paced at the hint from their
// first call past the burst, are never refused. (Counts, not times: a slow
// machine only lets the buckets refill more.)
func TestPacingThroughTheSDK(t *testing.T) {
	const calls = 30
	url, roles, counts := throttledSim(t, 4, 20, 0)
	hub := load(t, url, Options{})
	rs, err := NewRoles(hub, RoleOptions{SessionName: "configreport-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scan := func(i int) (throttled int64) {
		_, before := counts()
		client := configservice.NewFromConfig(rs.Config(hub, roles[i]))
		for range calls {
			if _, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
				t.Fatal(err)
			}
		}
		_, after := counts()
		return after - before
	}
	if n := scan(0); n < 1 || n > 3 {
		t.Errorf("first account-region: %d throttling answers, want 1 to 3 (one teaches the rate)", n)
	}
	for i := 1; i < 3; i++ {
		if n := scan(i); n != 0 {
			t.Errorf("account-region %d: %d throttling answers, want 0 (paced at the hint)", i+1, n)
		}
	}
}

// TestPacerOnWire: an attempt that waited for a call slot after its turn
// reaches the bucket late; the next attempt is spaced from then, and the
// first throttle's rate counts from the first attempt's arrival.
func TestPacerOnWire(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		slotWait time.Duration // between the turn and the wire
		wantWait time.Duration // the next attempt's wait, reserved at the answer
	}{
		{"no slot wait: one interval from the turn", 0, 980 * ms},
		{"slot wait: one interval from the wire", 900 * ms, 980 * ms},
		{"slot wait longer than the interval", 3 * time.Second, 980 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := fakePacer()
			p.rate, p.lastThr = 1, c.t.Add(-time.Hour) // paced at 1 call/s
			p.next = c.t
			if w := p.reserve(); w != 0 {
				t.Fatalf("first wait %s", w)
			}
			c.t = c.t.Add(tt.slotWait)
			p.onWire()
			c.t = c.t.Add(20 * ms) // the answer
			p.done(false)
			if w := p.reserve(); w != tt.wantWait {
				t.Errorf("next attempt waits %s, want %s", w, tt.wantWait)
			}
		})
	}

	// The first throttle's estimate: the first attempt waited 5 s for a
	// slot, the second reached the bucket 50 ms after it and was refused:
	// the bucket admits about 1/1.05 calls/s, not 1/6.05.
	p, c := fakePacer()
	p.reserve()
	c.t = c.t.Add(5 * time.Second)
	p.onWire()
	c.t = c.t.Add(20 * ms)
	p.done(false)
	p.reserve()
	p.onWire()
	c.t = c.t.Add(30 * ms)
	p.done(true)
	if got, want := p.learned(), 1/1.05; !near(got, want) {
		t.Errorf("learned %.6f calls/s, want %.6f", got, want)
	}
}

// The wire mark reaches the pacer through a real client's stack: the
// in-flight limit marks the attempt of a paced (Config) client.
func TestWireMarkThroughStack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"ConfigRules":[]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := load(t, srv.URL, Options{Concurrency: 2})
	cs := configservice.NewFromConfig(cfg)
	if _, err := cs.DescribeConfigRules(context.Background(), &configservice.DescribeConfigRulesInput{}); err != nil {
		t.Fatal(err)
	}
	pr, ok := cs.Options().Retryer.(*pacedRetryer)
	if !ok {
		t.Fatalf("retryer %T, want *pacedRetryer", cs.Options().Retryer)
	}
	pr.pace.mu.Lock()
	defer pr.pace.mu.Unlock()
	if pr.pace.firstWire.IsZero() {
		t.Error("the attempt's time on the wire was not recorded")
	}
}
