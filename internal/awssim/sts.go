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

func writeXMLResult(w http.ResponseWriter, op string, result any, reqID string) {
	inner, err := xml.Marshal(result)
	if err != nil {
		writeXMLError(w, internalFailure(), reqID)
		return
	}
	b := make([]byte, 0, len(inner)+256)
	b = append(b, `<`+op+`Response xmlns="`+stsXMLNS+`">`...)
	b = append(b, inner...)
	b = append(b, `<ResponseMetadata><RequestId>`+reqID+`</RequestId></ResponseMetadata></`+op+`Response>`...)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
