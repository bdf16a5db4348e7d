package awssim

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
)

type protocol int

const (
	protoQuery protocol = iota // STS: form-encoded request, XML answer
	protoJSON                  // Organizations, Config: JSON 1.1
)

type service int

const (
	svcSTS service = iota
	svcOrgs
	svcConfig
)

// apiError is an answer other than success. Codes are per protocol: the
// constructors below pick the spelling AWS uses for each.
type apiError struct {
	status int
	code   string
	msg    string
	reason string // Organizations InvalidInputException's Reason
}

// errKind names the refusals of AWSSIM.md's error table, whose spelling and
// status differ between STS and the JSON services.
type errKind int

const (
	errDenied errKind = iota
	errSignature
	errUnknownToken
	errExpired
	errThrottled
	errMissingAuth
)

func kindError(k errKind, p protocol, msg string) *apiError {
	type spelling struct {
		status int
		code   string
	}
	var q, j spelling
	switch k {
	case errDenied:
		q, j = spelling{403, "AccessDenied"}, spelling{400, "AccessDeniedException"}
	case errSignature:
		q, j = spelling{403, "SignatureDoesNotMatch"}, spelling{400, "InvalidSignatureException"}
		msg = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	case errUnknownToken:
		q, j = spelling{403, "InvalidClientTokenId"}, spelling{400, "UnrecognizedClientException"}
		msg = "The security token included in the request is invalid."
	case errExpired:
		q, j = spelling{400, "ExpiredToken"}, spelling{400, "ExpiredTokenException"}
		msg = "The security token included in the request is expired"
	case errThrottled:
		q, j = spelling{400, "Throttling"}, spelling{400, "ThrottlingException"}
		msg = "Rate exceeded"
	case errMissingAuth:
		q, j = spelling{403, "MissingAuthenticationToken"}, spelling{400, "MissingAuthenticationTokenException"}
		msg = "Request is missing Authentication Token"
	}
	s := j
	if p == protoQuery {
		s = q
	}
	return &apiError{status: s.status, code: s.code, msg: msg}
}

// Transient server faults (-error-rate): the same codes in both protocols.
func internalFailure() *apiError {
	return &apiError{status: 500, code: "InternalFailure", msg: "The request processing has failed because of an unknown error, exception or failure."}
}

func serviceUnavailable() *apiError {
	return &apiError{status: 503, code: "ServiceUnavailable", msg: "The request has failed due to a temporary failure of the server."}
}

func badRequest(code, msg string) *apiError {
	return &apiError{status: 400, code: code, msg: msg}
}

func writeJSONError(w http.ResponseWriter, svc service, e *apiError, reqID string) {
	body := map[string]string{"__type": e.code}
	// Organizations' error shapes name the member "Message", Config's
	// "message": the SDK deserialises the typed error by member name.
	if svc == svcOrgs {
		body["Message"] = e.msg
	} else {
		body["message"] = e.msg
	}
	if e.reason != "" {
		body["Reason"] = e.reason
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("X-Amzn-Errortype", e.code)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	w.Write(b)
}

type xmlErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xmlError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type xmlError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

const stsXMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func writeXMLError(w http.ResponseWriter, e *apiError, reqID string) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	b, _ := xml.Marshal(xmlErrorResponse{Xmlns: stsXMLNS, Error: xmlError{Type: typ, Code: e.code, Message: e.msg}, RequestID: reqID})
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	w.Write(b)
}
