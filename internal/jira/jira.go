// Package jira files the weekly report's Jira ticket: one issue per run,
// labelled with the run id so that it can be found again, carrying the
// summary the security team triages from (the ISO week, the non-compliant
// accounts, the worst accounts and rules, failed and missing accounts, the
// report's S3 location) with the workbook attached.
//
// It implements aggregate.Notifier with github.com/andygrunwald/go-jira
// against the REST API v2 (Jira Cloud with an account e-mail and API token,
// or Server/Data Center with a personal access token). It is not a general
// Jira client: it creates issues, attaches one file, searches by label and
// asks who its user is (a found ticket counts only when that user created
// it). It talks https only, but to a loopback host (a test's fake Jira).
//
// The token never comes from a flag: LoadToken reads JIRA_API_TOKEN or a
// token file (a mounted Kubernetes secret).
package jira

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/ident"
)

// TokenEnv is the environment variable holding the API token.
const TokenEnv = "JIRA_API_TOKEN"

// DefaultMaxAttachment is Jira Server's default attachment size limit
// (10 MiB); Jira Cloud's is set per site. A workbook over the limit is not
// attached (Jira would answer 413); the ticket gives its S3 location.
const DefaultMaxAttachment = 10 << 20

// Config of the Notifier.
type Config struct {
	// URL of the Jira site, e.g. https://example.atlassian.net. https only:
	// every request carries the API token. http is accepted for a loopback
	// host alone (127.0.0.0/8, ::1, localhost: a test's fake Jira).
	URL string
	// Project key, e.g. SEC.
	Project string
	// IssueType name; default "Task".
	IssueType string
	// Labels added to every ticket, besides the run label. Jira labels
	// cannot contain spaces.
	Labels []string
	// User is the account e-mail for Jira Cloud (basic auth with the API
	// token). Empty: Token is sent as a bearer personal access token (Jira
	// Server/Data Center).
	User string
	// Token: from LoadToken, never from a flag.
	Token string
	// Timeout bounds each HTTP request; default 30s.
	Timeout time.Duration
	// MaxAttachment is the largest workbook attached, in bytes; default
	// DefaultMaxAttachment.
	MaxAttachment int64
	// LegacySearch uses GET /rest/api/2/search (Server/Data Center). The
	// default, GET /rest/api/2/search/jql, is the one Jira Cloud serves
	// since it removed the former.
	LegacySearch bool
	// Transport for the HTTP client; default a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

func (c *Config) setDefaults() {
	c.IssueType = cmp.Or(c.IssueType, "Task")
	c.Timeout = cmp.Or(c.Timeout, 30*time.Second)
	c.MaxAttachment = cmp.Or(c.MaxAttachment, DefaultMaxAttachment)
}

// Validate reports every problem at once. It never prints the token.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("jira: URL is required"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("jira: URL %q is not an https URL", c.URL))
	} else if u.Scheme == "http" && !loopback(u.Hostname()) {
		errs = append(errs, fmt.Errorf("jira: URL %q must use https: http would send the API token in clear (http is accepted only for a loopback host)", u.Redacted()))
	}
	if c.Project == "" {
		errs = append(errs, errors.New("jira: Project is required"))
	} else if strings.ContainsFunc(c.Project, func(r rune) bool { return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) }) {
		errs = append(errs, fmt.Errorf("jira: Project %q is not a project key", c.Project))
	}
	if c.Token == "" {
		errs = append(errs, fmt.Errorf("jira: no API token (set %s or give a token file)", TokenEnv))
	}
	for _, l := range c.Labels {
		if err := checkLabel(l); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("jira: Timeout %s is not positive", c.Timeout))
	}
	if c.MaxAttachment < 0 {
		errs = append(errs, fmt.Errorf("jira: MaxAttachment %d is negative", c.MaxAttachment))
	}
	return errors.Join(errs...)
}

// loopback tells whether host (a URL's Hostname, without brackets or port)
// is this machine: localhost, 127.0.0.0/8 or ::1. No name resolution: a
// name that resolves to a loopback address elsewhere is not accepted.
func loopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Jira refuses labels with whitespace and caps them at 255 characters.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("jira: empty label")
	case strings.ContainsFunc(l, unicode.IsSpace):
		return fmt.Errorf("jira: label %q contains whitespace", l)
	case len(l) > 255:
		return fmt.Errorf("jira: label %q is over 255 characters", l[:32]+"…")
	}
	return nil
}

// LoadToken returns the API token: the file's content (trimmed) when file
// is given, else $JIRA_API_TOKEN. getenv is os.Getenv outside tests.
func LoadToken(file string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("jira token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("jira token file %s is empty", file)
		}
		return tok, nil
	}
	return strings.TrimSpace(getenv(TokenEnv)), nil
}

// RunLabel is the label that ties a ticket to its run: run ids are
// [A-Za-z0-9._-], so it holds no space.
func RunLabel(id ident.RunID) string { return "run-" + string(id) }

// Notifier files tickets; it implements aggregate.Notifier.
type Notifier struct {
	cfg    Config
	client *gojira.Client
	log    *slog.Logger

	// self is the configured user as Jira names it (GET myself), asked
	// once, when a search first finds a ticket.
	selfMu sync.Mutex
	self   *gojira.User
}

var _ aggregate.Notifier = (*Notifier)(nil)

// New checks cfg and returns a Notifier.
func New(cfg Config, logger *slog.Logger) (*Notifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	var rt http.RoundTripper
	if cfg.User != "" {
		rt = &gojira.BasicAuthTransport{Username: cfg.User, Password: cfg.Token, Transport: base}
	} else {
		rt = &gojira.PATAuthTransport{Token: cfg.Token, Transport: base}
	}
	client, err := gojira.NewClient(&http.Client{Transport: rt, Timeout: cfg.Timeout}, cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("jira client for %s: %w", cfg.URL, err)
	}
	return &Notifier{cfg: cfg, client: client, log: logger.With(slog.String("jira_project", cfg.Project))}, nil
}

// JQL finds the run's tickets in the project.
func (n *Notifier) JQL(id ident.RunID) string {
	return fmt.Sprintf(`labels = %q AND project = %q ORDER BY created ASC`, RunLabel(id), n.cfg.Project)
}

// searchPage is how many of the run label's tickets a search reads: ours
// is the oldest of those the configured user created, so only more than
// this many tickets labelled by others before ours could hide it.
const searchPage = 50

// FindByRunLabel implements aggregate.Notifier. Jira's search index lags
// creation by a few seconds; the aggregator's retries come later than that.
//
// A ticket counts only when the configured user created it: anyone who can
// create issues in the project can put the run's label (it is in every
// message and log) on an issue of their own, which would otherwise stand
// for the report's ticket and keep it from being filed. The creator, not
// the reporter: the reporter can be set at creation and edited later by
// whoever has the Modify Reporter permission; the creator cannot. The
// configured user is what GET myself answers (asked once), compared by
// accountId on Jira Cloud (which hides e-mail addresses and has no user
// names) and by user key, else name, on Server/Data Center (where a
// personal access token comes with no user name in the configuration).
func (n *Notifier) FindByRunLabel(ctx context.Context, id ident.RunID) (string, error) {
	var (
		issues []gojira.Issue
		resp   *gojira.Response
		err    error
	)
	jql := n.JQL(id)
	fields := []string{"key", "creator"}
	if n.cfg.LegacySearch {
		issues, resp, err = n.client.Issue.SearchWithContext(ctx, jql, &gojira.SearchOptions{MaxResults: searchPage, Fields: fields})
	} else {
		issues, resp, err = n.client.Issue.SearchV2JQLWithContext(ctx, jql, &gojira.SearchOptionsV2{MaxResults: searchPage, Fields: fields})
	}
	if err != nil {
		_ = resp // go-jira has read the error body into err
		return "", fmt.Errorf("jira search %q: %w", jql, err)
	}
	if len(issues) == 0 {
		return "", nil
	}
	me, err := n.myself(ctx)
	if err != nil {
		return "", err
	}
	var ours []string
	for _, is := range issues {
		var creator *gojira.User
		if is.Fields != nil {
			creator = is.Fields.Creator
		}
		if sameUser(me, creator) {
			ours = append(ours, is.Key)
			continue
		}
		n.log.Warn("a ticket carries the run label but another user created it; ignored",
			slog.String("run_id", string(id)), slog.String("ticket", is.Key), slog.String("creator", userName(creator)))
	}
	if len(ours) == 0 {
		return "", nil
	}
	if len(ours) > 1 {
		n.log.Warn("several tickets carry the run label; using the oldest", slog.String("run_id", string(id)), slog.Any("tickets", ours))
	}
	return ours[0], nil
}

// myself returns the configured user as Jira knows it, asking once.
func (n *Notifier) myself(ctx context.Context) (*gojira.User, error) {
	n.selfMu.Lock()
	defer n.selfMu.Unlock()
	if n.self != nil {
		return n.self, nil
	}
	u, _, err := n.client.User.GetSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("jira: who is the configured user (GET myself): %w", err)
	}
	if u.AccountID == "" && u.Key == "" && u.Name == "" {
		return nil, errors.New("jira: GET myself answered no accountId, key or name to recognise our tickets by")
	}
	n.self = u
	return u, nil
}

// sameUser tells whether u is me: by accountId when Jira gives one (Cloud),
// else by user key, else by user name (Server/Data Center). A missing
// creator is nobody.
func sameUser(me, u *gojira.User) bool {
	switch {
	case u == nil:
		return false
	case me.AccountID != "":
		return u.AccountID == me.AccountID
	case me.Key != "":
		return u.Key == me.Key
	default:
		return me.Name != "" && u.Name == me.Name
	}
}

// userName is how a log names a Jira user.
func userName(u *gojira.User) string {
	switch {
	case u == nil:
		return "(not given)"
	case u.AccountID != "":
		return "accountId " + u.AccountID
	case u.Key != "":
		return "key " + u.Key
	}
	return "name " + u.Name
}

// File implements aggregate.Notifier: it creates the issue, then attaches
// the workbook. Once the issue exists its key is returned even when the
// attachment fails (after attachTries): a retry would find the issue by its
// label and never attach, and the description gives the S3 location anyway.
func (n *Notifier) File(ctx context.Context, t aggregate.Ticket) (string, error) {
	// Weighed first, without reading it (a HEAD on S3): its size decides
	// whether it is attached, and the description says so. A workbook over
	// the limit is never opened (opening an S3 object downloads it). The
	// reader of the first Open serves the first upload attempt.
	var (
		rc   io.ReadCloser
		size = int64(-1)
	)
	if t.Workbook.Size != nil {
		var err error
		if size, err = t.Workbook.Size(ctx); err != nil {
			return "", fmt.Errorf("size of the workbook to attach: %w", err)
		}
	}
	if t.Workbook.Open != nil && size <= n.cfg.MaxAttachment {
		var err error
		if rc, size, err = t.Workbook.Open(ctx); err != nil {
			return "", fmt.Errorf("open workbook to attach: %w", err)
		}
		defer func() {
			if rc != nil {
				rc.Close()
			}
		}()
	}
	attach := rc != nil && size >= 0 && size <= n.cfg.MaxAttachment
	issue := &gojira.Issue{Fields: &gojira.IssueFields{
		Project:     gojira.Project{Key: n.cfg.Project},
		Type:        gojira.IssueType{Name: n.cfg.IssueType},
		Summary:     Summary(t),
		Description: Description(t, attach, size),
		Labels:      n.labels(t.RunID),
	}}
	created, resp, err := n.client.Issue.CreateWithContext(ctx, issue)
	if err != nil {
		return "", fmt.Errorf("jira create issue in %s: %w", n.cfg.Project, statusError(resp, err))
	}
	if created.Key == "" {
		return "", errors.New("jira create issue: the answer has no key")
	}
	log := n.log.With(slog.String("run_id", string(t.RunID)), slog.String("ticket", created.Key))
	log.Info("jira ticket created")
	if !attach {
		if size > n.cfg.MaxAttachment {
			log.Warn("workbook over the attachment limit; the ticket gives its location", slog.Int64("bytes", size), slog.Int64("limit", n.cfg.MaxAttachment))
		}
		return created.Key, nil
	}
	var aerr error
	for try := 1; try <= attachTries; try++ {
		if try > 1 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(try-1) * attachPause):
			}
			if ctx.Err() != nil {
				break
			}
			if rc != nil {
				rc.Close()
			}
			if rc, size, aerr = t.Workbook.Open(ctx); aerr != nil {
				rc = nil
				continue
			}
			if size > n.cfg.MaxAttachment {
				aerr = fmt.Errorf("the workbook is now %d bytes, over the attachment limit", size)
				break
			}
		}
		if aerr = n.attach(ctx, created.Key, t.Workbook.Name, rc, size); aerr == nil {
			log.Info("workbook attached", slog.Int64("bytes", size))
			return created.Key, nil
		}
	}
	log.Error("workbook not attached; the ticket gives its S3 location", slog.Any("error", aerr))
	return created.Key, nil
}

// Attachment retries, inside one File call.
var (
	attachTries = 3
	attachPause = time.Second
)

func (n *Notifier) labels(id ident.RunID) []string {
	out := make([]string, 0, len(n.cfg.Labels)+1)
	for _, l := range append(append([]string(nil), n.cfg.Labels...), RunLabel(id)) {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// attach streams the workbook as multipart/form-data with a known length:
// go-jira's PostAttachment would first copy the whole file into memory.
func (n *Notifier) attach(ctx context.Context, key, name string, rc io.Reader, size int64) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", aggregate.ContentTypeXLSX)
	if _, err := mw.CreatePart(h); err != nil {
		return err
	}
	headLen := buf.Len()
	if err := mw.Close(); err != nil {
		return err
	}
	head, tail := buf.Bytes()[:headLen], buf.Bytes()[headLen:]
	body := io.MultiReader(bytes.NewReader(head), io.LimitReader(rc, size), bytes.NewReader(tail))
	req, err := n.client.NewRawRequestWithContext(ctx, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(key)+"/attachments", body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	// Jira refuses attachment uploads without it (XSRF check).
	req.Header.Set("X-Atlassian-Token", "no-check")
	var out []gojira.Attachment
	resp, err := n.client.Do(req, &out)
	if err != nil {
		return fmt.Errorf("jira attach to %s: %w", key, statusError(resp, err))
	}
	return nil
}

// StatusError is a non-2xx answer from Jira, with its messages.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("jira answered %d", e.Code)
	}
	return fmt.Sprintf("jira answered %d: %s", e.Code, e.Message)
}

// statusError turns go-jira's bare "request failed" into the status and
// Jira's own messages (errorMessages, errors), or the start of a non-JSON
// body (a proxy's 502 page), read at most 2 KiB.
func statusError(resp *gojira.Response, err error) error {
	if resp == nil || resp.Response == nil || resp.Body == nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	var je struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	var msgs []string
	if json.Unmarshal(b, &je) == nil {
		msgs = append(msgs, je.ErrorMessages...)
		for _, k := range slices.Sorted(maps.Keys(je.Errors)) {
			msgs = append(msgs, k+": "+je.Errors[k])
		}
	} else if t := strings.Join(strings.Fields(string(b)), " "); t != "" {
		msgs = append(msgs, clip(t, 200))
	}
	return &StatusError{Code: resp.StatusCode, Message: strings.Join(msgs, "; ")}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
