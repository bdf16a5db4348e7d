package awssim

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

var parseQuery = url.ParseQuery

type xmlAssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumeRoleResult struct {
	XMLName         xml.Name           `xml:"AssumeRoleResult"`
	AssumedRoleUser xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	Credentials     xmlCredentials     `xml:"Credentials"`
}

type getCallerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	UserID  string   `xml:"UserId"`
	Account string   `xml:"Account"`
	Arn     string   `xml:"Arn"`
}

func (s *Sim) sts(c *call) (any, *apiError) {
	switch c.op {
	case "GetCallerIdentity":
		return getCallerIdentityResult{UserID: c.id.userID(), Account: c.id.account, Arn: c.id.arn()}, nil
	case "AssumeRole":
		return s.assumeRole(c)
	}
	return nil, badRequest("InvalidAction", "Could not find operation "+c.op+" for version 2011-06-15")
}

func validationError(msg string) *apiError {
	return badRequest("ValidationError", "1 validation error detected: "+msg)
}

func (s *Sim) assumeRole(c *call) (any, *apiError) {
	roleArn := first(c.form["RoleArn"])
	account, role, ok := parseRoleARN(roleArn)
	if !ok {
		return nil, validationError("Value '" + roleArn + "' at 'roleArn' failed to satisfy constraint: Member must be a role ARN")
	}
	name := first(c.form["RoleSessionName"])
	if !validSessionName(name) {
		return nil, validationError("Value '" + name + "' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and match [\\w+=,.@-]*")
	}
	ttl := time.Hour
	if d := first(c.form["DurationSeconds"]); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return nil, validationError("Value '" + d + "' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
		}
		ttl = time.Duration(n) * time.Second
	}
	// Role chaining: the hub is itself a role session (IRSA), and AWS caps
	// a chained session at one hour; -session-ttl stands for that cap.
	ttl = min(ttl, s.cfg.SessionTTL)

	a, inOrg := s.org.Account(account)
	if !inOrg || !s.roleExists(account, role) || a.Status != StatusActive || (role == RoleRead && a.Denied) {
		return nil, kindError(errDenied, c.proto, "User: "+c.id.arn()+" is not authorized to perform: sts:AssumeRole on resource: "+roleArn)
	}
	ss := s.issue(account, role, name, ttl)
	return assumeRoleResult{
		AssumedRoleUser: xmlAssumedRoleUser{
			AssumedRoleID: roleID(account, role) + ":" + name,
			Arn:           "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + name,
		},
		Credentials: xmlCredentials{
			AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token,
			// In whole seconds, as AWS writes it; rounded down, so a
			// client never believes a session lives longer than it does.
			Expiration: ss.expires.Truncate(time.Second).Format(time.RFC3339),
		},
	}, nil
}

func validSessionName(n string) bool {
	if len(n) < 2 || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// xmlAppender is an STS result that encodes itself, as encoding/xml would
// (TestAppendXMLMatchesEncodingXML): xml.Marshal was most of the cost of
// an AssumeRole answer.
type xmlAppender interface {
	appendXML(dst []byte) []byte
}

func (r assumeRoleResult) appendXML(dst []byte) []byte {
	dst = append(dst, "<AssumeRoleResult><AssumedRoleUser><AssumedRoleId>"...)
	dst = appendXMLText(dst, r.AssumedRoleUser.AssumedRoleID)
	dst = append(dst, "</AssumedRoleId><Arn>"...)
	dst = appendXMLText(dst, r.AssumedRoleUser.Arn)
	dst = append(dst, "</Arn></AssumedRoleUser><Credentials><AccessKeyId>"...)
	dst = appendXMLText(dst, r.Credentials.AccessKeyID)
	dst = append(dst, "</AccessKeyId><SecretAccessKey>"...)
	dst = appendXMLText(dst, r.Credentials.SecretAccessKey)
	dst = append(dst, "</SecretAccessKey><SessionToken>"...)
	dst = appendXMLText(dst, r.Credentials.SessionToken)
	dst = append(dst, "</SessionToken><Expiration>"...)
	dst = appendXMLText(dst, r.Credentials.Expiration)
	return append(dst, "</Expiration></Credentials></AssumeRoleResult>"...)
}

func (r getCallerIdentityResult) appendXML(dst []byte) []byte {
	dst = append(dst, "<GetCallerIdentityResult><UserId>"...)
	dst = appendXMLText(dst, r.UserID)
	dst = append(dst, "</UserId><Account>"...)
	dst = appendXMLText(dst, r.Account)
	dst = append(dst, "</Account><Arn>"...)
	dst = appendXMLText(dst, r.Arn)
	return append(dst, "</Arn></GetCallerIdentityResult>"...)
}

// appendXMLText appends s escaped as encoding/xml escapes character data.
func appendXMLText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\'' || c == '&' || c == '<' || c == '>' {
			w := appendWriter{dst}
			xml.EscapeText(&w, []byte(s))
			return w.b
		}
	}
	return append(dst, s...)
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func writeXMLResult(w http.ResponseWriter, op string, result any, reqID string) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(*buf, `<`+op+`Response xmlns="`+stsXMLNS+`">`...)
	if a, ok := result.(xmlAppender); ok {
		b = a.appendXML(b)
	} else {
		inner, err := xml.Marshal(result)
		if err != nil {
			writeXMLError(w, internalFailure(), reqID)
			return
		}
		b = append(b, inner...)
	}
	b = append(b, `<ResponseMetadata><RequestId>`+reqID+`</RequestId></ResponseMetadata></`+op+`Response>`...)
	*buf = b[:0]
	writeBody(w, hdrXML, reqID, b)
}
