package awssim

import (
	"encoding/xml"
	"net/http"
	"strconv"
)

type protocol int

const (
	protoQuery protocol = iota // STS: form-encoded request, XML answer
	protoJSON                  // Organizations, Config: JSON 1.1
	protoEC2                   // EC2: form-encoded request, XML answer of EC2's own shape
)

type service int

const (
	svcSTS service = iota
	svcOrgs
	svcConfig
	svcEC2
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
	// EC2 has its own codes: one AuthFailure (401) for any credentials it
	// cannot validate, a bad signature included; RequestExpired for expired
	// credentials; RequestLimitExceeded (503) when throttled.
	var q, j, e spelling
	ec2msg := msg
	switch k {
	case errDenied:
		q, j, e = spelling{403, "AccessDenied"}, spelling{400, "AccessDeniedException"}, spelling{403, "UnauthorizedOperation"}
		ec2msg = "You are not authorized to perform this operation. " + msg
	case errSignature:
		q, j, e = spelling{403, "SignatureDoesNotMatch"}, spelling{400, "InvalidSignatureException"}, spelling{401, "AuthFailure"}
		msg = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
		ec2msg = "AWS was not able to validate the provided access credentials"
	case errUnknownToken:
		q, j, e = spelling{403, "InvalidClientTokenId"}, spelling{400, "UnrecognizedClientException"}, spelling{401, "AuthFailure"}
		msg = "The security token included in the request is invalid."
		ec2msg = "AWS was not able to validate the provided access credentials"
	case errExpired:
		q, j, e = spelling{400, "ExpiredToken"}, spelling{400, "ExpiredTokenException"}, spelling{400, "RequestExpired"}
		msg = "The security token included in the request is expired"
		ec2msg = "Request has expired."
	case errThrottled:
		q, j, e = spelling{400, "Throttling"}, spelling{400, "ThrottlingException"}, spelling{503, "RequestLimitExceeded"}
		msg = "Rate exceeded"
		ec2msg = "Request limit exceeded."
	case errMissingAuth:
		q, j, e = spelling{403, "MissingAuthenticationToken"}, spelling{400, "MissingAuthenticationTokenException"}, spelling{401, "MissingAuthenticationToken"}
		msg = "Request is missing Authentication Token"
		ec2msg = "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
	}
	switch p {
	case protoQuery:
		return &apiError{status: q.status, code: q.code, msg: msg}
	case protoEC2:
		return &apiError{status: e.status, code: e.code, msg: ec2msg}
	}
	return &apiError{status: j.status, code: j.code, msg: msg}
}

// Transient server faults (-error-rate): the same codes in the JSON and
// STS protocols; EC2 spells them its own way.
func internalFailure() *apiError {
	return &apiError{status: 500, code: "InternalFailure", msg: "The request processing has failed because of an unknown error, exception or failure."}
}

func serviceUnavailable() *apiError {
	return &apiError{status: 503, code: "ServiceUnavailable", msg: "The request has failed due to a temporary failure of the server."}
}

func ec2InternalError() *apiError {
	return &apiError{status: 500, code: "InternalError", msg: "An internal error has occurred."}
}

func ec2Unavailable() *apiError {
	return &apiError{status: 503, code: "Unavailable", msg: "The server is overloaded and can't handle the request."}
}

func badRequest(code, msg string) *apiError {
	return &apiError{status: 400, code: code, msg: msg}
}

func writeJSONError(w http.ResponseWriter, svc service, e *apiError, reqID string) {
	buf := getBuf()
	b := appendJSONErrorBody(*buf, svc, e)
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["X-Amzn-Requestid"] = []string{reqID}
	h["X-Amzn-Errortype"] = []string{e.code}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(e.status)
	w.Write(b)
	*buf = b[:0]
	putBuf(buf)
}

// appendJSONErrorBody is the bytes json.Marshal writes for the error's
// map of members (it sorts the keys: Message, Reason, __type, message),
// without the map and the reflection: a throttled call is answered this
// way, and a scan under throttling makes thousands.
// Organizations' error shapes name the member "Message", Config's
// "message": the SDK deserialises the typed error by member name.
func appendJSONErrorBody(dst []byte, svc service, e *apiError) []byte {
	dst = append(dst, '{')
	if svc == svcOrgs {
		dst = appendKey(dst, "Message")
		dst = appendJSONString(dst, e.msg)
	}
	if e.reason != "" {
		dst = appendKey(dst, "Reason")
		dst = appendJSONString(dst, e.reason)
	}
	dst = appendKey(dst, "__type")
	dst = appendJSONString(dst, e.code)
	if svc != svcOrgs {
		dst = appendKey(dst, "message")
		dst = appendJSONString(dst, e.msg)
	}
	return append(dst, '}')
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

// writeEC2Error answers as EC2 does: a Response with a list of Errors and
// the request id spelled RequestID, not STS's ErrorResponse.
func writeEC2Error(w http.ResponseWriter, e *apiError, reqID string) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(*buf, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>`...)
	b = appendXMLText(b, e.code)
	b = append(b, `</Code><Message>`...)
	b = appendXMLText(b, e.msg)
	b = append(b, `</Message></Error></Errors><RequestID>`...)
	b = appendXMLText(b, reqID)
	b = append(b, `</RequestID></Response>`...)
	*buf = b[:0]
	h := w.Header()
	h["Content-Type"] = hdrXML
	h["X-Amzn-Requestid"] = []string{reqID}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(e.status)
	w.Write(b)
}

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
