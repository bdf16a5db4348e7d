package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// JiraConfig says whom the fake Jira accepts and how its search behaves.
type JiraConfig struct {
	Project     string // the only project an issue may be created in
	User, Token string // the basic-auth credentials accepted
	// FindByLabel makes the search find issues by the `labels = "x"` of its
	// JQL, as Jira does (the chaos suite: a crash between filing a ticket
	// and storing its key is only survivable because of that search).
	// Without it the search finds nothing, so that one ticket from two
	// aggregator replicas proves the ticket lease alone (the e2e suite).
	FindByLabel bool
}

// Jira is a fake Jira answering the REST calls the aggregator makes
// (search, create issue, add attachment) and recording them. While down it
// answers 503 to everything. With a delay set, every request it receives
// waits that long before it is answered (a slow Jira), unless the client
// gives up first.
type Jira struct {
	URL       string
	cfg       JiraConfig
	stop      chan struct{} // closed at the test's end: delayed requests are let go
	mu        sync.Mutex
	down      bool
	failed    int // requests answered 503 while down
	delay     time.Duration
	delayed   int // requests answered after the full delay
	abandoned int // requests whose client went away during the delay
	issues    []JiraIssue
	calls     []string
}

// JiraIssue is an issue filed on the fake.
type JiraIssue struct {
	Key     string
	Summary string
	// Description is the issue's body as created (wiki markup).
	Description string
	Labels      []string
	Attachment  int // bytes of the last attachment; 0 for none
	// Creator is the accountId of the user who created it: JiraAccountID
	// of the configured user for issues created through the API.
	Creator string
}

// JiraAccountID is the accountId the fake gives a user name (Jira Cloud
// names users by accountId only).
func JiraAccountID(user string) string { return "acc-" + user }

var labelRE = regexp.MustCompile(`labels = "([^"]+)"`)

// NewJira starts the fake; the test's cleanup stops it.
func NewJira(t testing.TB, cfg JiraConfig) *Jira {
	f := &Jira{cfg: cfg, stop: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	// Cleanups run last first: the delayed requests are let go before
	// Close waits for every request to finish.
	t.Cleanup(func() { close(f.stop) })
	f.URL = srv.URL
	return f
}

func (f *Jira) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		// Read the body first: only then does the server watch the
		// connection, and cancel the request's context when the client
		// gives up.
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
			f.mu.Lock()
			f.delayed++
			f.mu.Unlock()
		case <-r.Context().Done():
			f.mu.Lock()
			f.abandoned++
			f.mu.Unlock()
			return
		case <-f.stop:
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.failed++
		http.Error(w, `{"errorMessages":["service unavailable"]}`, http.StatusServiceUnavailable)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.cfg.User || p != f.cfg.Token {
		http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/rest/api/2/search"):
		found := []map[string]any{}
		if m := labelRE.FindStringSubmatch(r.URL.Query().Get("jql")); m != nil && f.cfg.FindByLabel {
			for i, is := range f.issues {
				if slices.Contains(is.Labels, m[1]) {
					found = append(found, map[string]any{"id": fmt.Sprint(10001 + i), "key": is.Key,
						"fields": map[string]any{"creator": map[string]any{"accountId": is.Creator}}})
				}
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"startAt": 0, "maxResults": 50, "total": len(found), "issues": found, "isLast": true})
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/myself":
		_ = json.NewEncoder(w).Encode(map[string]any{"accountId": JiraAccountID(f.cfg.User), "displayName": f.cfg.User, "active": true})
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		var body struct {
			Fields struct {
				Project     struct{ Key string }
				Summary     string
				Description string
				Labels      []string
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Fields.Project.Key != f.cfg.Project {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errorMessages":["bad issue"]}`)
			return
		}
		key := fmt.Sprintf("%s-%d", f.cfg.Project, len(f.issues)+1)
		f.issues = append(f.issues, JiraIssue{Key: key, Summary: body.Fields.Summary, Description: body.Fields.Description, Labels: body.Fields.Labels, Creator: JiraAccountID(f.cfg.User)})
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"%d","key":%q,"self":"http://%s/rest/api/2/issue/%d"}`, 10000+len(f.issues), key, r.Host, 10000+len(f.issues))
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/attachments"):
		key := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue/"), "/attachments")
		b, _ := io.ReadAll(r.Body)
		for i := range f.issues {
			if f.issues[i].Key == key {
				f.issues[i].Attachment = len(b)
			}
		}
		io.WriteString(w, `[{"id":"1","filename":"report.xlsx"}]`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errorMessages":["not found"]}`)
	}
}

// Env is the services' Jira configuration for this fake, labels
// comma-separated.
func (f *Jira) Env(labels string) []string {
	return []string{"JIRA_URL=" + f.URL, "JIRA_PROJECT=" + f.cfg.Project, "JIRA_USER=" + f.cfg.User, "JIRA_API_TOKEN=" + f.cfg.Token,
		"JIRA_LABELS=" + labels}
}

// SetDown makes the fake answer 503 to everything (true) or serve again.
func (f *Jira) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// SetDelay makes every request received from now on wait d before it is
// answered; 0 answers at once again. Requests already waiting keep their
// delay.
func (f *Jira) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Delayed returns the number of requests answered after their full delay
// and the number whose client gave up (closed the connection) first.
func (f *Jira) Delayed() (answered, abandoned int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delayed, f.abandoned
}

// Failed is the number of requests answered 503 while down.
func (f *Jira) Failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// FileAs files an issue in the project as another user would (through
// Jira's UI), e.g. one carrying a run's label, and returns its key.
func (f *Jira) FileAs(user, summary string, labels ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("%s-%d", f.cfg.Project, len(f.issues)+1)
	f.issues = append(f.issues, JiraIssue{Key: key, Summary: summary, Labels: slices.Clone(labels), Creator: JiraAccountID(user)})
	return key
}

// Issues returns a copy of the issues filed so far, in order.
func (f *Jira) Issues() []JiraIssue {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]JiraIssue, len(f.issues))
	for i, is := range f.issues {
		is.Labels = slices.Clone(is.Labels)
		out[i] = is
	}
	return out
}

// Calls returns the requests received so far, as "METHOD /path".
func (f *Jira) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}
