package awssim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// weekCase is week 2 of a generated org served with -deny, and what changed
// since week 1 that clients are to see: a rule of a readable account with a
// result resolved, one with a NON_COMPLIANT result on a new resource, an
// account whose owner changed, one that joined and one suspended.
type weekCase struct {
	e                        *env
	w1                       *Org
	resolved, added          ruleAt
	owner, joined, suspended string
}

type ruleAt struct{ account, region, rule string }

func newWeekCase(t *testing.T) *weekCase {
	t.Helper()
	gen := GenConfig{Accounts: 250, Seed: 3}
	w1 := generate(t, gen)
	gen.Week = 2
	c := &weekCase{e: newEnv(t, 0, Config{Org: generate(t, gen), Deny: 2}), w1: w1}
	o := c.e.sim.Org()
	if o.Week != 2 {
		t.Fatalf("served week %d", o.Week)
	}
	for _, a := range o.Accounts {
		p, ok := w1.Account(a.ID)
		switch {
		case !ok:
			c.joined = a.ID
			continue
		case a.Status == StatusSuspended && p.Status == StatusActive:
			c.suspended = a.ID
		case ownerOf(a.Tags) != ownerOf(p.Tags) && c.owner == "":
			c.owner = a.ID
		}
		if a.Status != StatusActive || a.Denied {
			continue
		}
		for _, region := range a.Regions {
			before := w1.Rules(a.ID, region)
			for i, r := range o.Rules(a.ID, region) {
				for j, res := range r.Results {
					switch {
					case j >= len(before[i].Results):
						if c.added.rule == "" {
							c.added = ruleAt{a.ID, region, r.Name}
						}
					case before[i].Results[j].Compliance == NonCompliant && res.Compliance == Compliant:
						if c.resolved.rule == "" {
							c.resolved = ruleAt{a.ID, region, r.Name}
						}
					}
				}
			}
		}
	}
	if c.resolved.rule == "" || c.added.rule == "" || c.owner == "" || c.joined == "" || c.suspended == "" {
		t.Fatalf("week 2 of %+v lacks a change to read: %+v", gen, c)
	}
	return c
}

// resultJSON is an evaluation result as the clients print it.
type resultJSON struct {
	ResourceType, ResourceID, Compliance, Annotation string
	RecordedAt                                       time.Time
}

// checkResults compares a rule's results as read with the ground truth of
// week 2, and checks that they are not week 1's.
func (c *weekCase) checkResults(t *testing.T, who string, at ruleAt, got []resultJSON) {
	t.Helper()
	want := func(o *Org) []resultJSON {
		var out []resultJSON
		for _, r := range o.Rules(at.account, at.region) {
			if r.Name != at.rule {
				continue
			}
			for _, res := range r.Results {
				out = append(out, resultJSON{res.ResourceType, res.ResourceID, res.Compliance, res.Annotation, res.RecordedAt})
			}
		}
		return out
	}
	if w := want(c.e.sim.Org()); !reflect.DeepEqual(got, w) {
		t.Errorf("%s: results of %+v:\n got %+v\nwant %+v", who, at, got, w)
	}
	if reflect.DeepEqual(got, want(c.w1)) {
		t.Errorf("%s: results of %+v are week 1's", who, at)
	}
}

func TestWeekServedSDK(t *testing.T) {
	c := newWeekCase(t)
	ctx := context.Background()
	o := c.e.sim.Org()

	// Accounts: the joined one listed ACTIVE, joined in the week before
	// week 2's results; the suspended one SUSPENDED and not to be entered.
	orgs := c.e.orgs(c.e.hub)
	seen := map[string]string{}
	for p := organizations.NewListAccountsPaginator(orgs, &organizations.ListAccountsInput{}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			seen[aws.ToString(a.Id)] = string(a.Status)
			if aws.ToString(a.Id) == c.joined {
				at := aws.ToTime(a.JoinedTimestamp)
				if !at.After(evaluatedAt) || at.After(evaluatedAt.Add(WeekOffset(2))) {
					t.Errorf("joined account %s: JoinedTimestamp %s, want in week 2", c.joined, at)
				}
			}
		}
	}
	if len(seen) != len(o.Accounts) || seen[c.joined] != StatusActive || seen[c.suspended] != StatusSuspended {
		t.Errorf("ListAccounts: %d accounts (truth %d), joined %s, suspended %s", len(seen), len(o.Accounts), seen[c.joined], seen[c.suspended])
	}
	if _, err := c.e.sts(c.e.hub).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(c.suspended, RoleRead)), RoleSessionName: aws.String("week-test")}); apiCode(err) != "AccessDenied" {
		t.Errorf("AssumeRole into suspended %s: %v", c.suspended, err)
	}

	// The changed owner.
	tags, err := orgs.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: &c.owner})
	if err != nil {
		t.Fatal(err)
	}
	var got []Tag
	for _, tg := range tags.Tags {
		got = append(got, Tag{aws.ToString(tg.Key), aws.ToString(tg.Value)})
	}
	if !reflect.DeepEqual(got, o.Tags(c.owner)) || reflect.DeepEqual(got, c.w1.Tags(c.owner)) {
		t.Errorf("tags of %s: %v, truth %v, week 1 %v", c.owner, got, o.Tags(c.owner), c.w1.Tags(c.owner))
	}

	// The changed rules, through the read role, and the recorder's week.
	for _, at := range []ruleAt{c.resolved, c.added} {
		client := c.e.config(c.e.withCreds(c.e.assume(at.account, RoleRead)), at.region)
		var results []resultJSON
		in := &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: aws.String(at.rule), Limit: 2}
		for p := configservice.NewGetComplianceDetailsByConfigRulePaginator(client, in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.EvaluationResults {
				q := r.EvaluationResultIdentifier.EvaluationResultQualifier
				results = append(results, resultJSON{aws.ToString(q.ResourceType), aws.ToString(q.ResourceId), string(r.ComplianceType),
					aws.ToString(r.Annotation), aws.ToTime(r.ResultRecordedTime).UTC()})
			}
		}
		c.checkResults(t, "sdk", at, results)
		rec, err := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
		if err != nil || len(rec.ConfigurationRecordersStatus) != 1 || !aws.ToTime(rec.ConfigurationRecordersStatus[0].LastStatusChangeTime).Equal(evaluatedAt.Add(WeekOffset(2))) {
			t.Errorf("recorder of %s in %s: %v %+v", at.account, at.region, err, rec)
		}
	}

	resp, err := http.Get(c.e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "accounts, week 2)") {
		t.Errorf("GET /: %q", body)
	}
}

// TestWeekServedAWSCLI reads week 2's changes with the AWS CLI, as the
// coverage tests read the other knobs.
func TestWeekServedAWSCLI(t *testing.T) {
	cli := os.Getenv("AWS_CLI")
	if cli == "" {
		cli = "/usr/bin/aws"
	}
	_, err := os.Stat(cli)
	realClient(t, err == nil, "the AWS CLI "+cli, "apt-get install awscli")
	c := newWeekCase(t)
	o := c.e.sim.Org()
	home := t.TempDir()
	run := func(creds aws.Credentials, v any, args ...string) {
		t.Helper()
		out, errOut, err := runAWSCLI(cli, c.e.url, home, creds, args...)
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, errOut)
		}
		if err := json.Unmarshal(out, v); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
	}
	listOrg := c.e.assumeStatic(o.ManagementAccountID, RoleListOrg)

	for id, want := range map[string]string{c.joined: StatusActive, c.suspended: StatusSuspended} {
		var r struct{ Account struct{ Id, Status string } }
		run(listOrg, &r, "organizations", "describe-account", "--account-id", id)
		if r.Account.Id != id || r.Account.Status != want {
			t.Errorf("aws: describe-account %s: %+v, want %s", id, r.Account, want)
		}
	}
	var tags struct{ Tags []Tag }
	run(listOrg, &tags, "organizations", "list-tags-for-resource", "--resource-id", c.owner)
	if !reflect.DeepEqual(tags.Tags, o.Tags(c.owner)) {
		t.Errorf("aws: tags of %s: %v, truth %v", c.owner, tags.Tags, o.Tags(c.owner))
	}

	for _, at := range []ruleAt{c.resolved, c.added} {
		var r struct {
			EvaluationResults []struct {
				EvaluationResultIdentifier struct {
					EvaluationResultQualifier struct{ ResourceType, ResourceId string }
				}
				ComplianceType, Annotation string
				ResultRecordedTime         string
			}
		}
		run(c.e.assumeStatic(at.account, RoleRead), &r, "configservice", "get-compliance-details-by-config-rule",
			"--region", at.region, "--config-rule-name", at.rule)
		var got []resultJSON
		for _, e := range r.EvaluationResults {
			// The CLI prints times in the local zone, with an offset.
			tm, err := time.Parse(time.RFC3339Nano, e.ResultRecordedTime)
			if err != nil {
				t.Fatalf("aws: ResultRecordedTime %q: %v", e.ResultRecordedTime, err)
			}
			q := e.EvaluationResultIdentifier.EvaluationResultQualifier
			got = append(got, resultJSON{q.ResourceType, q.ResourceId, e.ComplianceType, e.Annotation, tm.UTC()})
		}
		c.checkResults(t, "aws", at, got)
	}
}

// botoWeekScript reads a rule's results and an account's tags with boto3.
const botoWeekScript = `
import json, sys
import boto3
cfg = json.load(sys.stdin)
def session(c):
    return boto3.session.Session(aws_access_key_id=c["AccessKeyID"], aws_secret_access_key=c["SecretAccessKey"],
                                 aws_session_token=c["SessionToken"] or None, region_name="us-east-1")
out = {"results": [], "tags": []}
cs = session(cfg["read"]).client("config", endpoint_url=cfg["endpoint"], region_name=cfg["region"])
for page in cs.get_paginator("get_compliance_details_by_config_rule").paginate(ConfigRuleName=cfg["rule"]):
    for r in page["EvaluationResults"]:
        q = r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
        out["results"].append({"ResourceType": q["ResourceType"], "ResourceID": q["ResourceId"], "Compliance": r["ComplianceType"],
                               "Annotation": r.get("Annotation", ""), "RecordedAt": r["ResultRecordedTime"].isoformat()})
orgs = session(cfg["list_org"]).client("organizations", endpoint_url=cfg["endpoint"])
for page in orgs.get_paginator("list_tags_for_resource").paginate(ResourceId=cfg["owner"]):
    out["tags"] += page["Tags"]
json.dump(out, sys.stdout)
`

func TestWeekServedBoto3(t *testing.T) {
	py := "/usr/bin/python3"
	err := exec.Command(py, "-c", "import boto3").Run()
	realClient(t, err == nil, "Debian's python3-boto3", "apt-get install python3-boto3")
	c := newWeekCase(t)
	o := c.e.sim.Org()
	for _, at := range []ruleAt{c.resolved, c.added} {
		in, _ := json.Marshal(map[string]any{"endpoint": c.e.url, "region": at.region, "rule": at.rule, "owner": c.owner,
			"read": c.e.assumeStatic(at.account, RoleRead), "list_org": c.e.assumeStatic(o.ManagementAccountID, RoleListOrg)})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, py, "-c", botoWeekScript)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/nonexistent",
			"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true"}
		cmd.Stdin = bytes.NewReader(in)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("boto3: %v\n%s", err, errOut.String())
		}
		var got struct {
			Results []resultJSON
			Tags    []Tag
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("boto3 output: %v\n%s", err, out.String())
		}
		for i := range got.Results {
			got.Results[i].RecordedAt = got.Results[i].RecordedAt.UTC()
		}
		c.checkResults(t, "boto3", at, got.Results)
		if !reflect.DeepEqual(got.Tags, o.Tags(c.owner)) {
			t.Errorf("boto3: tags of %s: %v, truth %v", c.owner, got.Tags, o.Tags(c.owner))
		}
	}
}
