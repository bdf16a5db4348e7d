package awssim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// refCanonicalRequest is the canonical request as awssim built it before
// appendCanonicalRequest (strings.Builder, Header.Values, strings.Fields on
// every value): the oracle the allocation-free builder must match.
func refCanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var cr strings.Builder
	cr.WriteString(r.Method)
	cr.WriteByte('\n')
	p := r.URL.EscapedPath()
	if p == "" {
		cr.WriteString("/")
	} else {
		cr.WriteString(uriEncode(p, false))
	}
	cr.WriteByte('\n')
	cr.WriteString(canonicalQuery(r.URL.RawQuery))
	cr.WriteByte('\n')
	for _, name := range signedHeaders {
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
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		cr.WriteString(name)
		cr.WriteByte(':')
		cr.WriteString(strings.Join(vals, ","))
		cr.WriteByte('\n')
	}
	cr.WriteByte('\n')
	cr.WriteString(strings.Join(signedHeaders, ";"))
	cr.WriteByte('\n')
	cr.WriteString(payloadHash)
	return cr.String()
}

// TestCanonicalRequestMatchesReference builds the canonical request of
// requests with awkward header values (runs of spaces, tabs, non-ASCII
// white space, several values, no Content-Length header) both ways.
func TestCanonicalRequestMatchesReference(t *testing.T) {
	values := []string{"", "plain", "a b", "a  b", " lead", "trail ", "  both  ", "tab\there", "nl\nx", "nbsp\u00a0x", "nel\u0085x",
		"caf\u00e9 ok", "x\x7fy", "\xff\xfe", "AWS4-HMAC-SHA256 Credential=x", "20261125T120000Z", "a , b", "multi   inner   runs"}
	targets := []string{"http://127.0.0.1:4566/", "http://127.0.0.1:4566/some%20path/x?b=2&a=1&a=0&sp=a%20b", "http://h.test", "http://h.test/a//b?x"}
	n := 0
	for _, target := range targets {
		for _, v := range values {
			for _, second := range []string{"", "second  value"} {
				for _, withCL := range []bool{false, true} {
					mk := func() *http.Request {
						r := httptest.NewRequest(http.MethodPost, target, strings.NewReader("{}"))
						r.Host = "h:1" + strings.TrimSpace(v[:min(len(v), 3)])
						r.Header["X-Amz-Date"] = []string{v}
						r.Header["X-Custom-Thing"] = []string{v}
						if second != "" {
							r.Header["X-Custom-Thing"] = append(r.Header["X-Custom-Thing"], second)
						}
						if withCL {
							r.Header["Content-Length"] = []string{" 2 "}
						}
						r.ContentLength = 2
						return r
					}
					signed := []string{"content-length", "host", "x-amz-date", "x-custom-thing", "x-absent"}
					want := refCanonicalRequest(mk(), signed, "hash")
					r := mk()
					got := string(appendCanonicalRequest(nil, r, strings.Join(signed, ";"), []byte("hash")))
					if got != want {
						t.Fatalf("value %q, second %q, Content-Length %v, %s:\n got %q\nwant %q", v, second, withCL, target, got, want)
					}
					// The header then reads as the reference left it.
					ref := mk()
					refCanonicalRequest(ref, signed, "hash")
					if g, w := r.Header.Get("X-Amz-Date"), ref.Header.Get("X-Amz-Date"); g != w {
						t.Fatalf("X-Amz-Date after verification: %q, reference %q", g, w)
					}
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("nothing compared")
	}
}

// TestParseAuthorization checks the header parser on the shapes clients
// send and on malformed ones.
func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want sigv4Auth
	}{
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc", true,
			sigv4Auth{"AKID", "20261125", "us-east-1", "config", "host;x-amz-date", "abc"}},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/aws4_request,SignedHeaders=,Signature=abc", true,
			sigv4Auth{"AKID", "20261125", "us-east-1", "config", "", "abc"}},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/aws4_request, Signature=abc", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/other, SignedHeaders=host, Signature=abc", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/aws4_request, SignedHeaders=host, Signature=abc", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA256 Credential=AKID/x/20261125/us-east-1/config/aws4_request, SignedHeaders=host, Signature=abc", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA256 Credential=/20261125/us-east-1/config/aws4_request, SignedHeaders=host, Signature=abc", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/aws4_request, SignedHeaders=host, Signature=", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/config/aws4_request, SignedHeaders=host, Bogus", false, sigv4Auth{}},
		{"AWS4-HMAC-SHA1 Credential=AKID/20261125/us-east-1/config/aws4_request, SignedHeaders=host, Signature=abc", false, sigv4Auth{}},
	} {
		got, err := parseAuthorization(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("%q: got %+v, %v", tc.in, got, err)
		}
	}
}

// TestHMACSHA256 compares the stack HMAC with crypto/hmac for keys shorter
// than, equal to and longer than a SHA-256 block.
func TestHMACSHA256(t *testing.T) {
	for _, kn := range []int{0, 1, 32, 44, 63, 64, 65, 200} {
		for _, dn := range []int{0, 1, 8, 12, 63, 64, 65, 300} {
			key := []byte(strings.Repeat("k", kn))
			data := strings.Repeat("d", dn)
			m := hmac.New(sha256.New, key)
			m.Write([]byte(data))
			want := m.Sum(nil)
			if got := hmacSHA256(key, data); !bytes.Equal(got[:], want) {
				t.Errorf("key %d bytes, data %d bytes: got %x, want %x", kn, dn, got, want)
			}
		}
	}
	// The AWS documentation's example signing key (SigV4 "Examples of how
	// to derive a signing key").
	got := hex.EncodeToString(signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"))
	if want := "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; got != want {
		t.Errorf("signing key %s, want %s", got, want)
	}
}
