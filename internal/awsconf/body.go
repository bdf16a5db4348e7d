package awsconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// maxBufferedBody is the largest request body inMemoryBody reads ahead.
// Config, STS and Organizations requests are a few hundred bytes; S3 or
// DynamoDB bodies above this go through as the SDK built them.
const maxBufferedBody = 64 << 10

// inMemoryBody is the HTTP client of every SDK client built from Load. The
// SDK hands net/http each request body wrapped in a reader net/http does not
// recognise as in memory, so the transport writes the headers and the body
// in two syscalls (flushing the headers "in case the server needs them
// early", Go issue 22088) and copies the body through a fresh 32 KiB buffer
// (net.genericReadFrom). For the scanner's thousands of small signed POSTs
// that was a second write and 32 KiB of garbage per call. A body of known
// length up to maxBufferedBody is read into memory first and handed over as
// a *bytes.Reader: one write per request, no copy buffer. The bytes, the
// length and the headers sent are unchanged; the SDK still rewinds and
// rebuilds the request for every retry attempt.
type inMemoryBody struct{ c aws.HTTPClient }

func (b inMemoryBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > maxBufferedBody {
		return b.c.Do(req)
	}
	buf := make([]byte, req.ContentLength+1)
	n, err := io.ReadFull(req.Body, buf)
	switch {
	case err == nil:
		// net/http refuses a body longer than its ContentLength too.
		err = fmt.Errorf("body is longer than ContentLength")
	case errors.Is(err, io.ErrUnexpectedEOF) && int64(n) == req.ContentLength:
		err = nil // exactly ContentLength bytes
	}
	if cerr := req.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// What net/http would have reported on a body that does not match
		// its length, before anything was sent.
		return nil, fmt.Errorf("read %s %s request body of %d bytes: %w", req.Method, req.URL.Redacted(), req.ContentLength, err)
	}
	buf = buf[:req.ContentLength]
	req.Body = io.NopCloser(bytes.NewReader(buf))
	return b.c.Do(req)
}
