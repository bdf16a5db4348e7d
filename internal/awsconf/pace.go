package awsconf

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"

	"github.com/cybsecops/configreport/internal/awsconf/awserr"
)

// pacedServices are the services whose clients the retryer paces (see
// pacer): AWS Config throttles each account-region's calls with a token
// bucket, and the scanner builds one Config client per account-region, so
// one client's pacer learns exactly one bucket. The clients of other
// services are shared by many accounts (STS, Organizations) or never
// throttled here (EC2's one DescribeRegions per account, the queues): they
// keep the SDK's adaptive limiter and exponential backoff.
var pacedServices = map[string]bool{
	"Config Service": true,
}

// Pacing figures (see pacer).
const (
	// burstSeconds is how many seconds of calls a bucket holds when full:
	// AWS's token buckets and awssim's (-throttle-rps r: rate r, burst r)
	// start full with one second's worth. It turns the first throttling
	// answer into a first estimate of the rate.
	burstSeconds = 1.0
	// slowDown is the least a throttling answer cuts a rate that was
	// already learned: a paced client refused was sending too fast.
	slowDown = 0.8
	// minRate floors the learned rate (calls/s): one call per
	// DefaultMaxBackoff, so that no paced wait is longer than the longest
	// backoff of the default policy. Not MaxBackoff itself: a test that
	// shortens the backoff to 20 ms would floor the rate at 50 calls/s
	// and hammer a bucket of 2.
	minRate = float64(time.Second) / float64(DefaultMaxBackoff)
	// probeEvery admitted paced attempts in a row, the rate rises by
	// probeUp, so that a rate learned too low (the bucket was not full at
	// the first call) recovers. A probe refused returns to the rate before
	// it and the next probe waits twice as many attempts (up to
	// maxProbeAfter): at the right rate, probes cost a throttle per 8, 16,
	// 32... calls, not one per 8. A probe that held halves the wait of the
	// next (down to minProbeAfter): a rate learned far too low climbs
	// quickly. An account-region's scan is a few calls, so this matters
	// for the long ones (many rules, many pages).
	probeEvery    = 8
	probeUp       = 1.25
	minProbeAfter = 2
	maxProbeAfter = 1024
	// hintProbeAfter is the first probe's streak in a client paced at the
	// hint: a rate another client learned or probed already, so the
	// client's own probing can wait past a typical account-region's calls
	// and cost it no throttle.
	hintProbeAfter = 4 * probeEvery
)

// pacer spaces the attempts of one client at the rate its throttling
// answers say the server admits, and is the backoff after a throttle: the
// next attempt waits the time one call's worth of the bucket takes to
// refill, not the SDK's exponential guess (rand × 2^n s, up to 20 s).
//
// Until the first throttling answer it paces at the hint, the rate the
// process's other Config clients learned last (AWS's default Config quota
// is the same in every account and region): the bucket's burst at once,
// then the hint's rate, so that only the process's first account-regions
// pay a throttle to learn it. Without a hint it does nothing: the burst
// admits the first calls at once. At the first throttle, at T, with n
// attempts admitted since the client's first attempt at t0, the bucket is
// empty: it held burstSeconds × r, gained r × (T - t0) and gave n, so
// r = n / (burstSeconds + T - t0), a slight underestimate (the bucket may
// hold up to one token that was not enough). From then on attempts start
// 1/r apart, the first 1/r after the throttle. A later throttle means the
// rate was too high: it falls to the smaller of slowDown × r and the most
// the span since the previous throttle allows, (a + 1) / (T - Tprev) for a
// attempts admitted in it (the bucket was under one token at both ends),
// but not below (a - 1) / (T - Tprev), the least it allows. probeEvery
// admitted attempts in a row raise it by probeUp; a throttle after a probe
// only undoes the probe. The rate never falls below minRate, so no wait is
// longer than the default backoff cap. Every rate learned at a throttle,
// and every rate a probe raised that held, becomes the hint.
//
// It learns through the attempt token's release, which the SDK's retry
// loop calls after every attempt (under AWS_NEW_RETRIES_2026=true, an
// opt-in the SDK is trying out, only after the first: the pacer would then
// learn from first attempts alone). It is safe for concurrent use: each
// attempt reserves its start time.
type pacer struct {
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	minRate float64 // the package's minRate; tests may change it
	hint    *paceHint

	mu          sync.Mutex
	first       time.Time // first attempt's start; zero before it
	firstWire   time.Time // first attempt's time on the wire (onWire); zero when unknown
	firstAnswer time.Time // first attempt's answer; zero before it
	rate        float64   // calls/s; 0 until the first throttle or the hint's use
	next        time.Time // earliest start of the next attempt, when rate > 0
	attempts    int       // attempts reserved
	admitted    int       // attempts admitted since first, or since lastThr once throttled
	lastThr     time.Time // last throttling answer
	streak      int       // admitted paced attempts since the last throttle or probe
	// good is the rate before the last probe (0: none since the last
	// throttle); probeAfter the streak the next probe waits for.
	good       float64
	probeAfter int
}

func newPacer(hint *paceHint) *pacer {
	return &pacer{now: time.Now, sleep: sleepCtx, minRate: minRate, hint: hint}
}

// paceHint is the rate the pacers of one process (one Load) learned last,
// shared: calls/s as float64 bits, 0 before any.
type paceHint struct{ bits atomic.Uint64 }

func (h *paceHint) get() float64 { return math.Float64frombits(h.bits.Load()) }

func (h *paceHint) set(rate float64) { h.bits.Store(math.Float64bits(rate)) }

// burstOf is the calls a full bucket of rate r admits at once (r is
// learned a little low: rounded, not truncated).
func burstOf(r float64) int { return max(int(math.Round(r*burstSeconds)), 1) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserve returns how long the attempt about to start must wait, and
// reserves its place: the attempt after it starts at least 1/rate later.
func (p *pacer) reserve() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.first.IsZero() {
		p.first = now
	}
	p.attempts++
	if p.rate == 0 {
		h := p.hint.get()
		if h <= 0 || p.attempts <= burstOf(h) {
			return 0 // the burst of a full bucket
		}
		// The burst spent: pace at the hint from here on, the first
		// attempt after the burst once one call's worth has refilled
		// since the bucket saw the first call, no later than its answer
		// (the first reservation is earlier by the credentials' fetch,
		// an AssumeRole, which the bucket does not see).
		anchor := p.firstAnswer
		if anchor.IsZero() {
			anchor = now
		}
		p.rate, p.probeAfter = h, hintProbeAfter
		p.next = anchor.Add(interval(h))
	}
	start := now
	if p.next.After(now) {
		start = p.next
	}
	p.next = start.Add(interval(p.rate))
	return start.Sub(now)
}

// wait waits for the attempt's turn.
func (p *pacer) wait(ctx context.Context) error {
	return p.sleep(ctx, p.reserve())
}

// done records an attempt's answer: throttled or not (any other error
// took a token all the same, or never reached the bucket; either way it
// says nothing of the rate, and counts as admitted).
func (p *pacer) done(throttled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.firstAnswer.IsZero() {
		p.firstAnswer = now
	}
	if !throttled {
		p.admitted++
		if p.rate > 0 {
			if p.streak++; p.streak >= p.probeAfter {
				if p.good > 0 {
					// The last probe held: the rate may be far below
					// the bucket's (learned on a bucket not full), so
					// the next probe comes sooner, and the other
					// clients may send as fast.
					p.probeAfter = max(p.probeAfter/2, minProbeAfter)
					p.hint.set(p.rate)
				}
				p.streak, p.good = 0, p.rate
				p.rate *= probeUp
			}
		}
		return
	}
	switch {
	case p.lastThr.IsZero():
		// The first throttle: whatever the hint said, the bucket tells,
		// counting from when the bucket saw the first attempt (a full
		// bucket does not fill further while the attempt waits for a
		// call slot).
		from := p.first
		if !p.firstWire.IsZero() {
			from = p.firstWire
		}
		p.rate = float64(max(p.admitted, 1)) / (burstSeconds + now.Sub(from).Seconds())
		p.probeAfter = probeEvery
	case p.good > 0:
		// The probe was too fast: back to the rate that was not refused.
		p.rate = p.good
		p.probeAfter = min(2*p.probeAfter, maxProbeAfter)
	default:
		r := p.rate * slowDown
		if span := now.Sub(p.lastThr).Seconds(); span > 0 {
			// The bucket held under one token at both throttles: the
			// span admitted r × span ± 1 calls.
			a := float64(p.admitted)
			r = max((a-1)/span, min(r, (a+1)/span))
		}
		p.rate = r
	}
	p.rate = max(p.rate, p.minRate)
	p.hint.set(p.rate)
	p.admitted, p.streak, p.good, p.lastThr = 0, 0, 0, now
	// The bucket is empty now: the next attempt waits a full interval.
	p.next = now.Add(interval(p.rate))
}

// onWire records that the client's current attempt has just gone on the
// wire: it had its turn at reserve, then waited for one of the process's
// call slots (inFlightLimit), which a scanner holding many accounts on a
// busy machine makes long. The bucket sees the attempt now, so the next
// attempt is spaced one interval from now, not from the turn: spaced from
// the turn, an attempt held a second for a slot reached the bucket right
// before the next one and was refused, and each refusal cut the rate of
// every client of the process (the hint), down to minRate.
func (p *pacer) onWire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.firstWire.IsZero() {
		p.firstWire = now
	}
	if p.rate > 0 {
		if n := now.Add(interval(p.rate)); n.After(p.next) {
			p.next = n
		}
	}
}

// wireMark carries, from before the retry loop to the in-flight limit
// after it, the pacer of the attempt (set by GetAttemptToken): the
// SDK's retry loop hands both the same context.
type wireMark struct{ p *pacer }

type wireMarkKey struct{}

// addWireMark gives each operation of a paced service a wireMark, in the
// Finalize step right before the retry loop (the service is known there);
// the other clients' operations pass through untouched.
func addWireMark(stack *middleware.Stack) error {
	m := middleware.FinalizeMiddlewareFunc("configreport.WireMark",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if pacedServices[middleware.GetServiceID(ctx)] {
				ctx = context.WithValue(ctx, wireMarkKey{}, &wireMark{})
			}
			return next.HandleFinalize(ctx, in)
		})
	if _, ok := stack.Finalize.Get("Retry"); ok {
		return stack.Finalize.Insert(m, "Retry", middleware.Before)
	}
	return stack.Finalize.Add(m, middleware.Before)
}

// markOnWire tells the attempt's pacer, if any, that it is on the wire.
func markOnWire(ctx context.Context) {
	if m, ok := ctx.Value(wireMarkKey{}).(*wireMark); ok && m.p != nil {
		m.p.onWire()
	}
}

// learned is the rate paced at (calls/s; 0: not paced yet).
func (p *pacer) learned() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate
}

func interval(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / rate)
}

// pacedRetryer is the retryer of every client (NewRetryer): the SDK's
// adaptive mode, except for the clients of pacedServices, whose attempts
// the pacer spaces instead of the adaptive limiter, and whose throttled
// attempts are retried after the pacer's wait instead of an exponential
// backoff. Everything else (which errors are retried, permanent ones never,
// MaxAttempts, the backoff of 5xx and network errors) is the adaptive
// mode's, unchanged.
//
// A client's calls are all of one service; the retryer learns which from
// the first call's context (the SDK's RetryDelay is not given one).
type pacedRetryer struct {
	aws.RetryerV2 // *retry.AdaptiveMode
	pace          *pacer
	mode          atomic.Int32 // modeUnknown until the first attempt
}

const (
	modeUnknown int32 = iota
	modePaced
	modeAdaptive
)

func (r *pacedRetryer) paced(ctx context.Context) bool {
	m := r.mode.Load()
	if m == modeUnknown {
		m = modeAdaptive
		if pacedServices[middleware.GetServiceID(ctx)] {
			m = modePaced
		}
		r.mode.CompareAndSwap(modeUnknown, m)
		m = r.mode.Load()
	}
	return m == modePaced
}

// GetAttemptToken waits for the attempt's turn (paced clients) or for the
// adaptive limiter (the others). It runs before the process's in-flight
// limit, so a paced wait holds no call slot.
func (r *pacedRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if !r.paced(ctx) {
		return r.RetryerV2.GetAttemptToken(ctx)
	}
	if err := r.pace.wait(ctx); err != nil {
		return nil, fmt.Errorf("wait for the account-region's paced rate: %w", err)
	}
	if m, ok := ctx.Value(wireMarkKey{}).(*wireMark); ok {
		m.p = r.pace
	}
	return func(err error) error {
		r.pace.done(awserr.IsThrottle(err))
		return nil
	}, nil
}

// RetryDelay is no delay for a paced client's throttled attempt: the next
// attempt's GetAttemptToken waits what the learned rate says.
func (r *pacedRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if r.mode.Load() == modePaced && awserr.IsThrottle(err) {
		return 0, nil
	}
	return r.RetryerV2.RetryDelay(attempt, err)
}

var _ aws.RetryerV2 = (*pacedRetryer)(nil)
