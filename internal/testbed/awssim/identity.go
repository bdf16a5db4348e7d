package awssim

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// identity is who signed a call.
type identity struct {
	hub     bool   // the hub role's own keys (any access key id not starting ASIA)
	account string // the account the identity lives in
	role    string
	sess    *session // nil for the hub
}

func (id identity) arn() string {
	name := "hub"
	if id.sess != nil {
		name = id.sess.sessionName
	}
	return "arn:aws:sts::" + id.account + ":assumed-role/" + id.role + "/" + name
}

func (id identity) userID() string {
	name := "hub"
	if id.sess != nil {
		name = id.sess.sessionName
	}
	return roleID(id.account, id.role) + ":" + name
}

// roleID is a stable AROA... unique id for a role, as IAM gives each role one.
func roleID(account, role string) string {
	return "AROA" + hashString(account+"/"+role, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)
}

// session is a set of credentials AssumeRole handed out.
type session struct {
	accessKeyID string
	secret      string
	token       string
	account     string
	role        string
	sessionName string
	expires     time.Time

	// The signing key depends only on the day, region and service: a
	// session signs thousands of calls with a handful of keys, so derive
	// each once (four HMACs fewer per call).
	keyMu sync.Mutex
	keys  []sessionKey
}

type sessionKey struct {
	date, region, service string
	key                   *scopeKey
}

// maxSessionKeys bounds the keys a session keeps: a client signing for
// ever new scopes gets new derivations, not unbounded memory.
const maxSessionKeys = 64

func (ss *session) signingKey(date, region, service string) *scopeKey {
	ss.keyMu.Lock()
	defer ss.keyMu.Unlock()
	for _, k := range ss.keys {
		if k.date == date && k.region == region && k.service == service {
			return k.key
		}
	}
	if len(ss.keys) >= maxSessionKeys {
		ss.keys = ss.keys[:0]
	}
	k := newScopeKey(signingKey(ss.secret, date, region, service))
	ss.keys = append(ss.keys, sessionKey{date, region, service, k})
	return k
}

// Session is one issued credential set, as GET /_sim/sessions lists it (so
// tests can check that no secret reaches a log).
type Session struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Account         string    `json:"account"`
	Role            string    `json:"role"`
	Expiration      time.Time `json:"expiration"`
}

// Sessions lists every session issued, oldest first.
func (s *Sim) Sessions() []Session {
	s.sessMu.RLock()
	out := make([]Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, Session{
			AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token,
			Account: ss.account, Role: ss.role, Expiration: ss.expires,
		})
	}
	s.sessMu.RUnlock()
	slices.SortFunc(out, func(a, b Session) int {
		if c := a.Expiration.Compare(b.Expiration); c != 0 {
			return c
		}
		return strings.Compare(a.AccessKeyID, b.AccessKeyID)
	})
	return out
}

func (s *Sim) issue(account, role, name string, ttl time.Duration) *session {
	ss := &session{
		accessKeyID: "ASIA" + randToken(base32Upper, 10)[:16],
		secret:      randToken(base64.StdEncoding, 30),
		token:       "IQoJb3JpZ2luX2VjE" + randToken(base64.StdEncoding, 192),
		account:     account, role: role, sessionName: name,
		expires: time.Now().Add(ttl).UTC(),
	}
	s.sessMu.Lock()
	s.sessions[ss.accessKeyID] = ss
	s.sessMu.Unlock()
	return ss
}

var base32Upper = base32.StdEncoding.WithPadding(base32.NoPadding)

type encoder interface{ EncodeToString([]byte) string }

func randToken(enc encoder, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return enc.EncodeToString(b)
}

// authenticate identifies the signer. Keys not starting ASIA are the hub
// role's own (their secret is not known here, so they are not verified);
// ASIA keys must be a session awssim issued, with its session token, a valid
// signature over its secret, and not expired.
func (s *Sim) authenticate(r *http.Request, c *call) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return kindError(errMissingAuth, c.proto, "")
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return badRequest("IncompleteSignature", "Authorization header requires Credential, SignedHeaders and Signature")
	}
	c.region = a.region
	if !strings.HasPrefix(a.accessKeyID, "ASIA") {
		c.id = identity{hub: true, account: s.cfg.HubAccountID, role: RoleWrite}
		c.account = c.id.account
		s.actOn(c)
		return nil
	}
	s.sessMu.RLock()
	ss := s.sessions[a.accessKeyID]
	s.sessMu.RUnlock()
	if ss == nil || r.Header.Get("X-Amz-Security-Token") != ss.token {
		return kindError(errUnknownToken, c.proto, "")
	}
	c.id = identity{account: ss.account, role: ss.role, sess: ss}
	c.account = ss.account
	s.actOn(c)
	if !verifySigV4Key(r, c.body, a, ss.signingKey(a.date, a.region, a.service)) {
		return kindError(errSignature, c.proto, "")
	}
	// AWS refuses a signature more than 15 minutes away from its clock, so
	// a captured request cannot be replayed for long.
	if signed, err := parseAmzDate(r.Header.Get("X-Amz-Date")); err == nil {
		if d := time.Since(signed); d > maxSkew || d < -maxSkew {
			if c.proto == protoEC2 {
				return kindError(errExpired, c.proto, "") // EC2: RequestExpired
			}
			e := kindError(errSignature, c.proto, "")
			e.msg = "Signature expired: " + signed.Format("20060102T150405Z") + " is now earlier than " +
				time.Now().UTC().Add(-maxSkew).Format("20060102T150405Z") + " (" + time.Now().UTC().Format("20060102T150405Z") + " - 15 min.)"
			return e
		}
	}
	if !time.Now().Before(ss.expires) {
		return kindError(errExpired, c.proto, "")
	}
	return nil
}

const maxSkew = 15 * time.Minute

// amzDateLayout is X-Amz-Date's format.
const amzDateLayout = "20060102T150405Z"

// parseAmzDate is time.Parse(amzDateLayout, v), which was 1.4% of awssim's
// CPU on every signed call: the dates SDKs send are read directly; any
// other string (a day past the 28th included, whose validity depends on
// the month) goes to time.Parse, so the result and the error are its own.
func parseAmzDate(v string) (time.Time, error) {
	if len(v) != len(amzDateLayout) || v[8] != 'T' || v[15] != 'Z' {
		return time.Parse(amzDateLayout, v)
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := v[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(4, 6), num(6, 8)
	hour, minute, sec := num(9, 11), num(11, 13), num(13, 15)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 28 ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Parse(amzDateLayout, v)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), nil
}

// actOn sets the account a call is counted against: AssumeRole's target,
// otherwise the signer's.
func (s *Sim) actOn(c *call) {
	if c.svc == svcSTS && c.op == "AssumeRole" {
		if acct, _, ok := parseRoleARN(first(c.form["RoleArn"])); ok {
			c.account = acct
		}
	}
}

// authorize applies the least-privilege policies of the design.
func (s *Sim) authorize(c *call) *apiError {
	id := c.id
	allowed := false
	switch c.svc {
	case svcSTS:
		allowed = c.op == "GetCallerIdentity" || (c.op == "AssumeRole" && id.hub)
	case svcOrgs:
		switch {
		case id.hub && c.op == "DescribeOrganization":
			allowed = true
		case id.hub:
			allowed = id.account == s.org.ManagementAccountID
		default:
			allowed = id.role == RoleListOrg
		}
	case svcConfig, svcEC2:
		allowed = id.role == RoleRead && id.sess != nil
	}
	if allowed {
		return nil
	}
	action := map[service]string{svcSTS: "sts", svcOrgs: "organizations", svcConfig: "config", svcEC2: "ec2"}[c.svc] + ":" + c.op
	msg := "User: " + id.arn() + " is not authorized to perform: " + action + " because no identity-based policy allows the " + action + " action"
	if c.svc == svcOrgs {
		msg = "You don't have permissions to access this resource."
	}
	return kindError(errDenied, c.proto, msg)
}

// roleExists says whether a role of the design exists in an account: the
// hub role in the hub account, the org-list role in the management account,
// the read role everywhere.
func (s *Sim) roleExists(account, role string) bool {
	switch role {
	case RoleRead:
		return true
	case RoleListOrg:
		return account == s.org.ManagementAccountID
	case RoleWrite:
		return account == s.cfg.HubAccountID
	}
	return false
}

// parseRoleARN reads arn:aws:iam::123456789012:role/optional/path/name.
func parseRoleARN(arn string) (account, role string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok {
		return "", "", false
	}
	account, res, ok := strings.Cut(rest, ":")
	if !ok || !validAccountID(account) {
		return "", "", false
	}
	res, ok = strings.CutPrefix(res, "role/")
	if !ok || res == "" {
		return "", "", false
	}
	return account, res[strings.LastIndexByte(res, '/')+1:], true
}

// throttler holds one token bucket per (account, region): rate r, burst r,
// starting full, like AWS's per-account, per-region API limits. Shards keep
// the lock of one bucket from serialising every account.
type throttler struct {
	rate   float64
	shards [64]struct {
		mu      sync.Mutex
		buckets map[accountRegion]*bucket
	}
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (t *throttler) init(rate float64) {
	t.rate = rate
	for i := range t.shards {
		t.shards[i].buckets = map[accountRegion]*bucket{}
	}
}

func (t *throttler) allow(account, region string) bool {
	if t.rate <= 0 {
		return true
	}
	// A struct key and fnv32a: no string built nor hasher allocated per call.
	key := accountRegion{account, region}
	sh := &t.shards[fnv32a(account, region)%uint32(len(t.shards))]
	now := time.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil {
		b = &bucket{tokens: t.burst(), last: now}
		sh.buckets[key] = b
	}
	b.tokens = min(t.burst(), b.tokens+now.Sub(b.last).Seconds()*t.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// burst is the bucket's capacity: r, but at least one call, so that a rate
// below 1/s still lets calls through.
func (t *throttler) burst() float64 { return max(t.rate, 1) }
