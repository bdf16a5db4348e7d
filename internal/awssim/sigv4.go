package awssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// sigv4Auth is the parsed Authorization header of a SigV4-signed request.
type sigv4Auth struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders []string
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
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errMalformedAuth
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, errMalformedAuth
			}
			a.accessKeyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return a, errMalformedAuth
	}
	return a, nil
}

// verifySigV4 recomputes the signature of r (whose body has been read into
// body) with secret and compares it with the one the client sent. It follows
// the SigV4 specification: canonical request, string to sign, signing key
// derived from the credential scope.
func verifySigV4(r *http.Request, body []byte, a sigv4Auth, secret string) bool {
	return verifySigV4Key(r, body, a, signingKey(secret, a.date, a.region, a.service))
}

// signingKey derives the SigV4 key of a secret for one day, region and
// service.
func signingKey(secret, date, region, service string) []byte {
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	return hmacSHA256(key, "aws4_request")
}

func verifySigV4Key(r *http.Request, body []byte, a sigv4Auth, key []byte) bool {
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		amzDate = r.Header.Get("Date")
	}
	if len(amzDate) < 8 || amzDate[:8] != a.date {
		return false
	}
	if !contains(a.signedHeaders, "host") {
		return false
	}

	payloadHash := hexSHA256(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != "UNSIGNED-PAYLOAD" && h != payloadHash {
			return false
		}
		payloadHash = h
	}

	var cr strings.Builder
	cr.Grow(512)
	cr.WriteString(r.Method)
	cr.WriteByte('\n')
	cr.WriteString(canonicalURI(r.URL))
	cr.WriteByte('\n')
	cr.WriteString(canonicalQuery(r.URL.RawQuery))
	cr.WriteByte('\n')
	for _, name := range a.signedHeaders {
		cr.WriteString(name)
		cr.WriteByte(':')
		cr.WriteString(canonicalHeaderValue(r, name))
		cr.WriteByte('\n')
	}
	cr.WriteByte('\n')
	cr.WriteString(strings.Join(a.signedHeaders, ";"))
	cr.WriteByte('\n')
	cr.WriteString(payloadHash)

	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	stringToSign := sigv4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(cr.String()))

	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	return subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) == 1
}

func canonicalHeaderValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		// Trim and collapse inner runs of spaces, as the specification says.
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// canonicalURI encodes the path once more on top of its escaped form: every
// service but S3 signs the double-encoded path.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
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
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
