package awssim

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/cybsecops/configreport/internal/jsontext"
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

// appendJSONString is encoding/json's string encoding, byte for byte.
func appendJSONString(dst []byte, s string) []byte {
	return jsontext.AppendString(dst, s, jsontext.Std)
}

// appendJSONStringBody is appendJSONString without the quotes, to write a
// string made of parts.
func appendJSONStringBody(dst []byte, s string) []byte {
	return jsontext.AppendBody(dst, s, jsontext.Std)
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
