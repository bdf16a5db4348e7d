package awssim

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The hot answers (the Config pages a scan reads thousands of times) are
// encoded by hand into pooled buffers: encoding/json's reflection and
// allocations were the largest part of awssim's CPU per call. The bytes
// are exactly those encoding/json writes for the same values
// (TestAppendJSONMatchesEncodingJSON, testdata/wire.golden); the answers of
// the other operations still go through encoding/json.

// jsonAppender is an answer that encodes itself.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// bufPool holds answer buffers. Buffers that grew past maxPooledBuf are
// dropped, so that one huge answer does not pin its memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

const maxPooledBuf = 256 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// Header values are shared, read-only slices: http.Header.Set would
// allocate one per call.
var (
	hdrJSON = []string{"application/x-amz-json-1.1"}
	hdrXML  = []string{"text/xml"}
)

// writeBody sends a 200 answer of type ct.
func writeBody(w http.ResponseWriter, ct []string, reqID string, b []byte) {
	h := w.Header()
	h["Content-Type"] = ct
	h["X-Amzn-Requestid"] = []string{reqID}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b)
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// (its default): <, > and & as \u003c..., control characters escaped, invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

// appendJSONStringBody is appendJSONString without the quotes, to write a
// string made of parts: escaping valid UTF-8 parts one by one gives the
// bytes of escaping their concatenation.
func appendJSONStringBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe(b) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// htmlSafe is encoding/json's htmlSafeSet: printable ASCII and DEL, but
// not ", \, <, > or &.
func htmlSafe(b byte) bool {
	return b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}

// appendKey appends `"name":` after a comma unless it is the first field.
func appendKey(dst []byte, key string) []byte {
	if c := dst[len(dst)-1]; c != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendNextToken(dst []byte, next *string) []byte {
	if next == nil {
		return dst
	}
	dst = appendKey(dst, "NextToken")
	return appendJSONString(dst, *next)
}
