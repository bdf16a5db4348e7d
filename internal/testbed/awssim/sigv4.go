package awssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// sigv4Auth is the parsed Authorization header of a SigV4-signed request.
type sigv4Auth struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders string // as sent: "host;x-amz-date;..."
	signature     string
}

const sigv4Algorithm = "AWS4-HMAC-SHA256"

var errMalformedAuth = errors.New("malformed Authorization header")

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex".
func parseAuthorization(h string) (sigv4Auth, error) {
	var a sigv4Auth
	rest, ok := strings.CutPrefix(h, sigv4Algorithm+" ")
	if !ok {
		return a, errMalformedAuth
	}
	signed := false
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errMalformedAuth
		}
		switch k {
		case "Credential":
			if strings.Count(v, "/") != 4 {
				return a, errMalformedAuth
			}
			id, v, _ := strings.Cut(v, "/")
			date, v, _ := strings.Cut(v, "/")
			region, v, _ := strings.Cut(v, "/")
			service, term, _ := strings.Cut(v, "/")
			if term != "aws4_request" {
				return a, errMalformedAuth
			}
			a.accessKeyID, a.date, a.region, a.service = id, date, region, service
		case "SignedHeaders":
			a.signedHeaders, signed = v, true
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || !signed || a.signature == "" {
		return a, errMalformedAuth
	}
	return a, nil
}

// verifySigV4 recomputes the signature of r (whose body has been read into
// body) with secret and compares it with the one the client sent. It follows
// the SigV4 specification: canonical request, string to sign, signing key
// derived from the credential scope.
func verifySigV4(r *http.Request, body []byte, a sigv4Auth, secret string) bool {
	return verifySigV4Key(r, body, a, newScopeKey(signingKey(secret, a.date, a.region, a.service)))
}

// signingKey derives the SigV4 key of a secret for one day, region and
// service.
func signingKey(secret, date, region, service string) []byte {
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key[:], region)
	key = hmacSHA256(key[:], service)
	key = hmacSHA256(key[:], "aws4_request")
	return key[:]
}

// scopeKey is a derived signing key with a pool of HMACs keyed with it:
// keying an HMAC costs allocations and two hash blocks, and a session
// signs every call of a scan with the same few keys.
type scopeKey struct {
	key  []byte
	macs sync.Pool
}

func newScopeKey(key []byte) *scopeKey {
	k := &scopeKey{key: key}
	k.macs.New = func() any { return hmac.New(sha256.New, key) }
	return k
}

// sign returns the hex HMAC of msg in out.
func (k *scopeKey) sign(out *[sha256.Size * 2]byte, msg []byte) {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(msg)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	k.macs.Put(m)
	hex.Encode(out[:], sum[:])
}

// sigBufs holds the buffers of canonical requests being verified.
var sigBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func verifySigV4Key(r *http.Request, body []byte, a sigv4Auth, key *scopeKey) bool {
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		amzDate = r.Header.Get("Date")
	}
	if len(amzDate) < 8 || amzDate[:8] != a.date {
		return false
	}
	if !signsHost(a.signedHeaders) {
		return false
	}

	var bodyHash [sha256.Size * 2]byte
	sum := sha256.Sum256(body)
	hex.Encode(bodyHash[:], sum[:])
	payloadHash := bodyHash[:]
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != "UNSIGNED-PAYLOAD" && h != string(bodyHash[:]) {
			return false
		}
		payloadHash = []byte(h)
	}

	bp := sigBufs.Get().(*[]byte)
	buf := appendCanonicalRequest((*bp)[:0], r, a.signedHeaders, payloadHash)
	crHash := sha256.Sum256(buf)
	crLen := len(buf)
	buf = append(buf, sigv4Algorithm+"\n"...)
	buf = append(buf, amzDate...)
	buf = append(buf, '\n')
	buf = append(buf, a.date...)
	buf = append(buf, '/')
	buf = append(buf, a.region...)
	buf = append(buf, '/')
	buf = append(buf, a.service...)
	buf = append(buf, "/aws4_request\n"...)
	buf = hex.AppendEncode(buf, crHash[:])

	var want [sha256.Size * 2]byte
	key.sign(&want, buf[crLen:])
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		sigBufs.Put(bp)
	}
	return constantTimeEqual(want[:], a.signature)
}

// appendCanonicalRequest appends the SigV4 canonical request of r.
func appendCanonicalRequest(cr []byte, r *http.Request, signedHeaders string, payloadHash []byte) []byte {
	cr = append(cr, r.Method...)
	cr = append(cr, '\n')
	cr = appendCanonicalURI(cr, r.URL)
	cr = append(cr, '\n')
	cr = append(cr, canonicalQuery(r.URL.RawQuery)...)
	cr = append(cr, '\n')
	for name := range strings.SplitSeq(signedHeaders, ";") {
		cr = append(cr, name...)
		cr = append(cr, ':')
		cr = appendCanonicalHeaderValue(cr, r, name)
		cr = append(cr, '\n')
	}
	cr = append(cr, '\n')
	cr = append(cr, signedHeaders...)
	cr = append(cr, '\n')
	return append(cr, payloadHash...)
}

func signsHost(signedHeaders string) bool {
	for name := range strings.SplitSeq(signedHeaders, ";") {
		if name == "host" {
			return true
		}
	}
	return false
}

// constantTimeEqual compares in time that depends only on the lengths.
func constantTimeEqual(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range a {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// canonicalKeys maps the header names SDKs sign to their canonical form,
// which textproto.CanonicalMIMEHeaderKey would allocate on every call.
var canonicalKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"content-type", "content-length", "content-md5", "x-amz-date", "x-amz-security-token",
		"x-amz-target", "x-amz-content-sha256", "x-amz-user-agent", "amz-sdk-invocation-id",
		"amz-sdk-request", "user-agent", "accept-encoding", "x-amz-api-version", "date",
	} {
		m[k] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return m
}()

// appendCanonicalHeaderValue appends a signed header's values, each trimmed
// with its inner runs of spaces collapsed as the specification says, joined
// by commas.
func appendCanonicalHeaderValue(dst []byte, r *http.Request, name string) []byte {
	var vals []string
	switch name {
	case "host":
		return appendTrimmed(dst, nil, r.Host)
	case "content-length":
		vals = r.Header["Content-Length"]
		if len(vals) == 0 {
			return strconv.AppendInt(dst, r.ContentLength, 10)
		}
	default:
		key, ok := canonicalKeys[name]
		if !ok {
			key = textproto.CanonicalMIMEHeaderKey(name)
		}
		vals = r.Header[key]
	}
	for i := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrimmed(dst, &vals[i], vals[i])
	}
	return dst
}

// appendTrimmed appends v trimmed, its inner runs of white space collapsed
// to one space. The common value (printable ASCII, single inner spaces)
// is appended as it is; any other goes through strings.Fields, and is
// stored back through p when p is not nil, as the header then reads.
func appendTrimmed(dst []byte, p *string, v string) []byte {
	clean := len(v) == 0 || (v[0] != ' ' && v[len(v)-1] != ' ')
	for i := 0; clean && i < len(v); i++ {
		c := v[i]
		clean = (c > ' ' && c < 0x7f) || (c == ' ' && v[i+1] != ' ')
	}
	if clean {
		return append(dst, v...)
	}
	v = strings.Join(strings.Fields(v), " ")
	if p != nil {
		*p = v
	}
	return append(dst, v...)
}

// appendCanonicalURI encodes the path once more on top of its escaped form:
// every service but S3 signs the double-encoded path.
func appendCanonicalURI(dst []byte, u *url.URL) []byte {
	p := u.EscapedPath()
	if p == "" {
		return append(dst, '/')
	}
	return appendURIEncode(dst, p, false)
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return raw
	}
	pairs := make([]string, 0, len(vals))
	for k, vs := range vals {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode is SigV4's UriEncode: every byte but the unreserved characters
// percent-encoded in upper-case hex; '/' kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	return string(appendURIEncode(nil, s, encodeSlash))
}

func appendURIEncode(b []byte, s string, encodeSlash bool) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == '/' && !encodeSlash:
			b = append(b, c)
		default:
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return b
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) with two one-shot hashes on stack
// buffers: every session derives a signing key with four of them, and
// crypto/hmac allocates its state for each.
func hmacSHA256(key []byte, data string) [sha256.Size]byte {
	var k [sha256.BlockSize]byte
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	var small [sha256.BlockSize + 64]byte
	in := small[:0]
	if sha256.BlockSize+len(data) > len(small) {
		in = make([]byte, 0, sha256.BlockSize+len(data))
	}
	for _, b := range k {
		in = append(in, b^0x36)
	}
	inner := sha256.Sum256(append(in, data...))
	var out [sha256.BlockSize + sha256.Size]byte
	for i, b := range k {
		out[i] = b ^ 0x5c
	}
	copy(out[sha256.BlockSize:], inner[:])
	return sha256.Sum256(out[:])
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
