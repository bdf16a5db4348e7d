package harness

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func jiraDo(t *testing.T, f *Jira, user, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func searchPath(label string) string {
	return "/rest/api/2/search?jql=" + url.QueryEscape(`project = SEC AND labels = "`+label+`"`)
}

func searchKeys(t *testing.T, body string) []string {
	t.Helper()
	var out struct {
		Total  int
		Issues []struct{ Key string }
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("search answer %q: %v", body, err)
	}
	keys := []string{}
	for _, is := range out.Issues {
		keys = append(keys, is.Key)
	}
	if out.Total != len(keys) {
		t.Errorf("total %d for %d issues", out.Total, len(keys))
	}
	return keys
}

const issueBody = `{"fields":{"project":{"key":"SEC"},"summary":"Weekly report","description":"*Changes:* 3 new","labels":["config-compliance","run-r1"]}}`

func TestJiraCreateAttachSearch(t *testing.T) {
	for _, tc := range []struct {
		name        string
		findByLabel bool
		want        []string // keys found searching run-r1
	}{
		{"by label", true, []string{"SEC-1"}},
		{"blind", false, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok", FindByLabel: tc.findByLabel})
			if code, body := jiraDo(t, f, "u", http.MethodPost, "/rest/api/2/issue", issueBody); code != http.StatusCreated || !strings.Contains(body, `"key":"SEC-1"`) {
				t.Fatalf("create: %d %s", code, body)
			}
			if code, _ := jiraDo(t, f, "u", http.MethodPost, "/rest/api/2/issue/SEC-1/attachments", "0123456789"); code != http.StatusOK {
				t.Fatalf("attach: %d", code)
			}
			code, body := jiraDo(t, f, "u", http.MethodGet, searchPath("run-r1"), "")
			if code != http.StatusOK {
				t.Fatalf("search: %d %s", code, body)
			}
			if got := searchKeys(t, body); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("search run-r1 found %v, want %v", got, tc.want)
			}
			_, body = jiraDo(t, f, "u", http.MethodGet, searchPath("run-other"), "")
			if got := searchKeys(t, body); len(got) != 0 {
				t.Errorf("search run-other found %v", got)
			}
			is := f.Issues()
			if len(is) != 1 || is[0].Key != "SEC-1" || is[0].Summary != "Weekly report" || is[0].Description != "*Changes:* 3 new" || is[0].Attachment != 10 || is[0].Creator != "acc-u" ||
				strings.Join(is[0].Labels, ",") != "config-compliance,run-r1" {
				t.Errorf("issues %+v", is)
			}
			is[0].Labels[0] = "changed" // a copy: the fake's record stays
			if f.Issues()[0].Labels[0] != "config-compliance" {
				t.Error("Issues shares its labels with the fake")
			}
			calls := f.Calls()
			if len(calls) != 4 || calls[0] != "POST /rest/api/2/issue" || calls[1] != "POST /rest/api/2/issue/SEC-1/attachments" || calls[2] != "GET /rest/api/2/search" {
				t.Errorf("calls %v", calls)
			}
		})
	}
}

func TestJiraRefusals(t *testing.T) {
	f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok", FindByLabel: true})
	for _, tc := range []struct {
		name, user, method, path, body string
		want                           int
	}{
		{"wrong user", "other", http.MethodGet, searchPath("x"), "", http.StatusUnauthorized},
		{"other project", "u", http.MethodPost, "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"}}}`, http.StatusBadRequest},
		{"not JSON", "u", http.MethodPost, "/rest/api/2/issue", `{`, http.StatusBadRequest},
		{"unknown call", "u", http.MethodDelete, "/rest/api/2/issue/SEC-1", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := jiraDo(t, f, tc.user, tc.method, tc.path, tc.body); code != tc.want {
				t.Errorf("%d %s, want %d", code, body, tc.want)
			}
		})
	}
	if n := len(f.Issues()); n != 0 {
		t.Errorf("%d issues filed by refused calls", n)
	}
}

func TestJiraDown(t *testing.T) {
	f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok"})
	f.SetDown(true)
	for range 3 {
		if code, _ := jiraDo(t, f, "u", http.MethodPost, "/rest/api/2/issue", issueBody); code != http.StatusServiceUnavailable {
			t.Fatalf("while down: %d, want 503", code)
		}
	}
	if f.Failed() != 3 || len(f.Issues()) != 0 {
		t.Fatalf("failed %d, issues %d; want 3, 0", f.Failed(), len(f.Issues()))
	}
	f.SetDown(false)
	if code, _ := jiraDo(t, f, "u", http.MethodPost, "/rest/api/2/issue", issueBody); code != http.StatusCreated {
		t.Fatalf("back up: %d", code)
	}
	if f.Failed() != 3 || len(f.Issues()) != 1 {
		t.Errorf("failed %d, issues %d; want 3, 1", f.Failed(), len(f.Issues()))
	}
}

func TestJiraEnv(t *testing.T) {
	f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok"})
	want := "JIRA_URL=" + f.URL + " JIRA_PROJECT=SEC JIRA_USER=u JIRA_API_TOKEN=tok JIRA_LABELS=a,b"
	if got := strings.Join(f.Env("a,b"), " "); got != want {
		t.Errorf("Env = %s\nwant  %s", got, want)
	}
}

func TestJiraDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, tc := range []struct {
		name                     string
		delay, clientTimeout     time.Duration
		wantCode                 int // 0: the client gives up
		minTook                  time.Duration
		wantAnswered, wantGaveUp int
	}{
		{"no delay", 0, time.Second, http.StatusCreated, 0, 0, 0},
		{"answered after the delay", delay, 5 * time.Second, http.StatusCreated, delay, 1, 0},
		{"client gives up first", delay, 50 * time.Millisecond, 0, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok"})
			f.SetDelay(tc.delay)
			req, err := http.NewRequest(http.MethodPost, f.URL+"/rest/api/2/issue", strings.NewReader(issueBody))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("u", "tok")
			start := time.Now()
			resp, err := (&http.Client{Timeout: tc.clientTimeout}).Do(req)
			took := time.Since(start)
			switch {
			case tc.wantCode == 0 && err == nil:
				resp.Body.Close()
				t.Fatalf("answered %d after %s, want the client to give up", resp.StatusCode, took)
			case tc.wantCode != 0 && err != nil:
				t.Fatal(err)
			case tc.wantCode != 0:
				resp.Body.Close()
				if resp.StatusCode != tc.wantCode || took < tc.minTook {
					t.Fatalf("%d after %s, want %d after at least %s", resp.StatusCode, took, tc.wantCode, tc.minTook)
				}
			}
			// The fake sees a client that gave up once the connection is gone.
			err = Poll(context.Background(), 2*time.Second, 10*time.Millisecond, func() (bool, error) {
				a, g := f.Delayed()
				return a == tc.wantAnswered && g == tc.wantGaveUp, nil
			})
			if a, g := f.Delayed(); err != nil {
				t.Errorf("Delayed() = %d answered, %d gave up; want %d, %d", a, g, tc.wantAnswered, tc.wantGaveUp)
			}
			if want := min(tc.wantCode, 1); len(f.Issues()) != want {
				t.Errorf("%d issues filed, want %d", len(f.Issues()), want)
			}
			// Back to no delay: answered at once.
			f.SetDelay(0)
			start = time.Now()
			if code, _ := jiraDo(t, f, "u", http.MethodGet, searchPath("x"), ""); code != http.StatusOK || time.Since(start) > delay/2 {
				t.Errorf("after SetDelay(0): %d in %s", code, time.Since(start))
			}
		})
	}
}

// TestJiraDelayReleasedAtCleanup: a request still waiting when the test
// ends does not hold the server's Close for the rest of its delay.
func TestJiraDelayReleasedAtCleanup(t *testing.T) {
	start := time.Now()
	t.Run("inner", func(t *testing.T) {
		f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok"})
		f.SetDelay(time.Minute)
		go func() {
			resp, err := http.Get(f.URL + searchPath("x"))
			if err == nil {
				resp.Body.Close()
			}
		}()
		_ = Poll(context.Background(), 2*time.Second, 10*time.Millisecond, func() (bool, error) { return len(f.Calls()) == 1, nil })
	})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the cleanup waited %s for a delayed request", took)
	}
}

// TestJiraCreatorAndMyself: search answers carry each issue's creator, and
// GET myself names the configured user the same way, so that an issue
// filed by someone else (FileAs) can be told apart.
func TestJiraCreatorAndMyself(t *testing.T) {
	f := NewJira(t, JiraConfig{Project: "SEC", User: "u", Token: "tok", FindByLabel: true})
	if key := f.FileAs("mallory", "planted", "run-r1"); key != "SEC-1" {
		t.Fatalf("FileAs = %s", key)
	}
	if code, body := jiraDo(t, f, "u", http.MethodPost, "/rest/api/2/issue", issueBody); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	_, body := jiraDo(t, f, "u", http.MethodGet, searchPath("run-r1"), "")
	var out struct {
		Issues []struct {
			Key    string
			Fields struct{ Creator struct{ AccountID string } }
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, is := range out.Issues {
		got = append(got, is.Key+":"+is.Fields.Creator.AccountID)
	}
	if strings.Join(got, ",") != "SEC-1:acc-mallory,SEC-2:acc-u" {
		t.Errorf("search found %v", got)
	}
	code, body := jiraDo(t, f, "u", http.MethodGet, "/rest/api/2/myself", "")
	if code != http.StatusOK || !strings.Contains(body, `"accountId":"acc-u"`) {
		t.Errorf("myself: %d %s", code, body)
	}
}
