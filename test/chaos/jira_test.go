//go:build chaos

package chaos_test

import (
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
)

const (
	jiraProject = "SEC"
	jiraUser    = "chaos@example.com"
	jiraToken   = "chaos-jira-token"
)

// fakeJira answers the REST calls the aggregator makes. Unlike the e2e's,
// its search finds issues by label, as Jira does: the crash between filing
// a ticket and storing its key is only survivable because of that search.
// While down it answers 503 to everything.
type fakeJira struct {
	url    string
	mu     sync.Mutex
	down   bool
	issues []fakeIssue
	failed int // requests answered 503 while down
}

type fakeIssue struct {
	key        string
	labels     []string
	attachment int
}

var labelRE = regexp.MustCompile(`labels = "([^"]+)"`)

func newFakeJira(t *testing.T) *fakeJira {
	f := &fakeJira{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.down {
			f.failed++
			http.Error(w, `{"errorMessages":["service unavailable"]}`, http.StatusServiceUnavailable)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != jiraUser || p != jiraToken {
			http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/rest/api/2/search"):
			var found []map[string]any
			if m := labelRE.FindStringSubmatch(r.URL.Query().Get("jql")); m != nil {
				for i, is := range f.issues {
					if slices.Contains(is.labels, m[1]) {
						found = append(found, map[string]any{"id": fmt.Sprint(10001 + i), "key": is.key})
					}
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"startAt": 0, "maxResults": 50, "total": len(found), "issues": found, "isLast": true})
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
			var body struct {
				Fields struct {
					Project struct{ Key string }
					Labels  []string
				}
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Fields.Project.Key != jiraProject {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errorMessages":["bad issue"]}`)
				return
			}
			key := fmt.Sprintf("%s-%d", jiraProject, len(f.issues)+1)
			f.issues = append(f.issues, fakeIssue{key: key, labels: body.Fields.Labels})
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":"%d","key":%q,"self":"http://%s/rest/api/2/issue/%d"}`, 10000+len(f.issues), key, r.Host, 10000+len(f.issues))
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/attachments"):
			key := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue/"), "/attachments")
			b, _ := io.ReadAll(r.Body)
			for i := range f.issues {
				if f.issues[i].key == key {
					f.issues[i].attachment = len(b)
				}
			}
			io.WriteString(w, `[{"id":"1","filename":"report.xlsx"}]`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errorMessages":["not found"]}`)
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeJira) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// tickets returns the issues labelled run-<runID> and how many have the
// workbook attached.
func (f *fakeJira) tickets(runID string) (n, attached int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, is := range f.issues {
		if slices.Contains(is.labels, "run-"+runID) {
			n++
			if is.attachment > 0 {
				attached++
			}
		}
	}
	return n, attached
}

func (f *fakeJira) failedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
