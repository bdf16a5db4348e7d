package awssim

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// wireOrgFile is an org whose strings need every escape JSON and XML have:
// quotes, backslashes, <>& (which encoding/json writes as \u003c...), control
// characters, U+2028/U+2029, non-ASCII text, and timestamps with and without
// fractional seconds.
const wireOrgFile = `{
  "management_account_id": "111111111111",
  "ous": ["Root/Prod", "Root/Prod/Pay <&> \"ments\""],
  "accounts": [
    {"id": "222222222222", "name": "payments \"prod\" <&>", "ou_path": "Root/Prod/Pay <&> \"ments\"", "status": "ACTIVE",
     "regions": {"us-east-1": {"rules": [
       {"name": "custom-tags<&>\"q\"\\", "source_identifier": "CUSTOM", "results": [
         {"resource_type": "AWS::S3::Bucket", "resource_id": "b<1>&\u2028\u2029", "compliance": "NON_COMPLIANT",
          "annotation": "Tag \"owner\" <missing> & café\tdone\n\u0001\u001f\u007f é 日本 😀 \\ /", "recorded_at": "2026-11-20T08:00:00.250Z"},
         {"resource_type": "AWS::S3::Bucket", "resource_id": "plain", "compliance": "COMPLIANT", "recorded_at": "2026-11-19T07:59:59Z"},
         {"resource_type": "AWS::EC2::Instance", "resource_id": "i-0abc", "compliance": "NOT_APPLICABLE", "recorded_at": "2026-11-19T07:59:59.999Z"}
       ]},
       {"name": "s3-bucket-public-read-prohibited", "source_identifier": "S3_BUCKET_PUBLIC_READ_PROHIBITED", "results": []},
       {"name": "restricted-ssh", "source_identifier": "INCOMING_SSH_DISABLED", "results": [
         {"resource_type": "AWS::EC2::SecurityGroup", "resource_id": "sg-1", "compliance": "NOT_APPLICABLE"}
       ]}
     ]}}}
  ]
}`

// wireCase is one request whose answer is pinned byte for byte.
type wireCase struct {
	name    string
	creds   aws.Credentials // zero: unsigned
	service string          // signing name: config, organizations, sts
	region  string
	target  string // X-Amz-Target; empty for STS query requests
	body    string
	tamper  func(*http.Request)
}

// TestWireGolden pins the exact answers (status, the headers awssim sets,
// body) of every operation and of the errors, on a generated org and on
// wireOrgFile, so that speeding up the serving path cannot change a byte.
// Request ids, issued credentials and their expiration are random or
// time-dependent and are masked; NextTokens are made stable by fixing the
// token key.
func TestWireGolden(t *testing.T) {
	gen, err := Generate(GenConfig{Accounts: 40, Seed: 7, NonCompliant: 0.3, Rules: 30, Regions: []string{"us-east-1", "ap-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	file, err := ParseOrg([]byte(wireOrgFile))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	coverage, err := ParseOrg(wireCoverageOrgFile(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name  string
		org   *Org
		cfg   Config
		cases func(*testing.T, *Sim) []wireCase
	}{
		{"generated", gen, Config{Deny: 1, FailRegions: 1}, wireCases},
		{"file", file, Config{}, wireCases},
		// Opt-in regions, recorders and tags: the cases of issue 16, on
		// orgs of their own so that the answers pinned above stay as
		// they were.
		{"generated-coverage", gen, Config{Deny: 1, FailRegions: 1, DisabledRegions: 2, NotRecording: 3}, coverageWireCases},
		{"file-coverage", coverage, Config{}, coverageWireCases},
	} {
		cfg := o.cfg
		cfg.Org, cfg.Logger = o.org, quietLogger()
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.tokens = tokenCodec{key: []byte("a fixed key, so tokens are pinned")}
		for _, c := range o.cases(t, s) {
			fmt.Fprintf(&out, "=== %s/%s\n", o.name, c.name)
			out.WriteString(serveWire(t, s, c))
		}
	}
	golden := filepath.Join("testdata", "wire.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestWireGolden -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		gotLines, wantLines := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gotLines), len(wantLines)); i++ {
			var g, w string
			if i < len(gotLines) {
				g = gotLines[i]
			}
			if i < len(wantLines) {
				w = wantLines[i]
			}
			if g != w {
				t.Fatalf("answers differ from %s at line %d:\n got: %s\nwant: %s", golden, i+1, g, w)
			}
		}
	}
}

var (
	maskRequestID = regexp.MustCompile(`<RequestId>[^<]*</RequestId>`)
	// EC2 spells it requestId in answers, RequestID in errors.
	maskEC2RequestID = regexp.MustCompile(`<(requestId|RequestID)>[^<]*</`)
	maskCreds        = regexp.MustCompile(`<(AccessKeyId|SecretAccessKey|SessionToken|Expiration)>[^<]*</`)
)

// serveWire signs and serves one request and renders its answer.
func serveWire(t *testing.T, s *Sim, c wireCase) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://awssim.test/", strings.NewReader(c.body))
	if c.target != "" {
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", c.target)
	} else {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	r.ContentLength = int64(len(c.body))
	if c.creds.AccessKeyID != "" {
		if c.creds.SessionToken != "" {
			r.Header.Set("X-Amz-Security-Token", c.creds.SessionToken)
		}
		sum := hexSHA256([]byte(c.body))
		if err := v4.NewSigner().SignHTTP(context.Background(), c.creds, r, sum, c.service, c.region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if c.tamper != nil {
		c.tamper(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	body := w.Body.String()
	if n, err := strconv.Atoi(w.Header().Get("Content-Length")); err != nil || n != len(body) {
		t.Errorf("%s: Content-Length %q for a body of %d bytes", c.name, w.Header().Get("Content-Length"), len(body))
	}
	if id := w.Header().Get("X-Amzn-Requestid"); len(id) != 36 {
		t.Errorf("%s: request id %q", c.name, id)
	}
	body = maskRequestID.ReplaceAllString(body, "<RequestId>(masked)</RequestId>")
	body = maskEC2RequestID.ReplaceAllString(body, "<$1>(masked)</")
	body = maskCreds.ReplaceAllString(body, "<$1>(masked)</")
	var b strings.Builder
	fmt.Fprintf(&b, "%d\nContent-Type: %s\n", w.Code, w.Header().Get("Content-Type"))
	if e := w.Header().Get("X-Amzn-Errortype"); e != "" {
		fmt.Fprintf(&b, "X-Amzn-Errortype: %s\n", e)
	}
	b.WriteString(body)
	b.WriteString("\n")
	return b.String()
}

// wireCases lists the requests for one Sim: each Config operation with and
// without its parameters, every page of a paged answer, Organizations and
// STS, and the refusals.
func wireCases(t *testing.T, s *Sim) []wireCase {
	t.Helper()
	org := s.Org()
	hub := aws.Credentials{AccessKeyID: "AKIDHUB", SecretAccessKey: "hubsecret"}
	sessCreds := func(account, role string) aws.Credentials {
		ss := s.issue(account, role, "wire", time.Hour)
		return aws.Credentials{AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token}
	}
	cfgCase := func(name string, creds aws.Credentials, region, op, body string) wireCase {
		return wireCase{name: name, creds: creds, service: "config", region: region, target: "StarlingDoveService." + op, body: body}
	}
	orgCase := func(name string, creds aws.Credentials, op, body string) wireCase {
		return wireCase{name: name, creds: creds, service: "organizations", region: "us-east-1", target: "AWSOrganizationsV20161128." + op, body: body}
	}
	stsCase := func(name string, creds aws.Credentials, body string) wireCase {
		return wireCase{name: name, creds: creds, service: "sts", region: "us-east-1", body: body}
	}

	var cases []wireCase
	// Config, for every ACTIVE account with rules somewhere (at most 4),
	// in every region it has plus one it has not.
	n := 0
	for _, a := range org.Accounts {
		if a.Status != StatusActive || a.Denied || len(a.Regions) == 0 || n == 4 {
			continue
		}
		n++
		creds := sessCreds(a.ID, RoleRead)
		for _, region := range append(slices.Clone(a.Regions), "eu-central-2") {
			p := a.ID + "/" + region + "/"
			cases = append(cases,
				cfgCase(p+"DescribeConfigRules", creds, region, "DescribeConfigRules", `{}`),
				cfgCase(p+"DescribeConfigRules-nobody", creds, region, "DescribeConfigRules", ``),
				cfgCase(p+"DescribeComplianceByConfigRule", creds, region, "DescribeComplianceByConfigRule", `{}`),
				cfgCase(p+"DescribeComplianceByConfigRule-NC", creds, region, "DescribeComplianceByConfigRule", `{"ComplianceTypes":["NON_COMPLIANT"]}`),
				cfgCase(p+"DescribeComplianceByConfigRule-C-ID", creds, region, "DescribeComplianceByConfigRule", `{"ComplianceTypes":["COMPLIANT","INSUFFICIENT_DATA"]}`),
				cfgCase(p+"DescribeConfigurationRecorderStatus", creds, region, "DescribeConfigurationRecorderStatus", `{}`),
				cfgCase(p+"DescribeConfigurationRecorderStatus-default", creds, region, "DescribeConfigurationRecorderStatus", `{"ConfigurationRecorderNames":["default"]}`),
			)
			rules := org.Rules(a.ID, region)
			for i, r := range rules {
				name, _ := jsonString(r.Name)
				cases = append(cases,
					cfgCase(fmt.Sprintf("%sGetComplianceDetailsByConfigRule-%d-NC", p, i), creds, region, "GetComplianceDetailsByConfigRule",
						`{"ComplianceTypes":["NON_COMPLIANT"],"ConfigRuleName":`+name+`,"Limit":100}`),
					cfgCase(fmt.Sprintf("%sGetComplianceDetailsByConfigRule-%d-all", p, i), creds, region, "GetComplianceDetailsByConfigRule",
						`{"ConfigRuleName":`+name+`}`),
				)
			}
			if len(rules) >= 2 {
				n0, _ := jsonString(rules[0].Name)
				n1, _ := jsonString(rules[len(rules)-1].Name)
				cases = append(cases,
					cfgCase(p+"DescribeConfigRules-named", creds, region, "DescribeConfigRules", `{"ConfigRuleNames":[`+n1+`,`+n0+`]}`),
					cfgCase(p+"DescribeComplianceByConfigRule-named", creds, region, "DescribeComplianceByConfigRule", `{"ConfigRuleNames":[`+n1+`,`+n0+`]}`),
				)
			}
			// Follow every NextToken of the paged answers.
			for _, pg := range []struct{ op, body string }{
				{"DescribeConfigRules", `{}`},
				{"DescribeComplianceByConfigRule", `{}`},
			} {
				cases = append(cases, followPages(t, s, cfgCase(p+pg.op+"-paged", creds, region, pg.op, pg.body))...)
			}
			for i, r := range rules {
				if len(r.Results) < 2 {
					continue
				}
				name, _ := jsonString(r.Name)
				cases = append(cases, followPages(t, s, cfgCase(fmt.Sprintf("%sGetComplianceDetailsByConfigRule-%d-limit1", p, i), creds, region,
					"GetComplianceDetailsByConfigRule", `{"ConfigRuleName":`+name+`,"Limit":1}`))...)
				break
			}
		}
		// Refusals of Config.
		region := a.Regions[0]
		p := a.ID + "/" + region + "/"
		cases = append(cases,
			cfgCase(p+"err-no-such-rule", creds, region, "DescribeConfigRules", `{"ConfigRuleNames":["no-such-rule"]}`),
			cfgCase(p+"err-bad-type", creds, region, "DescribeComplianceByConfigRule", `{"ComplianceTypes":["NOT_APPLICABLE"]}`),
			cfgCase(p+"err-limit", creds, region, "GetComplianceDetailsByConfigRule", `{"ConfigRuleName":"x","Limit":101}`),
			cfgCase(p+"err-no-name", creds, region, "GetComplianceDetailsByConfigRule", `{"Limit":10}`),
			cfgCase(p+"err-details-bad-type", creds, region, "GetComplianceDetailsByConfigRule", `{"ConfigRuleName":"x","ComplianceTypes":["BAD"]}`),
			cfgCase(p+"err-bad-token", creds, region, "DescribeConfigRules", `{"NextToken":"bm90IG1pbmU.abc"}`),
			cfgCase(p+"err-recorder-name", creds, region, "DescribeConfigurationRecorderStatus", `{"ConfigurationRecorderNames":["other"]}`),
			cfgCase(p+"err-input-shape", creds, region, "DescribeConfigRules", `{"ConfigRuleNames":"not-a-list"}`),
			cfgCase(p+"err-not-json", creds, region, "DescribeConfigRules", `{"ConfigRuleNames":`),
			cfgCase(p+"err-unknown-op", creds, region, "PutConfigRule", `{}`),
			cfgCase(p+"err-hub-denied", hub, region, "DescribeConfigRules", `{}`),
			cfgCase(p+"err-unsigned", aws.Credentials{}, region, "DescribeConfigRules", `{}`),
			wireCase{name: p + "err-unknown-target", creds: creds, service: "config", region: region, target: "Nope.DescribeConfigRules", body: `{}`},
			wireCase{name: p + "err-bad-signature", creds: aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "wrong", SessionToken: creds.SessionToken},
				service: "config", region: region, target: "StarlingDoveService.DescribeConfigRules", body: `{}`},
			wireCase{name: p + "err-unknown-token", creds: aws.Credentials{AccessKeyID: "ASIANEVERISSUED0", SecretAccessKey: "x", SessionToken: "nope"},
				service: "config", region: region, target: "StarlingDoveService.DescribeConfigRules", body: `{}`},
			wireCase{name: p + "err-malformed-auth", creds: creds, service: "config", region: region, target: "StarlingDoveService.DescribeConfigRules", body: `{}`,
				tamper: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") }},
			wireCase{name: p + "err-old-signature", creds: creds, service: "config", region: region, target: "StarlingDoveService.DescribeConfigRules", body: `{}`,
				tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20200101T000000Z") }},
		)
	}
	for _, fr := range org.FailingRegions() {
		cases = append(cases, cfgCase(fr.AccountID+"/"+fr.Region+"/err-failing-region", sessCreds(fr.AccountID, RoleRead), fr.Region, "DescribeConfigRules", `{}`))
	}

	// Organizations, as the hub and as the org-list role.
	listOrg := sessCreds(org.ManagementAccountID, RoleListOrg)
	for _, who := range []struct {
		name  string
		creds aws.Credentials
	}{{"hub", hub}, {"list-org", listOrg}} {
		p := "orgs/" + who.name + "/"
		cases = append(cases,
			orgCase(p+"DescribeOrganization", who.creds, "DescribeOrganization", `{}`),
			orgCase(p+"ListRoots", who.creds, "ListRoots", `{}`),
			orgCase(p+"ListOrganizationalUnitsForParent-root", who.creds, "ListOrganizationalUnitsForParent", `{"ParentId":"`+org.RootID+`"}`),
			orgCase(p+"ListAccountsForParent-root", who.creds, "ListAccountsForParent", `{"ParentId":"`+org.RootID+`"}`),
			orgCase(p+"DescribeAccount", who.creds, "DescribeAccount", `{"AccountId":"`+org.Accounts[len(org.Accounts)-1].ID+`"}`),
			orgCase(p+"ListParents-account", who.creds, "ListParents", `{"ChildId":"`+org.Accounts[len(org.Accounts)-1].ID+`"}`),
			orgCase(p+"err-max-results", who.creds, "ListAccounts", `{"MaxResults":21}`),
			orgCase(p+"err-bad-token", who.creds, "ListAccounts", `{"NextToken":"x"}`),
			orgCase(p+"err-no-parent", who.creds, "ListAccountsForParent", `{"ParentId":"ou-none"}`),
			orgCase(p+"err-no-account", who.creds, "DescribeAccount", `{"AccountId":"999999999999"}`),
			orgCase(p+"err-no-child", who.creds, "ListParents", `{"ChildId":"999999999999"}`),
			orgCase(p+"err-no-ou", who.creds, "DescribeOrganizationalUnit", `{"OrganizationalUnitId":"ou-none"}`),
			orgCase(p+"err-bad-input", who.creds, "ListAccounts", `{"MaxResults":"x"}`),
		)
		cases = append(cases, followPages(t, s, orgCase(p+"ListAccounts", who.creds, "ListAccounts", `{}`))...)
		cases = append(cases, followPages(t, s, orgCase(p+"ListAccounts-max7", who.creds, "ListAccounts", `{"MaxResults":7}`))...)
		for _, ou := range org.OUs {
			cases = append(cases,
				orgCase(p+"DescribeOrganizationalUnit-"+ou.ID, who.creds, "DescribeOrganizationalUnit", `{"OrganizationalUnitId":"`+ou.ID+`"}`),
				orgCase(p+"ListParents-"+ou.ID, who.creds, "ListParents", `{"ChildId":"`+ou.ID+`"}`),
				orgCase(p+"ListOrganizationalUnitsForParent-"+ou.ID, who.creds, "ListOrganizationalUnitsForParent", `{"ParentId":"`+ou.ID+`"}`),
			)
			cases = append(cases, followPages(t, s, orgCase(p+"ListAccountsForParent-"+ou.ID, who.creds, "ListAccountsForParent", `{"ParentId":"`+ou.ID+`","MaxResults":3}`))...)
		}
	}
	read := sessCreds(org.ManagementAccountID, RoleRead)
	cases = append(cases, orgCase("orgs/read-role/err-denied", read, "ListAccounts", `{}`))

	// STS.
	member := org.Accounts[len(org.Accounts)-1].ID
	cases = append(cases,
		stsCase("sts/hub/GetCallerIdentity", hub, "Action=GetCallerIdentity&Version=2011-06-15"),
		stsCase("sts/read/GetCallerIdentity", read, "Action=GetCallerIdentity&Version=2011-06-15"),
		stsCase("sts/hub/AssumeRole", hub, "Action=AssumeRole&Version=2011-06-15&RoleArn="+
			"arn%3Aaws%3Aiam%3A%3A"+org.ManagementAccountID+"%3Arole%2F"+RoleRead+"&RoleSessionName=wire-1&DurationSeconds=900"),
		stsCase("sts/hub/AssumeRole-list-org", hub, "Action=AssumeRole&Version=2011-06-15&RoleArn="+
			"arn%3Aaws%3Aiam%3A%3A"+org.ManagementAccountID+"%3Arole%2Fpath%2F"+RoleListOrg+"&RoleSessionName=w%40x.y"),
		stsCase("sts/hub/err-no-role", hub, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"+member+"%3Arole%2F"+RoleListOrg+"&RoleSessionName=wire"),
		stsCase("sts/hub/err-bad-arn", hub, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A12%3Arole%2Fx%3C%26%3E&RoleSessionName=wire"),
		stsCase("sts/hub/err-bad-session-name", hub, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"+member+"%3Arole%2F"+RoleRead+"&RoleSessionName=%3C%26%3E"),
		stsCase("sts/hub/err-duration", hub, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"+member+"%3Arole%2F"+RoleRead+"&RoleSessionName=wire&DurationSeconds=60"),
		stsCase("sts/read/err-assume", read, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"+member+"%3Arole%2F"+RoleRead+"&RoleSessionName=wire"),
		stsCase("sts/hub/err-no-action", hub, "Version=2011-06-15"),
		stsCase("sts/hub/err-unknown-action", hub, "Action=GetSessionToken&Version=2011-06-15"),
		stsCase("sts/hub/err-bad-form", hub, "Action=%zz"),
		stsCase("sts/err-unsigned", aws.Credentials{}, "Action=GetCallerIdentity&Version=2011-06-15"),
		wireCase{name: "sts/err-bad-signature", creds: aws.Credentials{AccessKeyID: read.AccessKeyID, SecretAccessKey: "wrong", SessionToken: read.SessionToken},
			service: "sts", region: "us-east-1", body: "Action=GetCallerIdentity&Version=2011-06-15"},
	)
	for _, d := range org.DeniedAccounts() {
		cases = append(cases, stsCase("sts/hub/err-denied-"+d, hub, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"+d+"%3Arole%2F"+RoleRead+"&RoleSessionName=wire"))
	}
	return cases
}

// followPages returns c plus one case per further page, each carrying the
// NextToken of the page before (served here once to learn it; the golden
// run serves each again, with the same fixed token key).
func followPages(t *testing.T, s *Sim, c wireCase) []wireCase {
	t.Helper()
	out := []wireCase{c}
	for page := 2; page < 100; page++ {
		ans := serveWire(t, s, c)
		m := regexp.MustCompile(`"NextToken":"([^"]+)"`).FindStringSubmatch(ans)
		if m == nil {
			return out
		}
		next := c
		next.name = fmt.Sprintf("%s-page%d", c.name, page)
		body := strings.TrimSuffix(strings.TrimSpace(c.body), "}")
		if regexp.MustCompile(`"NextToken":"[^"]*"`).MatchString(body + "}") {
			next.body = regexp.MustCompile(`"NextToken":"[^"]*"`).ReplaceAllString(c.body, `"NextToken":"`+m[1]+`"`)
		} else if body == "{" {
			next.body = `{"NextToken":"` + m[1] + `"}`
		} else {
			next.body = body + `,"NextToken":"` + m[1] + `"}`
		}
		out = append(out, next)
		c = next
	}
	t.Fatalf("%s: more than 100 pages", c.name)
	return nil
}

// jsonString quotes s as a JSON string.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// wireCoverageOrgFile is an org file with every coverage case of the format:
// a disabled opt-in region, stopped and missing recorders, tags that need
// escaping, more tags than one page of ListTagsForResource holds, lower-case
// owner, and accounts without tags.
func wireCoverageOrgFile(t *testing.T) []byte {
	t.Helper()
	rule := func(name string) RuleFile {
		at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
		return RuleFile{Name: name, SourceIdentifier: "S3_BUCKET_VERSIONING_ENABLED", Results: []ResultFile{
			{ResourceType: "AWS::S3::Bucket", ResourceID: "b-" + name, Compliance: NonCompliant, Annotation: "off", RecordedAt: &at}}}
	}
	many := map[string]string{"Owner": "ops <&> \"lead\"@example.com", "Team": "Payments é 日本", "Empty": ""}
	for i := range 22 {
		many[fmt.Sprintf("cost-center-%02d", i)] = strconv.Itoa(i)
	}
	f := OrgFile{
		ManagementAccountID: "111111111111",
		OUs:                 []string{"Root/Prod"},
		Accounts: []AccountFile{
			{ID: "111111111111", Name: "management", OUPath: "Root", Status: StatusActive,
				Tags: map[string]string{"Owner": "cloud@example.com", "Team": "Cloud Platform"}},
			{ID: "222222222222", Name: "payments", OUPath: "Root/Prod", Status: StatusActive, Tags: many,
				Regions: map[string]RegionFile{
					"us-east-1":  {Recorder: RecorderStopped, Rules: []RuleFile{rule("stopped-rule")}},
					"ap-east-1":  {Enabled: new(bool), Rules: []RuleFile{rule("hidden-rule")}},
					"eu-south-1": {Recorder: RecorderNone, Rules: []RuleFile{rule("unrecorded-rule")}},
					"me-south-1": {Recorder: RecorderRecording, Rules: []RuleFile{}},
				}},
			{ID: "333333333333", Name: "lower-case", OUPath: "Root/Prod", Status: StatusActive,
				Tags:    map[string]string{"owner": "someone@example.com"},
				Regions: map[string]RegionFile{"us-east-1": {Rules: []RuleFile{}}, "af-south-1": {Fail: true, Rules: []RuleFile{}}}},
			{ID: "444444444444", Name: "untagged", OUPath: "Root/Prod", Status: StatusActive,
				Regions: map[string]RegionFile{"us-east-1": {Rules: []RuleFile{}}}},
		},
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// coverageWireCases lists the requests of issue 16 for one Sim: EC2
// DescribeRegions with its parameters and refusals, the recorder and the
// Config answers of every account a coverage knob touched, and
// ListTagsForResource of every account, root and OU, paged, and refused.
func coverageWireCases(t *testing.T, s *Sim) []wireCase {
	t.Helper()
	org := s.Org()
	hub := aws.Credentials{AccessKeyID: "AKIDHUB", SecretAccessKey: "hubsecret"}
	sessCreds := func(account, role string) aws.Credentials {
		ss := s.issue(account, role, "wire", time.Hour)
		return aws.Credentials{AccessKeyID: ss.accessKeyID, SecretAccessKey: ss.secret, SessionToken: ss.token}
	}
	ec2Case := func(name string, creds aws.Credentials, region, body string) wireCase {
		return wireCase{name: name, creds: creds, service: "ec2", region: region, body: body}
	}
	cfgCase := func(name string, creds aws.Credentials, region, op, body string) wireCase {
		return wireCase{name: name, creds: creds, service: "config", region: region, target: "StarlingDoveService." + op, body: body}
	}
	orgCase := func(name string, creds aws.Credentials, op, body string) wireCase {
		return wireCase{name: name, creds: creds, service: "organizations", region: "us-east-1", target: "AWSOrganizationsV20161128." + op, body: body}
	}
	const dr = "Action=DescribeRegions&Version=2016-11-15"

	// The accounts a coverage knob touched, then one untouched.
	var ids []string
	for _, l := range [][]AccountRegion{org.DisabledRegions(), org.NoRecorderRegions(), org.StoppedRecorderRegions(), org.FailingRegions()} {
		for _, p := range l {
			if !slices.Contains(ids, p.AccountID) {
				ids = append(ids, p.AccountID)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatal("no account has a coverage case")
	}
	for _, a := range org.Accounts {
		if a.Status == StatusActive && !a.Denied && len(a.Regions) > 0 && !slices.Contains(ids, a.ID) {
			ids = append(ids, a.ID)
			break
		}
	}
	var cases []wireCase
	for _, id := range ids {
		a, _ := org.Account(id)
		creds := sessCreds(id, RoleRead)
		cases = append(cases,
			ec2Case(id+"/DescribeRegions", creds, "us-east-1", dr),
			ec2Case(id+"/DescribeRegions-all", creds, "us-east-1", dr+"&AllRegions=true"),
		)
		for _, region := range a.Regions {
			p := id + "/" + region + "/"
			cases = append(cases,
				cfgCase(p+"DescribeConfigurationRecorderStatus", creds, region, "DescribeConfigurationRecorderStatus", `{}`),
				cfgCase(p+"DescribeConfigurationRecorderStatus-default", creds, region, "DescribeConfigurationRecorderStatus", `{"ConfigurationRecorderNames":["default"]}`),
				cfgCase(p+"DescribeComplianceByConfigRule", creds, region, "DescribeComplianceByConfigRule", `{}`),
				ec2Case(p+"DescribeRegions-signed-here", creds, region, dr+"&RegionName.1="+region),
			)
		}
	}

	// DescribeRegions' parameters and refusals, on the first account.
	id := ids[0]
	creds := sessCreds(id, RoleRead)
	p := id + "/"
	cases = append(cases,
		ec2Case(p+"DescribeRegions-named", creds, "us-east-1", dr+"&RegionName.2=us-east-1&RegionName.1=ap-east-1&RegionName.3=mx-central-1"),
		ec2Case(p+"DescribeRegions-not-opted-in", creds, "us-east-1", dr+"&AllRegions=true&Filter.1.Name=opt-in-status&Filter.1.Value.1=not-opted-in"),
		ec2Case(p+"DescribeRegions-opted-in-or-not", creds, "us-east-1", dr+"&AllRegions=TRUE&Filter.1.Name=opt-in-status&Filter.1.Value.1=opted-in&Filter.1.Value.2=not-opted-in"),
		ec2Case(p+"DescribeRegions-ap-wildcard", creds, "us-east-1", dr+"&Filter.1.Name=region-name&Filter.1.Value.1=ap-*-1&Filter.2.Name=endpoint&Filter.2.Value.1=*east*"),
		ec2Case(p+"DescribeRegions-all-false", creds, "us-east-1", dr+"&AllRegions=false"),
		ec2Case(p+"DescribeRegions-no-version-signed-ec2", creds, "us-east-1", "Action=DescribeRegions"),
		ec2Case(p+"err-dry-run", creds, "us-east-1", dr+"&DryRun=true"),
		ec2Case(p+"err-bad-bool", creds, "us-east-1", dr+"&AllRegions=yes"),
		ec2Case(p+"err-unknown-region", creds, "us-east-1", dr+"&RegionName.1=mars-east-1"),
		ec2Case(p+"err-bad-filter", creds, "us-east-1", dr+"&Filter.1.Name=zone-name&Filter.1.Value.1=x"),
		ec2Case(p+"err-filter-no-name", creds, "us-east-1", dr+"&Filter.1.Value.1=x"),
		ec2Case(p+"err-unknown-action", creds, "us-east-1", "Action=DescribeInstances&Version=2016-11-15"),
		ec2Case(p+"err-hub-denied", hub, "us-east-1", dr),
		ec2Case(p+"err-list-org-denied", sessCreds(org.ManagementAccountID, RoleListOrg), "us-east-1", dr),
		ec2Case(p+"err-unsigned", aws.Credentials{}, "us-east-1", dr),
		ec2Case(p+"err-bad-signature", aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "wrong", SessionToken: creds.SessionToken}, "us-east-1", dr),
		ec2Case(p+"err-unknown-token", aws.Credentials{AccessKeyID: "ASIANEVERISSUED0", SecretAccessKey: "x", SessionToken: "nope"}, "us-east-1", dr),
		wireCase{name: p + "err-old-signature", creds: creds, service: "ec2", region: "us-east-1", body: dr,
			tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20200101T000000Z") }},
	)

	// ListTagsForResource, as the org-list role and as the hub.
	listOrg := sessCreds(org.ManagementAccountID, RoleListOrg)
	for _, who := range []struct {
		name  string
		creds aws.Credentials
	}{{"hub", hub}, {"list-org", listOrg}} {
		p := "orgs/" + who.name + "/"
		for _, a := range org.Accounts {
			cases = append(cases, followPages(t, s, orgCase(p+"ListTagsForResource-"+a.ID, who.creds, "ListTagsForResource", `{"ResourceId":"`+a.ID+`"}`))...)
		}
		cases = append(cases,
			orgCase(p+"ListTagsForResource-root", who.creds, "ListTagsForResource", `{"ResourceId":"`+org.RootID+`"}`),
			orgCase(p+"ListTagsForResource-ou", who.creds, "ListTagsForResource", `{"ResourceId":"`+org.OUs[0].ID+`"}`),
			orgCase(p+"err-tags-unknown-account", who.creds, "ListTagsForResource", `{"ResourceId":"999999999999"}`),
			orgCase(p+"err-tags-bad-id", who.creds, "ListTagsForResource", `{"ResourceId":"12345"}`),
			orgCase(p+"err-tags-no-id", who.creds, "ListTagsForResource", `{}`),
			orgCase(p+"err-tags-bad-token", who.creds, "ListTagsForResource", `{"ResourceId":"`+org.ManagementAccountID+`","NextToken":"x"}`),
		)
	}
	cases = append(cases, orgCase("orgs/read-role/err-tags-denied", sessCreds(org.ManagementAccountID, RoleRead), "ListTagsForResource", `{"ResourceId":"`+org.ManagementAccountID+`"}`))
	return cases
}
