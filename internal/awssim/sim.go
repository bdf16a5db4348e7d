package awssim

import (
	"context"
	"crypto/rand"
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
	if c.SessionTTL == 0 {
		c.SessionTTL = time.Hour
	}
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
	if c.SessionTTL < time.Second {
		errs = append(errs, fmt.Errorf("session ttl %s: want at least 1s", c.SessionTTL))
	}
	return errors.Join(errs...)
}

// Sim is the simulator: an http.Handler serving Organizations, STS and
// Config for one organisation, plus /_sim/ endpoints for tests.
type Sim struct {
	cfg    Config
	org    *Org
	log    *slog.Logger
	tokens tokenCodec

	children map[string][]int // parent id -> indexes of child OUs
	accounts map[string][]int // parent id -> indexes of accounts directly under it
	ouByPath map[string]int

	sessMu   sync.RWMutex
	sessions map[string]*session // by access key id

	buckets throttler
	stats   stats
}

// New builds a Sim. It applies the -deny and -fail-regions picks to a copy
// of cfg.Org, which Sim.Org returns.
func New(cfg Config) (*Sim, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("awssim config: %w", err)
	}
	org, err := applyFaults(cfg.Org, cfg.Deny, cfg.FailRegions)
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

// Org is the organisation as served, the -deny and -fail-regions picks
// applied: the ground truth to check a scan against.
func (s *Sim) Org() *Org { return s.org }

// HubAccountID is the account of the hub role.
func (s *Sim) HubAccountID() string { return s.cfg.HubAccountID }

// applyFaults returns a copy of org where deny accounts refuse AssumeRole and
// failRegions (account, region) pairs fail, picked deterministically (from
// the org's seed) among ACTIVE members other than the management account.
// An account is never both denied and failing: deny picks skip accounts the
// org file makes fail, fail picks skip denied accounts (and add to the
// file's own fail flags).
func applyFaults(src *Org, deny, failRegions int) (*Org, error) {
	o := *src
	o.Accounts = slices.Clone(src.Accounts)
	o.index()
	if deny == 0 && failRegions == 0 {
		return &o, nil
	}
	var eligible []int
	for i, a := range o.Accounts {
		if a.Status == StatusActive && a.ID != o.ManagementAccountID && !a.Denied {
			eligible = append(eligible, i)
		}
	}
	slices.SortFunc(eligible, func(x, y int) int { return strings.Compare(o.Accounts[x].ID, o.Accounts[y].ID) })
	rng := mrand.New(mrand.NewPCG(uint64(o.seed), 0x6661756c7473))
	rng.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	// Deny picks avoid accounts the org file already makes fail somewhere.
	var denyable, rest []int
	for _, i := range eligible {
		if len(o.Accounts[i].FailRegions) == 0 && len(denyable) < deny {
			denyable = append(denyable, i)
		} else {
			rest = append(rest, i)
		}
	}
	if deny > len(denyable) {
		return nil, fmt.Errorf("deny %d: only %d ACTIVE member accounts can be picked", deny, len(denyable))
	}
	for _, i := range denyable {
		o.Accounts[i].Denied = true
	}
	var pairs []AccountRegion
	for _, i := range rest {
		for _, r := range o.Accounts[i].Regions {
			if !slices.Contains(o.Accounts[i].FailRegions, r) {
				pairs = append(pairs, AccountRegion{o.Accounts[i].ID, r})
			}
		}
	}
	if failRegions > len(pairs) {
		return nil, fmt.Errorf("fail regions %d: only %d (account, region) pairs can be picked", failRegions, len(pairs))
	}
	// Pairs of one account are adjacent; spreading the picks over accounts
	// first makes N picks touch N accounts when it can.
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	picked := map[string]bool{}
	var chosen []AccountRegion
	for pass := 0; len(chosen) < failRegions && pass < 2; pass++ {
		for _, p := range pairs {
			if len(chosen) == failRegions {
				break
			}
			k := p.AccountID + "/" + p.Region
			if picked[k] || (pass == 0 && picked[p.AccountID]) {
				continue
			}
			picked[k], picked[p.AccountID] = true, true
			chosen = append(chosen, p)
		}
	}
	for _, p := range chosen {
		i := o.byID[p.AccountID]
		fr := slices.Clone(o.Accounts[i].FailRegions)
		fr = append(fr, p.Region)
		slices.Sort(fr)
		o.Accounts[i].FailRegions = fr
	}
	return &o, nil
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
		fmt.Fprintf(w, "awssim: simulated AWS Organizations, STS and Config for organisation %s (%d accounts)\n", s.org.ID, len(s.org.Accounts))
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
	s.stats.record(c.op, c.account, c.region, status, aerr != nil && (aerr.code == "ThrottlingException" || aerr.code == "Throttling"))
	if aerr != nil {
		if aerr.status >= 500 || aerr.code == "ThrottlingException" || aerr.code == "Throttling" {
			s.log.Debug("refused call", slog.String("op", c.op), slog.String("account_id", c.account), slog.String("code", aerr.code))
		}
		if c.proto == protoQuery {
			writeXMLError(w, aerr, c.reqID)
		} else {
			writeJSONError(w, c.svc, aerr, c.reqID)
		}
		return
	}
	if c.proto == protoQuery {
		writeXMLResult(w, c.op, out, c.reqID)
	} else {
		writeJSONResult(w, out, c.reqID)
	}
}

// route finds the service and operation: X-Amz-Target for JSON 1.1, the
// Action parameter for the query protocol.
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
	if aerr := s.authorize(c); aerr != nil {
		return aerr
	}
	if c.svc == svcConfig && !s.buckets.allow(c.id.account, c.region) {
		return kindError(errThrottled, c.proto, "")
	}
	if p := s.cfg.ErrorRate; p > 0 && mrand.Float64() < p {
		if mrand.IntN(2) == 0 {
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

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[x>>4], hexd[x&15])
	}
	return string(out)
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
