package jira

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/aggregate"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

const (
	user  = "secops@example.com"
	token = "s3cr3t-token"
)

// fakeJira answers like Jira's REST API v2 for the calls the Notifier
// makes, checking each request, and keeps the issues it created.
type fakeJira struct {
	t  *testing.T
	mu sync.Mutex
	// down: answer 503 to everything while > 0 (counts down per request).
	down int
	// failAttach: answer 500 to that many attachment uploads.
	failAttach int
	issues     []fakeIssue
	requests   []string // "METHOD path"
	jqls       []string
	auth       string // expected Authorization header
	// me is GET myself's answer and the creator of every issue created
	// through the API; myselfCalls counts those GETs.
	me          map[string]any
	myselfCalls int
	failMyself  bool
}

type fakeIssue struct {
	Key         string
	Fields      map[string]any
	Labels      []string
	Attachments map[string][]byte // filename -> bytes
	AttachType  string
	Creator     map[string]any
}

// cloudUser is a Jira Cloud user as the REST API gives it: no name or key,
// the e-mail often hidden.
var cloudUser = map[string]any{"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "SecOps bot", "active": true}

func newFakeJira(t *testing.T, auth string) (*fakeJira, *httptest.Server) {
	f := &fakeJira{t: t, auth: auth, me: cloudUser}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

var attachPath = regexp.MustCompile(`^/rest/api/2/issue/([A-Z]+-[0-9]+)/attachments$`)

func (f *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if got := r.Header.Get("Authorization"); got != f.auth {
		f.t.Errorf("%s %s: Authorization %q, want %q", r.Method, r.URL.Path, got, f.auth)
		http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	if f.down > 0 {
		f.down--
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1> maintenance</body></html>")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		f.create(w, r)
	case r.Method == http.MethodPost && attachPath.MatchString(r.URL.Path):
		f.attach(w, r, attachPath.FindStringSubmatch(r.URL.Path)[1])
	case r.Method == http.MethodGet && (r.URL.Path == "/rest/api/2/search/jql" || r.URL.Path == "/rest/api/2/search"):
		f.search(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/myself":
		f.myselfCalls++
		if f.failMyself {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(f.me)
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeJira) create(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("create: Content-Type %q", ct)
	}
	var body struct {
		Fields map[string]any `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("create: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var labels []string
	for _, l := range body.Fields["labels"].([]any) {
		if strings.ContainsAny(l.(string), " \t") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errorMessages":[],"errors":{"labels":"The label '`+l.(string)+`' contains spaces which is invalid."}}`)
			return
		}
		labels = append(labels, l.(string))
	}
	key := fmt.Sprintf("SEC-%d", len(f.issues)+1)
	f.issues = append(f.issues, fakeIssue{Key: key, Fields: body.Fields, Labels: labels, Attachments: map[string][]byte{}, Creator: f.me})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":"1000%d","key":%q,"self":"http://%s/rest/api/2/issue/1000%d"}`, len(f.issues), key, r.Host, len(f.issues))
}

func (f *fakeJira) attach(w http.ResponseWriter, r *http.Request, key string) {
	if got := r.Header.Get("X-Atlassian-Token"); got != "no-check" {
		f.t.Errorf("attach: X-Atlassian-Token %q", got)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if r.ContentLength <= 0 {
		f.t.Errorf("attach: no Content-Length (%d): the upload should not be chunked", r.ContentLength)
	}
	if f.failAttach > 0 {
		f.failAttach--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		f.t.Errorf("attach: Content-Type %q", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	var is *fakeIssue
	for i := range f.issues {
		if f.issues[i].Key == key {
			is = &f.issues[i]
		}
	}
	if is == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.t.Errorf("attach: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if p.FormName() != "file" {
			f.t.Errorf("attach: part %q, want \"file\"", p.FormName())
		}
		b, _ := io.ReadAll(p)
		is.Attachments[p.FileName()] = b
		is.AttachType = p.Header.Get("Content-Type")
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `[{"id":"1","filename":"x"}]`)
}

var labelJQL = regexp.MustCompile(`^labels = "([^"]+)" AND project = "([^"]+)" ORDER BY created ASC$`)

func (f *fakeJira) search(w http.ResponseWriter, r *http.Request) {
	jql := r.URL.Query().Get("jql")
	f.jqls = append(f.jqls, jql)
	m := labelJQL.FindStringSubmatch(jql)
	if m == nil {
		f.t.Errorf("search: unexpected JQL %q", jql)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if fields := strings.Split(r.URL.Query().Get("fields"), ","); !slices.Contains(fields, "creator") {
		f.t.Errorf("search: fields %q do not ask for the creator", fields)
	}
	var found []map[string]any
	for _, is := range f.issues {
		proj := is.Fields["project"].(map[string]any)["key"]
		for _, l := range is.Labels {
			if l == m[1] && proj == m[2] {
				found = append(found, map[string]any{"id": "1", "key": is.Key, "fields": map[string]any{"creator": is.Creator}})
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"issues": found, "isLast": true, "startAt": 0, "total": len(found)})
}

// plant files an issue as another user would (through Jira's UI): in the
// project, with labels, created by creator (nil: Jira gives no creator).
func (f *fakeJira) plant(creator map[string]any, labels ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("SEC-%d", len(f.issues)+1)
	f.issues = append(f.issues, fakeIssue{Key: key, Fields: map[string]any{"project": map[string]any{"key": "SEC"}},
		Labels: labels, Attachments: map[string][]byte{}, Creator: creator})
	return key
}

func (f *fakeJira) snapshot() ([]fakeIssue, []string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeIssue(nil), f.issues...), append([]string(nil), f.requests...), append([]string(nil), f.jqls...)
}

func basic(u, p string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))
}

func newNotifier(t *testing.T, url string, mod func(*Config)) *Notifier {
	t.Helper()
	cfg := Config{URL: url, Project: "SEC", Labels: []string{"aws-config", "compliance"}, User: user, Token: token, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var workbook = append([]byte("PK\x03\x04"), bytes.Repeat([]byte("xlsx bytes "), 5000)...)

func ticket() aggregate.Ticket {
	return aggregate.Ticket{
		RunID: "01KMZ8W4Y0RUN", Trigger: events.TriggerScheduled,
		StartedAt:      time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC),
		GeneratedAt:    time.Date(2026, 11, 23, 1, 31, 0, 0, time.UTC),
		ReportKey:      "reports/2026/11/23/config-compliance-01KMZ8W4Y0RUN.xlsx",
		ReportLocation: "s3://report-bucket/reports/2026/11/23/config-compliance-01KMZ8W4Y0RUN.xlsx",
		Summary: aggregate.Summary{
			AccountsExpected: 500, AccountsScanned: 488, AccountsFailed: 7, AccountsMissing: 5, NonCompliantAccounts: 12,
			WorstAccounts: []aggregate.AccountSummary{
				{AccountID: "111111111111", Name: "payments|prod [old]", NonCompliantRules: 9, NonCompliantResources: 40},
				{AccountID: "012345678901", Name: "", NonCompliantRules: 2, NonCompliantResources: 3},
			},
			WorstRules: []aggregate.RuleSummary{{Name: "s3-bucket-public-read-prohibited", NonCompliantAccounts: 12, NonCompliantResources: 31}},
		},
		Workbook: aggregate.Attachment{Name: "config-compliance-01KMZ8W4Y0RUN.xlsx", Open: func(context.Context) (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader(workbook)), int64(len(workbook)), nil
		}},
	}
}

func TestFileCreatesAndAttaches(t *testing.T) {
	f, srv := newFakeJira(t, basic(user, token))
	n := newNotifier(t, srv.URL, nil)
	key, err := n.File(context.Background(), ticket())
	if err != nil {
		t.Fatal(err)
	}
	if key != "SEC-1" {
		t.Errorf("key %q", key)
	}
	issues, reqs, _ := f.snapshot()
	if want := []string{"POST /rest/api/2/issue", "POST /rest/api/2/issue/SEC-1/attachments"}; fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", reqs, want)
	}
	is := issues[0]
	fields := is.Fields
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"description", "issuetype", "labels", "project", "summary"}; !slices.Equal(names, want) {
		t.Errorf("fields sent %q, want exactly %q", names, want)
	}
	if got := fields["project"].(map[string]any)["key"]; got != "SEC" {
		t.Errorf("project %v", got)
	}
	if got := fields["issuetype"].(map[string]any)["name"]; got != "Task" {
		t.Errorf("issue type %v", got)
	}
	if got := fields["summary"]; got != "AWS Config compliance 2026-W48: 12 non-compliant accounts" {
		t.Errorf("summary %q", got)
	}
	if want := []string{"aws-config", "compliance", "run-01KMZ8W4Y0RUN"}; fmt.Sprint(is.Labels) != fmt.Sprint(want) {
		t.Errorf("labels %q, want %q", is.Labels, want)
	}
	desc := fields["description"].(string)
	for _, want := range []string{
		"{{s3://report-bucket/reports/2026/11/23/config-compliance-01KMZ8W4Y0RUN.xlsx}}",
		"500 expected, 488 scanned, 7 failed, 5 missing",
		"12 non-compliant accounts",
		"|111111111111|payments\\|prod \\[old\\]|9|40|",
		"|012345678901| |2|3|",
		"|s3\\-bucket\\-public\\-read\\-prohibited|12|31|",
		"attached: config\\-compliance\\-01KMZ8W4Y0RUN.xlsx",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %q:\n%s", want, desc)
		}
	}
	got := is.Attachments["config-compliance-01KMZ8W4Y0RUN.xlsx"]
	if !bytes.Equal(got, workbook) {
		t.Errorf("attachment: %d bytes, want the %d-byte workbook", len(got), len(workbook))
	}
	if is.AttachType != aggregate.ContentTypeXLSX {
		t.Errorf("attachment type %q", is.AttachType)
	}
}

func TestFindByRunLabel(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprint("legacy=", legacy), func(t *testing.T) {
			f, srv := newFakeJira(t, basic(user, token))
			n := newNotifier(t, srv.URL, func(c *Config) { c.LegacySearch = legacy })
			ctx := context.Background()
			key, err := n.FindByRunLabel(ctx, "01KMZ8W4Y0RUN")
			if err != nil || key != "" {
				t.Fatalf("before filing: %q, %v", key, err)
			}
			if _, err := n.File(ctx, ticket()); err != nil {
				t.Fatal(err)
			}
			other := ticket()
			other.RunID = "other-run"
			if _, err := n.File(ctx, other); err != nil {
				t.Fatal(err)
			}
			key, err = n.FindByRunLabel(ctx, "01KMZ8W4Y0RUN")
			if err != nil || key != "SEC-1" {
				t.Fatalf("after filing: %q, %v", key, err)
			}
			_, reqs, jqls := f.snapshot()
			path := "/rest/api/2/search/jql"
			if legacy {
				path = "/rest/api/2/search"
			}
			if reqs[0] != "GET "+path {
				t.Errorf("search request %q, want GET %s", reqs[0], path)
			}
			if want := `labels = "run-01KMZ8W4Y0RUN" AND project = "SEC" ORDER BY created ASC`; jqls[0] != want {
				t.Errorf("JQL %q, want %q", jqls[0], want)
			}
		})
	}
}

func TestJiraDown(t *testing.T) {
	f, srv := newFakeJira(t, basic(user, token))
	f.down = 2
	n := newNotifier(t, srv.URL, nil)
	ctx := context.Background()
	_, err := n.FindByRunLabel(ctx, "r1")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("search while down: %v", err)
	}
	_, err = n.File(ctx, ticket())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || !strings.Contains(se.Message, "maintenance") {
		t.Errorf("create while down: %v", err)
	}
	if issues, _, _ := f.snapshot(); len(issues) != 0 {
		t.Errorf("%d issues", len(issues))
	}
	// Up again.
	if key, err := n.File(ctx, ticket()); err != nil || key != "SEC-1" {
		t.Errorf("after recovery: %q, %v", key, err)
	}
}

func TestBadLabelAnswer(t *testing.T) {
	f, srv := newFakeJira(t, basic(user, token))
	_ = f
	n := newNotifier(t, srv.URL, nil)
	n.cfg.Labels = []string{"has space"} // bypassing Validate, to see Jira's answer surface
	_, err := n.File(context.Background(), ticket())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "labels: The label 'has space' contains spaces") {
		t.Errorf("err %v", err)
	}
}

func TestAttachmentRetriedThenGivenUp(t *testing.T) {
	attachPause = time.Millisecond
	t.Cleanup(func() { attachPause = time.Second })
	for _, tc := range []struct {
		fails    int
		failOpen bool // the second Open fails (the object store hiccups)
		attached bool
		opens    int
	}{{0, false, true, 1}, {2, false, true, 3}, {3, false, false, 3}, {1, true, true, 3}} {
		t.Run(fmt.Sprint(tc.fails, tc.failOpen), func(t *testing.T) {
			f, srv := newFakeJira(t, basic(user, token))
			f.failAttach = tc.fails
			n := newNotifier(t, srv.URL, nil)
			tk := ticket()
			opens := 0
			open := tk.Workbook.Open
			tk.Workbook.Open = func(ctx context.Context) (io.ReadCloser, int64, error) {
				opens++
				if tc.failOpen && opens == 2 {
					return nil, 0, errors.New("s3: connection reset")
				}
				return open(ctx)
			}
			key, err := n.File(context.Background(), tk)
			if opens != tc.opens {
				t.Errorf("workbook opened %d times, want %d", opens, tc.opens)
			}
			if err != nil || key != "SEC-1" {
				t.Fatalf("%q, %v: the issue exists, its key must come back", key, err)
			}
			issues, _, _ := f.snapshot()
			if got := len(issues[0].Attachments) == 1; got != tc.attached {
				t.Errorf("attached %v, want %v", got, tc.attached)
			}
		})
	}
}

// TestOverSizeNotAttached: the workbook is weighed (Size: a HEAD on S3)
// before it is opened (a download); over the limit it is never opened and
// the ticket gives its location. Without Size, Open's size decides.
func TestOverSizeNotAttached(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int64 // what Size answers; -1: no Size
		limit    int64
		opens    int
		attached bool
	}{
		{"weighed over the limit: never opened", int64(len(workbook)), 1000, 0, false},
		{"weighed under the limit: opened and attached", int64(len(workbook)), DefaultMaxAttachment, 1, true},
		{"weighed exactly at the limit: attached", int64(len(workbook)), int64(len(workbook)), 1, true},
		{"no Size, over the limit: opened, not attached", -1, 1000, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeJira(t, basic(user, token))
			n := newNotifier(t, srv.URL, func(c *Config) { c.MaxAttachment = tc.limit })
			tk := ticket()
			opens, sizes := 0, 0
			open := tk.Workbook.Open
			tk.Workbook.Open = func(ctx context.Context) (io.ReadCloser, int64, error) {
				opens++
				return open(ctx)
			}
			if tc.size >= 0 {
				tk.Workbook.Size = func(context.Context) (int64, error) { sizes++; return tc.size, nil }
			}
			if _, err := n.File(context.Background(), tk); err != nil {
				t.Fatal(err)
			}
			if opens != tc.opens {
				t.Errorf("workbook opened (downloaded) %d times, want %d", opens, tc.opens)
			}
			if tc.size >= 0 && sizes != 1 {
				t.Errorf("workbook weighed %d times, want 1", sizes)
			}
			issues, reqs, _ := f.snapshot()
			if got := len(issues[0].Attachments) == 1; got != tc.attached {
				t.Errorf("attached %v, want %v; requests %q", got, tc.attached, reqs)
			}
			d := issues[0].Fields["description"].(string)
			if over := strings.Contains(d, "over the attachment limit"); over == tc.attached {
				t.Errorf("description says over the limit: %v, want %v:\n%s", over, !tc.attached, d)
			}
			if !strings.Contains(d, ticket().ReportLocation) {
				t.Errorf("description lacks the location:\n%s", d)
			}
		})
	}
}

func TestSizeErrorFilesNothing(t *testing.T) {
	f, srv := newFakeJira(t, basic(user, token))
	n := newNotifier(t, srv.URL, nil)
	tk := ticket()
	tk.Workbook.Size = func(context.Context) (int64, error) { return 0, errors.New("s3: connection reset") }
	if _, err := n.File(context.Background(), tk); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("err %v, want the HEAD's error (the aggregator retries)", err)
	}
	if issues, _, _ := f.snapshot(); len(issues) != 0 {
		t.Errorf("%d issues filed without knowing the workbook's size", len(issues))
	}
}

func TestBearerTokenWithoutUser(t *testing.T) {
	f, srv := newFakeJira(t, "Bearer "+token)
	n := newNotifier(t, srv.URL, func(c *Config) { c.User = "" })
	if _, err := n.File(context.Background(), ticket()); err != nil {
		t.Fatal(err)
	}
	if issues, _, _ := f.snapshot(); len(issues) != 1 {
		t.Errorf("%d issues", len(issues))
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		started time.Time
		trigger events.Trigger
		nc      int
		want    string
	}{
		{time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), events.TriggerScheduled, 12, "AWS Config compliance 2026-W48: 12 non-compliant accounts"},
		{time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), events.TriggerAdhoc, 1, "AWS Config compliance 2026-W48 (ad hoc): 1 non-compliant account"},
		// Monday 2027-01-04 09:00 HKT is Monday 01:00 UTC: ISO week 1 of 2027.
		{time.Date(2027, 1, 4, 9, 0, 0, 0, time.FixedZone("HKT", 8*3600)), events.TriggerScheduled, 0, "AWS Config compliance 2027-W01: 0 non-compliant accounts"},
		// 2026-12-31 is in ISO week 53 of 2026.
		{time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), events.TriggerScheduled, 2, "AWS Config compliance 2026-W53: 2 non-compliant accounts"},
	} {
		tk := aggregate.Ticket{StartedAt: tc.started, Trigger: tc.trigger, Summary: aggregate.Summary{NonCompliantAccounts: tc.nc}}
		if got := Summary(tk); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
	}
}

func TestChangesLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		compared *aggregate.Compared
		want     string
	}{
		{"baseline", &aggregate.Compared{RunID: "01KMZ8W4Y0RUN", GeneratedAt: time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC), New: 3, Resolved: 2},
			"*Changes:* 3 new, 2 resolved since 2026-11-30 (run 01KMZ8W4Y0RUN; the workbook's Changes sheet lists them)."},
		{"nothing moved", &aggregate.Compared{RunID: "01KMZ8W4Y0RUN", GeneratedAt: time.Date(2026, 12, 1, 1, 0, 0, 0, time.FixedZone("HKT", 8*3600))},
			"*Changes:* 0 new, 0 resolved since 2026-11-30 (run 01KMZ8W4Y0RUN; the workbook's Changes sheet lists them)."},
		{"none", nil, "*Changes:* no baseline, nothing compared (no earlier scheduled report, or its findings file could not be read)."},
	} {
		tk := ticket()
		tk.Compared = tc.compared
		if got := Changes(tk); got != tc.want {
			t.Errorf("%s: Changes = %q, want %q", tc.name, got, tc.want)
		}
		if d := Description(tk, false, 0); !strings.Contains(d, "\n"+tc.want+"\n") {
			t.Errorf("%s: the description lacks the line %q:\n%s", tc.name, tc.want, d)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{URL: "https://example.atlassian.net", Project: "SEC", Token: "tok-Zq9w"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"good", func(*Config) {}, nil},
		{"all wrong", func(c *Config) {
			*c = Config{URL: "ftp://x", Project: "SE C", Labels: []string{"two words", ""}, Timeout: -1, MaxAttachment: -1}
		}, []string{"URL", "Project", "JIRA_API_TOKEN", `"two words"`, "empty label", "Timeout", "MaxAttachment"}},
		{"missing", func(c *Config) { *c = Config{} }, []string{"URL is required", "Project is required", "token"}},
		{"http", func(c *Config) { c.URL = "http://jira.example.com" }, []string{`"http://jira.example.com" must use https`}},
		{"http with a port", func(c *Config) { c.URL = "http://jira.example.com:8080/jira" }, []string{"must use https"}},
		{"http on a name that merely starts like loopback", func(c *Config) { c.URL = "http://127.0.0.1.example.com" }, []string{"must use https"}},
		{"http on localhost's subdomain", func(c *Config) { c.URL = "http://localhost.example.com" }, []string{"must use https"}},
		{"http on a private address", func(c *Config) { c.URL = "http://10.0.0.7:8080" }, []string{"must use https"}},
		{"http with credentials in the URL, redacted", func(c *Config) { c.URL = "http://bob:hunter2@jira.example.com" }, []string{"must use https", "xxxxx"}},
		{"https with a port", func(c *Config) { c.URL = "https://jira.example.com:8443/jira" }, nil},
		{"http on 127.0.0.1", func(c *Config) { c.URL = "http://127.0.0.1:41234" }, nil},
		{"http on 127.8.9.10", func(c *Config) { c.URL = "http://127.8.9.10" }, nil},
		{"http on ::1", func(c *Config) { c.URL = "http://[::1]:8080" }, nil},
		{"http on localhost", func(c *Config) { c.URL = "http://localhost:8080" }, nil},
		{"http on LOCALHOST", func(c *Config) { c.URL = "http://LOCALHOST" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			c.setDefaults()
			err := c.Validate()
			if tc.want == nil && err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not mention %s", err, w)
				}
			}
			if err != nil && c.Token != "" && strings.Contains(err.Error(), c.Token) {
				t.Error("the error shows the token")
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Error("the error shows the URL's password")
			}
		})
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == TokenEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		file, env, want string
		err             bool
	}{
		{"", "from-env", "from-env", false},
		{file, "from-env", "from-file", false},
		{"", "", "", false},
		{empty, "x", "", true},
		{filepath.Join(dir, "absent"), "", "", true},
	} {
		got, err := LoadToken(tc.file, env(tc.env))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("LoadToken(%q, %q) = %q, %v", tc.file, tc.env, got, err)
		}
	}
}

func TestRunLabelHasNoSpace(t *testing.T) {
	id, err := ident.ParseRunID("adhoc-2c7f0e4a-9b1d-4c4e-8f7a-2b6d0f1e9a33")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLabel(RunLabel(id)); err != nil {
		t.Error(err)
	}
}

// TestFoundTicketMustBeOurs: a ticket carrying the run's label counts only
// when the configured user created it (compared with what GET myself
// answers, asked once); others are ignored, with a warning.
func TestFoundTicketMustBeOurs(t *testing.T) {
	server := map[string]any{"name": "secops", "key": "JIRAUSER10100", "emailAddress": user}
	for _, tc := range []struct {
		name    string
		me      map[string]any
		foreign []map[string]any // creators of issues labelled before ours
		file    bool             // then ours is filed
		want    string
		warns   int
	}{
		{"cloud: none", cloudUser, nil, false, "", 0},
		{"cloud: ours alone", cloudUser, nil, true, "SEC-1", 0},
		{"cloud: another account's only", cloudUser, []map[string]any{{"accountId": "557058:f00"}}, false, "", 1},
		{"cloud: another account's before ours", cloudUser, []map[string]any{{"accountId": "557058:f00"}}, true, "SEC-2", 1},
		{"cloud: same display name and e-mail, another account", cloudUser,
			[]map[string]any{{"accountId": "557058:f00", "displayName": "SecOps bot", "emailAddress": user}}, true, "SEC-2", 1},
		{"no creator given", cloudUser, []map[string]any{nil}, true, "SEC-2", 1},
		{"server: another user", server, []map[string]any{{"name": "mallory", "key": "JIRAUSER10200"}}, true, "SEC-2", 1},
		{"server: our former name, another key", server, []map[string]any{{"name": "secops", "key": "JIRAUSER10200"}}, true, "SEC-2", 1},
		{"server: same key", server, []map[string]any{{"name": "secops-renamed", "key": "JIRAUSER10100"}}, true, "SEC-1", 0},
		{"server without keys: by name", map[string]any{"name": "secops"}, []map[string]any{{"name": "mallory"}}, true, "SEC-2", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeJira(t, basic(user, token))
			f.me = tc.me
			var logs bytes.Buffer
			n, err := New(Config{URL: srv.URL, Project: "SEC", User: user, Token: token},
				slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, c := range tc.foreign {
				f.plant(c, "run-01KMZ8W4Y0RUN", "compliance")
			}
			if tc.file {
				if _, err := n.File(ctx, ticket()); err != nil {
					t.Fatal(err)
				}
			}
			f.plant(cloudUser, "run-other") // ours, another run's
			for range 2 {
				key, err := n.FindByRunLabel(ctx, "01KMZ8W4Y0RUN")
				if err != nil || key != tc.want {
					t.Fatalf("FindByRunLabel = %q, %v; want %q", key, err, tc.want)
				}
			}
			if want := min(1, len(tc.foreign)+btoi(tc.file)); f.myselfCalls != want {
				t.Errorf("GET myself %d times, want %d (once, and only when a ticket was found)", f.myselfCalls, want)
			}
			if got := strings.Count(logs.String(), `"level":"WARN","msg":"a ticket carries the run label but another user created it; ignored"`); got != 2*tc.warns {
				t.Errorf("%d warnings over two searches, want %d:\n%s", got, 2*tc.warns, logs.String())
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMyselfUnusable(t *testing.T) {
	for _, tc := range []struct {
		name string
		down bool
		me   map[string]any
		want string
	}{
		{"no identity", false, map[string]any{"displayName": "?"}, "no accountId, key or name"},
		{"myself fails", true, cloudUser, "GET myself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeJira(t, basic(user, token))
			f.me = tc.me
			f.plant(cloudUser, "run-r1")
			n := newNotifier(t, srv.URL, nil)
			f.failMyself = tc.down
			key, err := n.FindByRunLabel(context.Background(), "r1")
			if err == nil || key != "" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FindByRunLabel = %q, %v; want an error naming %q (the aggregator retries)", key, err, tc.want)
			}
		})
	}
}
