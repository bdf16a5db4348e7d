// Package awserr is the one place that classifies the errors of AWS SDK
// calls: what code an error carries (the code AWS answered, or the client's
// own kind of failure when no answer came), how many attempts the SDK made
// before giving up, and whether the failure is transient (retrying may help:
// throttling, 5xx, network, timeouts) or permanent (no retry can help:
// AccessDenied, an opt-in region not enabled, invalid input, a host DNS
// says does not exist).
//
// The retryer built by internal/awsconf asks IsPermanent so that permanent
// errors are never retried; the scanner asks Code, Message and Attempts to
// fill a result's errors. Nothing else in the project inspects SDK error
// types. It is not a retry policy: retrying belongs to the SDK's retryer.
package awserr

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Codes of the client's own failures, used when no AWS answer carries one
// (REPORT_FORMAT.md: "the client's error kind, such as RequestTimeout").
const (
	CodeRequestTimeout     = "RequestTimeout"     // a deadline or a network timeout
	CodeRequestCanceled    = "RequestCanceled"    // the caller's context was canceled
	CodeConnectionError    = "ConnectionError"    // dial, reset, EOF: no HTTP answer
	CodeNoSuchHost         = "NoSuchHost"         // DNS says the endpoint's host does not exist
	CodeRetryQuotaExceeded = "RetryQuotaExceeded" // the SDK's client-side retry quota ran dry
	CodeInvalidParameter   = "InvalidParameter"   // refused by the SDK before sending
	CodeClientError        = "ClientError"        // anything else without a code
)

// throttleCodes are the codes AWS uses for throttling; the SDK retries them
// (retry.DefaultThrottleErrorCodes) and so do we.
var throttleCodes = retry.DefaultThrottleErrorCodes

// transientCodes are API codes that are transient whatever their HTTP status
// (some services answer InternalFailure with a 400 in the JSON protocol).
var transientCodes = map[string]bool{
	"RequestTimeout":              true,
	"RequestTimeoutException":     true,
	"InternalFailure":             true,
	"InternalError":               true,
	"InternalServerError":         true,
	"InternalServiceError":        true,
	"InternalServiceException":    true,
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
	"ServiceException":            true, // Organizations' 5xx
	"IDPCommunicationError":       true, // STS: the identity provider did not answer
	"EC2ThrottledException":       true,
}

// permanentCodes are refused requests that no retry can mend. Any other API
// error answered with a 4xx (and not throttling) is permanent too; this list
// names the ones that matter whatever status they come with.
var permanentCodes = map[string]bool{
	"AccessDenied":                      true, // STS, query protocol
	"AccessDeniedException":             true, // JSON protocols
	"UnauthorizedOperation":             true,
	"UnrecognizedClientException":       true, // a region not enabled for the account (opt-in region)
	"InvalidClientTokenId":              true,
	"OptInRequired":                     true,
	"AuthFailure":                       true,
	"SignatureDoesNotMatch":             true,
	"InvalidSignatureException":         true,
	"ExpiredToken":                      true, // the session expired: a new session is needed, not a retry
	"ExpiredTokenException":             true,
	"RegionDisabledException":           true, // STS not activated in the region
	"ValidationError":                   true,
	"ValidationException":               true,
	"InvalidInputException":             true,
	"InvalidParameterValueException":    true,
	"InvalidNextTokenException":         true,
	"InvalidLimitException":             true,
	"NoSuchConfigRuleException":         true,
	"AccountNotFoundException":          true,
	"AWSOrganizationsNotInUseException": true,
}

// Code returns the code of err: the API error code AWS answered, else the
// client's kind of failure (CodeRequestTimeout, CodeConnectionError, ...).
// It is "" for a nil error.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() != "" {
		return apiErr.ErrorCode()
	}
	switch {
	case isTimeout(err):
		return CodeRequestTimeout
	case isCanceled(err):
		return CodeRequestCanceled
	case isQuota(err):
		return CodeRetryQuotaExceeded
	}
	if isNoSuchHost(err) {
		return CodeNoSuchHost
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.HTTPStatusCode() != 0 {
		// An answer whose body carried no code (a proxy's 502 page).
		return "HTTP" + strconv.Itoa(re.HTTPStatusCode())
	}
	if isConnection(err) {
		return CodeConnectionError
	}
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return CodeInvalidParameter
	}
	return CodeClientError
}

// Message returns the message AWS answered with err, else err's text.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorMessage() != "" {
		return apiErr.ErrorMessage()
	}
	return err.Error()
}

// Operation returns the API operation err came from (AssumeRole,
// DescribeConfigRules), or "" when err is not an SDK operation's error.
func Operation(err error) string {
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.OperationName
	}
	return ""
}

// Describe is the one-line account of err for a reader of the report: the
// refused operation and AWS's message ("DescribeConfigRules: The security
// token included in the request is invalid"), else err's text, which the
// SDK already prefixes with the operation.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var apiErr smithy.APIError
	if op := Operation(err); op != "" && errors.As(err, &apiErr) && apiErr.ErrorMessage() != "" {
		return op + ": " + apiErr.ErrorMessage()
	}
	return Message(err)
}

// IsThrottle reports whether err is AWS throttling the caller.
func IsThrottle(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	_, ok := throttleCodes[apiErr.ErrorCode()]
	return ok
}

// IsTransient reports whether retrying err later may succeed: throttling,
// 5xx answers, timeouts and connection failures.
func IsTransient(err error) bool {
	if err == nil || IsCanceled(err) || isNoSuchHost(err) {
		return false
	}
	if _, ok := Unreachable(err); ok {
		return false
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() != "" {
		code := apiErr.ErrorCode()
		if _, ok := throttleCodes[code]; ok || transientCodes[code] {
			return true
		}
		if permanentCodes[code] {
			return false
		}
		if s := status(err); s != 0 {
			return s >= 500
		}
		return apiErr.ErrorFault() == smithy.FaultServer
	}
	if s := status(err); s >= 500 || s == 429 {
		return true
	}
	return isTimeout(err) || isQuota(err) || isConnection(err)
}

// IsPermanent reports whether err is a refusal no retry can mend:
// AccessDenied, UnrecognizedClientException (an opt-in region that is not
// enabled), expired or invalid credentials, invalid input, any other 4xx
// API error that is not throttling, a request the SDK refused to send, or a
// host DNS says does not exist (a made-up or unsupported region's endpoint:
// retrying it ten times only multiplies the lookups), or an endpoint that
// could not be reached under a context armed with FailFastUnreachable.
// An error that is neither transient nor permanent (a canceled context, an
// unknown failure) answers false to both.
func IsPermanent(err error) bool {
	if err == nil || isCanceled(err) || isTimeout(err) {
		return false
	}
	if _, ok := Unreachable(err); ok {
		return true
	}
	if isNoSuchHost(err) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() != "" {
		code := apiErr.ErrorCode()
		if permanentCodes[code] {
			return true
		}
		if _, ok := throttleCodes[code]; ok || transientCodes[code] {
			return false
		}
		if s := status(err); s != 0 {
			return s >= 400 && s < 500 && s != 429
		}
		return apiErr.ErrorFault() == smithy.FaultClient
	}
	var invalid smithy.InvalidParamsError
	return errors.As(err, &invalid)
}

// IsCanceled reports whether err comes from the caller's context being
// canceled (not from a deadline): the work was abandoned, not failed.
func IsCanceled(err error) bool { return err != nil && isCanceled(err) && !isTimeout(err) }

func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.HTTPStatusCode()
	}
	return 0
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func isCanceled(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	var rc *aws.RequestCanceledError
	var sc *smithy.CanceledError
	return errors.As(err, &rc) || errors.As(err, &sc)
}

func isQuota(err error) bool {
	var q ratelimit.QuotaExceededError
	return errors.As(err, &q)
}

// isNoSuchHost reports a DNS answer that the name does not exist
// (NXDOMAIN): not a resolver that failed or timed out, which may recover.
func isNoSuchHost(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func isConnection(err error) bool {
	var ce interface{ ConnectionError() bool }
	if errors.As(err, &ce) && ce.ConnectionError() {
		return true
	}
	var ue *url.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &de) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	return strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "use of closed network connection")
}
