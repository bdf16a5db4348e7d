package awssim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestRootAndSimEndpoints(t *testing.T) {
	e := newEnv(t, 5, Config{})
	resp, err := http.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Count(body, []byte("\n")) != 1 || !bytes.HasPrefix(body, []byte("awssim")) {
		t.Errorf("GET /: %d %q", resp.StatusCode, body)
	}

	m := activeMember(t, e.sim.Org())
	creds := e.assumeStatic(m.ID, RoleRead)
	var sessions struct {
		Sessions []map[string]any `json:"sessions"`
	}
	getJSON(t, e.url+"/_sim/sessions", &sessions)
	if len(sessions.Sessions) != 1 {
		t.Fatalf("sessions: %+v", sessions)
	}
	s := sessions.Sessions[0]
	if s["access_key_id"] != creds.AccessKeyID || s["secret_access_key"] != creds.SecretAccessKey ||
		s["session_token"] != creds.SessionToken || s["account"] != m.ID || s["role"] != RoleRead || s["expiration"] == nil {
		t.Errorf("session: %+v", s)
	}
	if st := e.sim.Stats(); st.Total != 1 || st.Calls["AssumeRole"][m.ID] != 1 {
		t.Errorf("GET / or /_sim/ counted, or AssumeRole not counted against its target: %+v", st)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestStats checks the counters and the exact JSON of GET /_sim/stats.
func TestStats(t *testing.T) {
	e := newEnv(t, 10, Config{Deny: 1})
	ctx := context.Background()
	org := e.sim.Org()
	m := activeMember(t, org)
	denied := org.DeniedAccounts()[0]

	creds := e.withCreds(e.assume(m.ID, RoleRead))
	cfg := e.config(creds, "eu-west-1")
	for range 3 {
		if _, err := cfg.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.config(creds, "us-east-1").DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.orgs(e.hub).ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sts(e.hub).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(denied, RoleRead)), RoleSessionName: aws.String("s")}); err == nil {
		t.Fatal("denied account let in")
	}

	var raw map[string]json.RawMessage
	getJSON(t, e.url+"/_sim/stats", &raw)
	keys := []string{}
	for k := range raw {
		keys = append(keys, k)
	}
	for _, k := range []string{"calls", "by_region", "total", "throttled", "errors", "max_in_flight"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stats JSON lacks %q: has %v", k, keys)
		}
	}
	if len(raw) != 6 {
		t.Errorf("stats JSON has extra keys: %v", keys)
	}
	var st Stats
	getJSON(t, e.url+"/_sim/stats", &st)
	want := map[string]map[string]int64{
		"AssumeRole":                          {m.ID: 1, denied: 1},
		"DescribeConfigRules":                 {m.ID: 3},
		"DescribeConfigurationRecorderStatus": {m.ID: 1},
		"ListRoots":                           {org.ManagementAccountID: 1},
	}
	if !jsonEqual(st.Calls, want) {
		t.Errorf("calls %v, want %v", st.Calls, want)
	}
	if st.Total != 7 || st.Errors != 1 || st.Throttled != 0 || st.MaxInFlight < 1 {
		t.Errorf("stats %+v", st)
	}
	if st.ByRegion["eu-west-1"] != 3 || st.ByRegion["us-east-1"] != 4 {
		t.Errorf("by_region %v", st.ByRegion)
	}

	resp, err := http.Post(e.url+"/_sim/stats/reset", "", nil)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("reset: %v %v", err, resp)
	}
	resp.Body.Close()
	st = Stats{}
	getJSON(t, e.url+"/_sim/stats", &st)
	if st.Total != 0 || len(st.Calls) != 0 || st.Errors != 0 || st.MaxInFlight != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestMaxInFlight: with latency, concurrent calls overlap and the high-water
// mark shows it; every call, refused or not, is delayed.
func TestLatencyAndMaxInFlight(t *testing.T) {
	e := newEnv(t, 5, Config{Latency: 50 * time.Millisecond})
	ctx := context.Background()
	client := e.sts(e.hub)
	start := time.Now()
	done := make(chan error, 20)
	for range 20 {
		go func() {
			_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			done <- err
		}()
	}
	for range 20 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("20 calls with 50ms latency took %s", d)
	}
	if st := e.sim.Stats(); st.MaxInFlight < 2 || st.MaxInFlight > 20 {
		t.Errorf("max_in_flight %d", st.MaxInFlight)
	}
	// Refused calls are delayed too.
	hubConfig := e.hub.Copy()
	hubConfig.Retryer = noRetries
	start = time.Now()
	_, err := e.config(hubConfig, "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if apiCode(err) != "AccessDeniedException" || time.Since(start) < 40*time.Millisecond {
		t.Errorf("refused call: %v after %s", err, time.Since(start))
	}
}

// TestSigV4 signs requests with the SDK's signer, including a query string
// and an explicit payload hash, and checks that awssim accepts exactly the
// untampered ones.
func TestSigV4(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	body := []byte(`{"ConfigRuleNames":["a b"]}`)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: secret, SessionToken: "tok"}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	sign := func(target string, withHashHeader bool) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "StarlingDoveService.DescribeConfigRules")
		r.Header.Set("X-Amz-Security-Token", "tok")
		if withHashHeader {
			r.Header.Set("X-Amz-Content-Sha256", hash)
		}
		// httptest.NewRequest sets r.Host from the URL; the signer signs
		// r.URL.Host, which a server-side request does not carry.
		r.URL.Host = r.Host
		if err := signer.SignHTTP(context.Background(), creds, r, hash, "config", "eu-west-1", now); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		target string
		hdr    bool
	}{
		{"plain", "http://127.0.0.1:4566/", false},
		{"query and path", "http://127.0.0.1:4566/some%20path/x?b=2&a=1&a=0&sp=a%20b", false},
		{"payload hash header", "http://127.0.0.1:4566/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sign(tc.target, tc.hdr)
			a, err := parseAuthorization(r.Header.Get("Authorization"))
			if err != nil {
				t.Fatal(err)
			}
			if a.region != "eu-west-1" || a.service != "config" || a.accessKeyID != "ASIAEXAMPLE" {
				t.Errorf("parsed %+v", a)
			}
			if !verifySigV4(r, body, a, secret) {
				t.Error("valid signature refused")
			}
			if verifySigV4(r, body, a, secret+"x") {
				t.Error("wrong secret accepted")
			}
			if verifySigV4(r, append([]byte{' '}, body...), a, secret) {
				t.Error("tampered body accepted")
			}
			r.Header.Set("X-Amz-Target", "StarlingDoveService.DescribeConfigRuleZ")
			if verifySigV4(r, body, a, secret) {
				t.Error("tampered signed header accepted")
			}
		})
	}
}

// TestSignatureAge: a correctly signed request from 20 minutes ago is
// refused, as AWS refuses one outside its 15-minute window.
func TestSignatureAge(t *testing.T) {
	e := newEnv(t, 3, Config{})
	m := activeMember(t, e.sim.Org())
	creds := e.assumeStatic(m.ID, RoleRead)
	for _, tc := range []struct {
		age  time.Duration
		want int
	}{{0, 200}, {20 * time.Minute, 400}, {-20 * time.Minute, 400}} {
		body := "{}"
		r, _ := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "StarlingDoveService.DescribeConfigRules")
		r.Header.Set("X-Amz-Security-Token", creds.SessionToken)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hexSHA256([]byte(body)), "config", "us-east-1", time.Now().Add(-tc.age)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == 400 && !strings.Contains(string(b), "Signature expired")) {
			t.Errorf("signed %s ago: %d %s", tc.age, resp.StatusCode, b)
		}
	}
}

func TestUnauthenticatedAndUnknown(t *testing.T) {
	e := newEnv(t, 2, Config{})
	post := func(target, ctype, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := post("StarlingDoveService.DescribeConfigRules", "application/x-amz-json-1.1", "{}")
	if resp.StatusCode != 400 || !strings.Contains(body, `"__type":"MissingAuthenticationTokenException"`) {
		t.Errorf("unsigned JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = post("", "application/x-www-form-urlencoded", "Action=GetCallerIdentity&Version=2011-06-15")
	if resp.StatusCode != 403 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned query: %d %s", resp.StatusCode, body)
	}
	if st := e.sim.Stats(); st.Calls["DescribeConfigRules"]["unknown"] != 1 || st.Calls["GetCallerIdentity"]["unknown"] != 1 || st.Errors != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestStatsSums(t *testing.T) {
	st := Stats{Calls: map[string]map[string]int64{
		"DescribeConfigRules":              {"111111111111": 2, "222222222222": 3},
		"DescribeComplianceByConfigRule":   {"111111111111": 4},
		"GetComplianceDetailsByConfigRule": {"222222222222": 5},
		"AssumeRole":                       {"111111111111": 7},
		"ListAccounts":                     {"unknown": 1},
	}}
	if got := st.OpCalls("DescribeConfigRules"); got != 5 {
		t.Errorf("OpCalls = %d, want 5", got)
	}
	if got := st.OpCalls("Nope"); got != 0 {
		t.Errorf("OpCalls(unknown op) = %d", got)
	}
	if got := st.ConfigCalls(); got != 14 {
		t.Errorf("ConfigCalls = %d, want 14 (AssumeRole and ListAccounts are not Config)", got)
	}
}
