package awssim

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Sim. The zero value of every knob is "off".
type Config struct {
	// Org is the organisation to serve (LoadOrg or Generate). Required.
	Org *Org
	// HubAccountID is the account the hub role lives in; default the
	// management account. Organizations listings are refused to the hub
	// unless it is the management account, as the design's policies do.
	HubAccountID string
	// Latency delays every AWS call by Latency × (1 ± 20%), uniformly.
	Latency time.Duration
	// ThrottleRPS, when > 0, is the rate and burst (at least 1) of the
	// token bucket of each (account, region)'s Config calls.
	ThrottleRPS float64
	// ErrorRate is the fraction of calls answered InternalFailure (500) or
	// ServiceUnavailable (503).
	ErrorRate float64
	// Deny picks that many ACTIVE member accounts whose AssumeRole is refused.
	Deny int
	// FailRegions picks that many (account, region) pairs whose Config calls
	// all answer UnrecognizedClientException.
	FailRegions int
	// DisabledRegions picks that many (account, opt-in region) pairs the
	// account has not enabled: DescribeRegions says not-opted-in, Config
	// calls answer UnrecognizedClientException.
	DisabledRegions int
	// NotRecording picks that many (account, region) pairs without a
	// configuration recorder (half of them, rounded up) or with a stopped
	// one (the rest).
	NotRecording int
	// SessionTTL caps the life of an AssumeRole session (AWS: 1h for a
	// chained role session). Default 1h.
	SessionTTL time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Org != nil && c.HubAccountID == "" {
		c.HubAccountID = c.Org.ManagementAccountID
	}
	c.SessionTTL = cmp.Or(c.SessionTTL, time.Hour)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate returns every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if c.Org == nil {
		errs = append(errs, errors.New("org: required"))
	}
	if c.HubAccountID != "" && !validAccountID(c.HubAccountID) {
		errs = append(errs, fmt.Errorf("hub account %q: want 12 digits", c.HubAccountID))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %s: negative", c.Latency))
	}
	if c.ThrottleRPS < 0 || math.IsNaN(c.ThrottleRPS) {
		errs = append(errs, fmt.Errorf("throttle rps %g: negative", c.ThrottleRPS))
	}
	if !(c.ErrorRate >= 0 && c.ErrorRate <= 1) {
		errs = append(errs, fmt.Errorf("error rate %g: want 0 to 1", c.ErrorRate))
	}
	if c.Deny < 0 {
		errs = append(errs, fmt.Errorf("deny %d: negative", c.Deny))
	}
	if c.FailRegions < 0 {
		errs = append(errs, fmt.Errorf("fail regions %d: negative", c.FailRegions))
	}
	if c.DisabledRegions < 0 {
		errs = append(errs, fmt.Errorf("disabled regions %d: negative", c.DisabledRegions))
	}
	if c.NotRecording < 0 {
		errs = append(errs, fmt.Errorf("not recording %d: negative", c.NotRecording))
	}
	if c.SessionTTL < time.Second {
		errs = append(errs, fmt.Errorf("session ttl %s: want at least 1s", c.SessionTTL))
	}
	return errors.Join(errs...)
}

// Sim is the simulator: an http.Handler serving Organizations, STS,
// Config and EC2 DescribeRegions for one organisation, plus /_sim/ endpoints
// for tests.
type Sim struct {
	cfg     Config
	org     *Org
	log     *slog.Logger
	tokens  tokenCodec
	regions []string // every region DescribeRegions knows, sorted

	children map[string][]int // parent id -> indexes of child OUs
	accounts map[string][]int // parent id -> indexes of accounts directly under it
	ouByPath map[string]int

	sessMu   sync.RWMutex
	sessions map[string]*session // by access key id

	buckets throttler
	stats   stats
}

// New builds a Sim. It applies the -deny, -fail-regions, -disabled-regions
// and -not-recording picks to a copy of cfg.Org, which Sim.Org returns.
func New(cfg Config) (*Sim, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("awssim config: %w", err)
	}
	org, err := applyFaults(cfg.Org, faultPicks{deny: cfg.Deny, fail: cfg.FailRegions, disabled: cfg.DisabledRegions, notRecording: cfg.NotRecording})
	if err != nil {
		return nil, fmt.Errorf("awssim config: %w", err)
	}
	s := &Sim{
		cfg:      cfg,
		org:      org,
		log:      cfg.Logger,
		tokens:   newTokenCodec(),
		children: map[string][]int{},
		accounts: map[string][]int{},
		ouByPath: map[string]int{},
		sessions: map[string]*session{},
		regions:  knownRegions(org),
	}
	s.buckets.init(cfg.ThrottleRPS)
	s.stats.reset()
	for i, ou := range org.OUs {
		s.children[ou.ParentID] = append(s.children[ou.ParentID], i)
		s.ouByPath[ou.Path] = i
	}
	for i, a := range org.Accounts {
		parent := org.RootID
		if a.OUPath != "Root" {
			parent = org.OUs[s.ouByPath[a.OUPath]].ID
		}
		s.accounts[parent] = append(s.accounts[parent], i)
	}
	return s, nil
}

// Org is the organisation as served, the -deny, -fail-regions,
// -disabled-regions and -not-recording picks applied: the ground truth to
// check a scan against.
func (s *Sim) Org() *Org { return s.org }

// HubAccountID is the account of the hub role.
func (s *Sim) HubAccountID() string { return s.cfg.HubAccountID }

// faultPicks is how many accounts or (account, region) pairs each knob picks.
type faultPicks struct {
	deny, fail, disabled, notRecording int
}

// applyFaults returns a copy of org where the picks of p are applied,
// deterministically (from the org's seed) among ACTIVE members other than
// the management account, and no account is in two of them: deny accounts
// refuse AssumeRole, fail pairs answer UnrecognizedClientException,
// disabled pairs are opt-in regions not enabled, not-recording pairs have no
// recorder or a stopped one. Deny picks skip accounts the org file makes
// fail; the other picks add to the file's own flags of their kind. Each
// knob's picks for N are the first N of one seeded order, so a larger N
// keeps the smaller N's picks.
func applyFaults(src *Org, p faultPicks) (*Org, error) {
	if src.first != nil {
		return applyFirstWeekFaults(src, p)
	}
	o := *src
	o.Accounts = slices.Clone(src.Accounts)
	o.index()
	if p == (faultPicks{}) {
		return &o, nil
	}
	var eligible []int
	for i, a := range o.Accounts {
		if a.Status == StatusActive && a.ID != o.ManagementAccountID && !a.Denied {
			eligible = append(eligible, i)
		}
	}
	slices.SortFunc(eligible, func(x, y int) int { return strings.Compare(o.Accounts[x].ID, o.Accounts[y].ID) })
	// The deny and fail picks draw from this generator in this order: the
	// picks of a seed were pinned before the later knobs existed, which
	// have generators of their own.
	rng := mrand.New(mrand.NewPCG(uint64(o.seed), 0x6661756c7473))
	rng.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	// Deny picks avoid accounts the org file already makes fail somewhere.
	var denyable, rest []int
	for _, i := range eligible {
		if len(o.Accounts[i].FailRegions) == 0 && len(denyable) < p.deny {
			denyable = append(denyable, i)
		} else {
			rest = append(rest, i)
		}
	}
	if p.deny > len(denyable) {
		return nil, fmt.Errorf("deny %d: only %d ACTIVE member accounts can be picked", p.deny, len(denyable))
	}
	taken := map[string]bool{} // accounts some knob picked
	for _, i := range denyable {
		o.Accounts[i].Denied = true
		taken[o.Accounts[i].ID] = true
	}
	var pairs []AccountRegion
	for _, i := range rest {
		for _, r := range o.Accounts[i].Regions {
			if !slices.Contains(o.Accounts[i].FailRegions, r) {
				pairs = append(pairs, AccountRegion{o.Accounts[i].ID, r})
			}
		}
	}
	if p.fail > len(pairs) {
		return nil, fmt.Errorf("fail regions %d: only %d (account, region) pairs can be picked", p.fail, len(pairs))
	}
	// Pairs of one account are adjacent; spreading the picks over accounts
	// first makes N picks touch N accounts when it can.
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	for _, pr := range pickPairs(pairs, p.fail, taken) {
		o.addRegion(pr, func(a *Account) *[]string { return &a.FailRegions })
	}
	// Accounts the org file makes fail are not picked for the knobs below.
	for _, i := range eligible {
		if len(o.Accounts[i].FailRegions) > 0 {
			taken[o.Accounts[i].ID] = true
		}
	}

	// Disabled: opt-in regions only, as only those can be left disabled.
	pairs = o.candidatePairs(eligible, 0x64697361626c6564, func(a *Account, r string) bool {
		return IsOptInRegion(r) && !slices.Contains(a.DisabledRegions, r)
	})
	picked := pickPairs(pairs, p.disabled, taken)
	if len(picked) < p.disabled {
		if len(pairs) == 0 {
			return nil, fmt.Errorf("disabled regions %d: no opt-in region (such as ap-east-1) among the accounts' regions", p.disabled)
		}
		return nil, fmt.Errorf("disabled regions %d: only %d (account, opt-in region) pairs can be picked", p.disabled, len(picked))
	}
	for _, pr := range picked {
		o.addRegion(pr, func(a *Account) *[]string { return &a.DisabledRegions })
	}
	for _, i := range eligible {
		if len(o.Accounts[i].DisabledRegions) > 0 {
			taken[o.Accounts[i].ID] = true
		}
	}

	// Not recording: the 1st, 3rd, 5th... picks have no recorder, the
	// others a stopped one, so that a larger N keeps each pick's kind.
	pairs = o.candidatePairs(eligible, 0x7265636f72646572, func(a *Account, r string) bool {
		return !slices.Contains(a.NoRecorderRegions, r) && !slices.Contains(a.StoppedRecorderRegions, r)
	})
	picked = pickPairs(pairs, p.notRecording, taken)
	if len(picked) < p.notRecording {
		return nil, fmt.Errorf("not recording %d: only %d (account, region) pairs can be picked", p.notRecording, len(picked))
	}
	for k, pr := range picked {
		if k%2 == 0 {
			o.addRegion(pr, func(a *Account) *[]string { return &a.NoRecorderRegions })
		} else {
			o.addRegion(pr, func(a *Account) *[]string { return &a.StoppedRecorderRegions })
		}
	}
	return &o, nil
}

// applyFirstWeekFaults applies to a later week's org the picks made in its
// first week (AWSSIM.md -week: the fault picks are the same accounts every
// week). An account that joined since is never picked, and one that left
// ACTIVE keeps no fault and is not replaced: it is not scanned any more.
func applyFirstWeekFaults(src *Org, p faultPicks) (*Org, error) {
	first, err := applyFaults(src.first, p)
	if err != nil {
		return nil, err
	}
	o := *src
	o.Accounts = slices.Clone(src.Accounts)
	o.index()
	for i := range o.Accounts {
		a := &o.Accounts[i]
		f, ok := first.Account(a.ID)
		if !ok || a.Status != StatusActive {
			continue
		}
		a.Denied, a.FailRegions, a.DisabledRegions = f.Denied, f.FailRegions, f.DisabledRegions
		a.NoRecorderRegions, a.StoppedRecorderRegions = f.NoRecorderRegions, f.StoppedRecorderRegions
	}
	return &o, nil
}

// candidatePairs lists the (account, region) pairs of the eligible accounts
// that keep says may be picked, in an order seeded by the org's seed and
// stream: the same for every value of the other knobs.
func (o *Org) candidatePairs(eligible []int, stream uint64, keep func(*Account, string) bool) []AccountRegion {
	ids := make([]int, len(eligible))
	copy(ids, eligible)
	slices.SortFunc(ids, func(x, y int) int { return strings.Compare(o.Accounts[x].ID, o.Accounts[y].ID) })
	var pairs []AccountRegion
	for _, i := range ids {
		a := &o.Accounts[i]
		for _, r := range a.Regions {
			if keep(a, r) {
				pairs = append(pairs, AccountRegion{a.ID, r})
			}
		}
	}
	rng := mrand.New(mrand.NewPCG(uint64(o.seed), stream))
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	return pairs
}

// pickPairs returns the first n pairs, in order, whose account no other knob
// has taken: one per account first, then a second and more. It marks the
// accounts it picks as taken, and returns fewer than n when it cannot pick
// more.
func pickPairs(pairs []AccountRegion, n int, taken map[string]bool) []AccountRegion {
	var chosen []AccountRegion
	mine := map[string]bool{}
	picked := map[AccountRegion]bool{}
	for pass := 0; len(chosen) < n && pass < 2; pass++ {
		for _, p := range pairs {
			if len(chosen) == n {
				break
			}
			if picked[p] || (taken[p.AccountID] && !mine[p.AccountID]) || (pass == 0 && mine[p.AccountID]) {
				continue
			}
			picked[p], mine[p.AccountID] = true, true
			chosen = append(chosen, p)
		}
	}
	for id := range mine {
		taken[id] = true
	}
	return chosen
}

// addRegion adds the pair's region to one of its account's sorted region
// lists, on a copy: the accounts of the org New was given are shared.
func (o *Org) addRegion(p AccountRegion, list func(*Account) *[]string) {
	l := list(&o.Accounts[o.byID[p.AccountID]])
	regions := append(slices.Clone(*l), p.Region)
	slices.Sort(regions)
	*l = regions
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sim/stats" && r.Method == http.MethodGet:
		writeJSON(w, s.Stats())
		return
	case r.URL.Path == "/_sim/stats/reset" && r.Method == http.MethodPost:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/_sim/sessions" && r.Method == http.MethodGet:
		writeJSON(w, struct {
			Sessions []Session `json:"sessions"`
		}{s.Sessions()})
		return
	case strings.HasPrefix(r.URL.Path, "/_sim/"):
		http.NotFound(w, r)
		return
	case r.Method == http.MethodGet && r.URL.Path == "/" && r.URL.RawQuery == "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		week := ""
		if s.org.Week > 1 {
			week = ", week " + strconv.Itoa(s.org.Week)
		}
		fmt.Fprintf(w, "awssim: simulated AWS Organizations, STS, Config and EC2 for organisation %s (%d accounts%s)\n", s.org.ID, len(s.org.Accounts), week)
		return
	}
	s.serveAWS(w, r)
}

// maxBody bounds a request body: the largest legitimate request here is a
// few hundred bytes.
const maxBody = 1 << 20

// call is one AWS request being served.
type call struct {
	proto   protocol
	svc     service
	op      string
	body    []byte
	form    map[string][]string // query protocol parameters
	region  string
	account string // for stats: the account the call acts on
	id      identity
	reqID   string

	// cfgIn is the Config input, when route could decode it with
	// parseFast (which implies the body is valid JSON).
	cfgIn     configInput
	cfgParsed bool
}

// readBody is io.ReadAll(io.LimitReader(r.Body, maxBody+1)) into buf,
// sized once from the announced length instead of grown from 512 bytes.
func readBody(r *http.Request, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if n := r.ContentLength; n >= 0 && n <= maxBody {
		buf = slices.Grow(buf, int(n)+1)
	}
	for len(buf) <= maxBody {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		n, err := r.Body.Read(buf[len(buf):min(cap(buf), maxBody+1)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (s *Sim) serveAWS(w http.ResponseWriter, r *http.Request) {
	n := s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)
	for {
		m := s.stats.maxInFlight.Load()
		if n <= m || s.stats.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}

	c := &call{reqID: newRequestID(), op: "unknown", account: "unknown", region: "unknown"}
	buf := getBuf()
	defer putBuf(buf)
	body, err := readBody(r, *buf)
	*buf = body[:0]
	var aerr *apiError
	if err != nil || len(body) > maxBody {
		aerr = badRequest("InvalidRequest", "request body could not be read or exceeds 1 MiB")
	}
	c.body = body
	if aerr == nil {
		aerr = s.route(r, c)
	}
	if aerr == nil {
		aerr = s.authenticate(r, c)
	}
	s.delay(r.Context())
	if aerr == nil {
		aerr = s.admit(c)
	}
	var out any
	if aerr == nil {
		out, aerr = s.dispatch(c)
	}
	status := http.StatusOK
	if aerr != nil {
		status = aerr.status
	}
	s.stats.record(c.op, c.account, c.region, status, aerr != nil && (aerr.code == "ThrottlingException" || aerr.code == "Throttling" || aerr.code == "RequestLimitExceeded"))
	if aerr != nil {
		if aerr.status >= 500 || aerr.code == "ThrottlingException" || aerr.code == "Throttling" || aerr.code == "RequestLimitExceeded" {
			s.log.Debug("refused call", slog.String("op", c.op), slog.String("account_id", c.account), slog.String("code", aerr.code))
		}
		switch c.proto {
		case protoQuery:
			writeXMLError(w, aerr, c.reqID)
		case protoEC2:
			writeEC2Error(w, aerr, c.reqID)
		default:
			writeJSONError(w, c.svc, aerr, c.reqID)
		}
		return
	}
	switch c.proto {
	case protoQuery:
		writeXMLResult(w, c.op, out, c.reqID)
	case protoEC2:
		writeEC2Result(w, c.op, out.(xmlAppender), c.reqID)
	default:
		writeJSONResult(w, out, c.reqID)
	}
}

// route finds the service and operation: X-Amz-Target for JSON 1.1, the
// Action parameter for the query protocols, which Version tells apart (EC2's
// 2016-11-15, else STS; without Version, the signing name).
func (s *Sim) route(r *http.Request, c *call) *apiError {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		c.proto = protoJSON
		prefix, op, _ := strings.Cut(t, ".")
		if op != "" {
			c.op = op
		}
		switch prefix {
		case "AWSOrganizationsV20161128":
			c.svc = svcOrgs
		case "StarlingDoveService":
			c.svc = svcConfig
		default:
			c.svc = svcConfig
			return badRequest("UnknownOperationException", "unknown target "+t)
		}
		if r.Method != http.MethodPost {
			return badRequest("UnknownOperationException", "JSON 1.1 requests are POSTed")
		}
		if c.svc == svcConfig && len(c.body) > 0 {
			c.cfgParsed = c.cfgIn.parseFast(c.body)
		}
		if len(c.body) > 0 && !c.cfgParsed && !json.Valid(c.body) {
			return badRequest("SerializationException", "request body is not valid JSON")
		}
		return nil
	}
	c.proto, c.svc = protoQuery, svcSTS
	form := map[string][]string(r.URL.Query())
	if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPost && (ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded")) {
		vals, err := parseQuery(string(c.body))
		if err != nil {
			return badRequest("MalformedQueryString", "request body is not form-encoded")
		}
		for k, v := range vals {
			form[k] = append(form[k], v...)
		}
	}
	c.form = form
	if v := first(form["Version"]); v == ec2Version || (v == "" && signingService(r) == "ec2") {
		c.proto, c.svc = protoEC2, svcEC2
	}
	c.op = first(form["Action"])
	if c.op == "" {
		c.op = "unknown"
		return badRequest("MissingAction", "Action is required")
	}
	return nil
}

func (s *Sim) delay(ctx context.Context) {
	if s.cfg.Latency <= 0 {
		return
	}
	d := time.Duration(float64(s.cfg.Latency) * (0.8 + 0.4*mrand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// admit applies, in the order AWS would, the refusals that do not depend on
// the operation's input: a region the account has not enabled, the
// least-privilege policies, throttling, then transient faults.
func (s *Sim) admit(c *call) *apiError {
	if c.svc == svcConfig && s.org.RegionFails(c.id.account, c.region) {
		return kindError(errUnknownToken, c.proto, "")
	}
	// A region the account has not enabled does not know its credentials:
	// Config there answers UnrecognizedClientException, EC2 AuthFailure.
	if (c.svc == svcConfig || c.svc == svcEC2) && s.org.RegionDisabled(c.id.account, c.region) {
		return kindError(errUnknownToken, c.proto, "")
	}
	if aerr := s.authorize(c); aerr != nil {
		return aerr
	}
	if c.svc == svcConfig && !s.buckets.allow(c.id.account, c.region) {
		return kindError(errThrottled, c.proto, "")
	}
	if p := s.cfg.ErrorRate; p > 0 && mrand.Float64() < p {
		internal := mrand.IntN(2) == 0
		switch {
		case c.proto == protoEC2 && internal:
			return ec2InternalError()
		case c.proto == protoEC2:
			return ec2Unavailable()
		case internal:
			return internalFailure()
		}
		return serviceUnavailable()
	}
	return nil
}

func (s *Sim) dispatch(c *call) (any, *apiError) {
	switch c.svc {
	case svcSTS:
		return s.sts(c)
	case svcOrgs:
		return s.organizations(c)
	case svcEC2:
		return s.ec2(c)
	default:
		return s.config(c)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONResult(w http.ResponseWriter, v any, reqID string) {
	if a, ok := v.(jsonAppender); ok {
		buf := getBuf()
		*buf = a.appendJSON(*buf)
		writeBody(w, hdrJSON, reqID, *buf)
		putBuf(buf)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, svcConfig, internalFailure(), reqID)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// newRequestID is a random id shaped as AWS's (8-4-4-4-12 hex digits).
// It needs to be unique, not unpredictable: math/rand/v2's generator, not
// crypto/rand's system call path, on every call.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	const hexd = "0123456789abcdef"
	var out [36]byte
	n := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[n] = '-'
			n++
		}
		out[n], out[n+1] = hexd[x>>4], hexd[x&15]
		n += 2
	}
	return string(out[:])
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Stats is the JSON of GET /_sim/stats.
type Stats struct {
	// Calls counts calls by operation, then by the account acted on
	// ("unknown" when the credentials were not recognised).
	Calls       map[string]map[string]int64 `json:"calls"`
	ByRegion    map[string]int64            `json:"by_region"`
	Total       int64                       `json:"total"`
	Throttled   int64                       `json:"throttled"`
	Errors      int64                       `json:"errors"`
	MaxInFlight int64                       `json:"max_in_flight"`
}

// OpCalls is the calls of one operation, over every account.
func (s Stats) OpCalls(op string) int64 {
	var n int64
	for _, c := range s.Calls[op] {
		n += c
	}
	return n
}

// scanConfigOps are the Config operations a scan makes.
var scanConfigOps = []string{"DescribeConfigRules", "DescribeComplianceByConfigRule", "GetComplianceDetailsByConfigRule"}

// ConfigCalls is the Config calls a scan makes (the three operations), over
// every account: what the throttle shares are measured against.
func (s Stats) ConfigCalls() int64 {
	var n int64
	for _, op := range scanConfigOps {
		n += s.OpCalls(op)
	}
	return n
}

type stats struct {
	mu          sync.Mutex
	calls       map[string]map[string]int64
	byRegion    map[string]int64
	total       int64
	throttled   int64
	errors      int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func (st *stats) reset() {
	st.mu.Lock()
	st.calls = map[string]map[string]int64{}
	st.byRegion = map[string]int64{}
	st.total, st.throttled, st.errors = 0, 0, 0
	st.maxInFlight.Store(st.inFlight.Load())
	st.mu.Unlock()
}

func (st *stats) record(op, account, region string, status int, throttled bool) {
	st.mu.Lock()
	m := st.calls[op]
	if m == nil {
		m = map[string]int64{}
		st.calls[op] = m
	}
	m[account]++
	st.byRegion[region]++
	st.total++
	if status >= 400 {
		st.errors++
	}
	if throttled {
		st.throttled++
	}
	st.mu.Unlock()
}

// Stats returns a snapshot of the call counters.
func (s *Sim) Stats() Stats {
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	out := Stats{
		Calls:       make(map[string]map[string]int64, len(st.calls)),
		ByRegion:    make(map[string]int64, len(st.byRegion)),
		Total:       st.total,
		Throttled:   st.throttled,
		Errors:      st.errors,
		MaxInFlight: st.maxInFlight.Load(),
	}
	for op, m := range st.calls {
		c := make(map[string]int64, len(m))
		for k, v := range m {
			c[k] = v
		}
		out.Calls[op] = c
	}
	for k, v := range st.byRegion {
		out.ByRegion[k] = v
	}
	return out
}

// ResetStats zeroes the call counters.
func (s *Sim) ResetStats() { s.stats.reset() }
