package awssim

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// AWSSIM.md: any AWS client gets the real wire formats. The SDK tests read
// every answer with aws-sdk-go-v2; these read the answers of issue 16 (EC2
// DescribeRegions, the recorder states, a disabled region's refusal,
// ListTagsForResource paged) with two clients no one here wrote: Debian's
// AWS CLI and Debian's boto3. Each is skipped when it is not installed,
// except under REQUIRE_EMULATORS=1 (make test), where a missing client fails
// the test rather than letting it pass by skipping.

// realClient skips or fails the test when a client is missing.
func realClient(t *testing.T, ok bool, what, install string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("REQUIRE_EMULATORS") == "1" {
		t.Fatalf("%s is not installed but REQUIRE_EMULATORS=1 (%s)", what, install)
	}
	t.Skipf("%s is not installed (%s)", what, install)
}

// clientCase is the coverage org the real clients read: the accounts to
// read with the read role (one with a disabled region, one without a
// recorder, one with a stopped one) and those to list the tags of (one
// with more tags than a page holds, one with owner in lower case, one
// without tags, the management account).
type clientCase struct {
	e        *env
	reads    []string
	tagged   []string
	regions  []string
	listOrg  aws.Credentials
	hub      aws.Credentials
	readKeys map[string]aws.Credentials
}

func newClientCase(t *testing.T) *clientCase {
	gen, err := Generate(GenConfig{Accounts: 40, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	f := gen.File()
	many := map[string]string{"Owner": "ops <&> \"lead\"@example.com", "Team": "Payments é 日本"}
	for i := range 45 {
		many["cost-center-"+string(rune('a'+i/26))+string(rune('a'+i%26))] = strings.Repeat("v", i)
	}
	f.Accounts[len(f.Accounts)-1].Tags = many
	f.Accounts[len(f.Accounts)-2].Tags = map[string]string{"owner": "lower@example.com"}
	f.Accounts[len(f.Accounts)-3].Tags = nil
	b, _ := json.Marshal(f)
	org, err := ParseOrg(b)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 0, Config{Org: org, DisabledRegions: 1, NotRecording: 2})
	o := e.sim.Org()
	c := &clientCase{e: e, regions: DefaultRegions, readKeys: map[string]aws.Credentials{},
		hub: aws.Credentials{AccessKeyID: "AKIDHUB", SecretAccessKey: "hubsecret"}}
	for _, l := range [][]AccountRegion{o.DisabledRegions(), o.NoRecorderRegions(), o.StoppedRecorderRegions()} {
		if len(l) == 0 {
			t.Fatal("a coverage knob picked nothing")
		}
		c.reads = append(c.reads, l[0].AccountID)
		c.readKeys[l[0].AccountID] = e.assumeStatic(l[0].AccountID, RoleRead)
	}
	c.tagged = []string{o.ManagementAccountID}
	for _, a := range o.Accounts[len(o.Accounts)-3:] {
		c.tagged = append(c.tagged, a.ID)
	}
	c.listOrg = e.assumeStatic(o.ManagementAccountID, RoleListOrg)
	return c
}

// regionJSON is a Region as both clients print it.
type regionJSON struct {
	RegionName, Endpoint, OptInStatus string
}

// checkRegions compares a DescribeRegions answer with the ground truth.
func (c *clientCase) checkRegions(t *testing.T, who, account string, all bool, got []regionJSON) {
	t.Helper()
	o := c.e.sim.Org()
	var want []regionJSON
	for _, r := range c.e.sim.regions {
		st := o.OptInStatus(account, r)
		if all || st != NotOptedIn {
			want = append(want, regionJSON{r, "ec2." + r + ".amazonaws.com", st})
		}
	}
	slices.SortFunc(got, func(x, y regionJSON) int { return strings.Compare(x.RegionName, y.RegionName) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: DescribeRegions (AllRegions %v) of %s:\n got %v\nwant %v", who, all, account, got, want)
	}
}

// checkRecorder compares a DescribeConfigurationRecorderStatus answer (or
// the error code) with the ground truth.
func (c *clientCase) checkRecorder(t *testing.T, who, account, region, errCode string, got []map[string]any) {
	t.Helper()
	o := c.e.sim.Org()
	if o.RegionDisabled(account, region) {
		if errCode != "UnrecognizedClientException" {
			t.Errorf("%s: recorder of %s in disabled %s: %q %v, want UnrecognizedClientException", who, account, region, errCode, got)
		}
		return
	}
	if errCode != "" {
		t.Errorf("%s: recorder of %s in %s: %s", who, account, region, errCode)
		return
	}
	switch o.Recorder(account, region) {
	case RecorderNone:
		if len(got) != 0 {
			t.Errorf("%s: %s %s has no recorder, got %v", who, account, region, got)
		}
	case RecorderStopped:
		if len(got) != 1 || got[0]["recording"] != false || got[0]["lastStatus"] != "Success" || got[0]["lastStopTime"] == nil {
			t.Errorf("%s: %s %s is stopped, got %v", who, account, region, got)
		}
	default:
		if len(got) != 1 || got[0]["recording"] != true || got[0]["lastStatus"] != "Success" || got[0]["name"] != "default" {
			t.Errorf("%s: %s %s is recording, got %v", who, account, region, got)
		}
	}
}

func (c *clientCase) checkTags(t *testing.T, who, account string, got []Tag) {
	t.Helper()
	want := c.e.sim.Org().Tags(account)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: tags of %s:\n got %v\nwant %v", who, account, got, want)
	}
}

func TestAWSCLIReadsCoverage(t *testing.T) {
	cli := os.Getenv("AWS_CLI")
	if cli == "" {
		cli = "/usr/bin/aws" // Debian's awscli package, as make e2e uses
	}
	_, err := os.Stat(cli)
	realClient(t, err == nil, "the AWS CLI "+cli, "apt-get install awscli")
	c := newClientCase(t)
	home := t.TempDir()
	run := func(creds aws.Credentials, args ...string) ([]byte, string, error) {
		return runAWSCLI(cli, c.e.url, home, creds, args...)
	}
	decode := func(b []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("AWS CLI output: %v\n%s", err, b)
		}
	}

	for i, acct := range c.reads {
		creds := c.readKeys[acct]
		for _, all := range []bool{true, false} {
			args := []string{"ec2", "describe-regions"}
			if all {
				args = append(args, "--all-regions")
			} else if i > 0 {
				continue // once is enough without --all-regions
			}
			out, stderr, err := run(creds, args...)
			if err != nil {
				t.Fatalf("aws %v: %v\n%s", args, err, stderr)
			}
			var r struct{ Regions []regionJSON }
			decode(out, &r)
			c.checkRegions(t, "aws", acct, all, r.Regions)
		}
		for _, region := range c.regions {
			out, stderr, err := run(creds, "configservice", "describe-configuration-recorder-status", "--region", region)
			code := ""
			if err != nil {
				code = "failed: " + stderr
				if strings.Contains(stderr, "(UnrecognizedClientException)") {
					code = "UnrecognizedClientException"
				}
			}
			var r struct{ ConfigurationRecordersStatus []map[string]any }
			if err == nil {
				decode(out, &r)
			}
			c.checkRecorder(t, "aws", acct, region, code, r.ConfigurationRecordersStatus)
		}
	}
	// A named disabled region with a filter.
	d := c.e.sim.Org().DisabledRegions()[0]
	out, stderr, err := run(c.readKeys[d.AccountID], "ec2", "describe-regions", "--region-names", d.Region, "--filters", "Name=opt-in-status,Values=not-opted-in")
	if err != nil {
		t.Fatalf("describe-regions --region-names: %v\n%s", err, stderr)
	}
	var named struct{ Regions []regionJSON }
	decode(out, &named)
	if len(named.Regions) != 1 || named.Regions[0].RegionName != d.Region || named.Regions[0].OptInStatus != NotOptedIn {
		t.Errorf("aws: named disabled region: %+v", named.Regions)
	}

	// The CLI follows NextToken itself, through the empty second page.
	for _, acct := range c.tagged {
		out, stderr, err := run(c.listOrg, "organizations", "list-tags-for-resource", "--resource-id", acct)
		if err != nil {
			t.Fatalf("list-tags-for-resource %s: %v\n%s", acct, err, stderr)
		}
		var r struct{ Tags []Tag }
		decode(out, &r)
		c.checkTags(t, "aws", acct, r.Tags)
	}

	// Refusals the CLI names by their code.
	if _, stderr, err := run(c.hub, "ec2", "describe-regions"); err == nil || !strings.Contains(stderr, "(UnauthorizedOperation)") {
		t.Errorf("aws: hub DescribeRegions: %v %s", err, stderr)
	}
	if _, stderr, err := run(c.listOrg, "organizations", "list-tags-for-resource", "--resource-id", "999999999999"); err == nil || !strings.Contains(stderr, "(TargetNotFoundException)") {
		t.Errorf("aws: unknown account's tags: %v %s", err, stderr)
	}
}

// botoScript reads every case with boto3, as a Python tool would, and
// prints what it read as JSON.
const botoScript = `
import json, sys
import boto3, botocore.exceptions
cfg = json.load(sys.stdin)
ep = cfg["endpoint"]
def session(c):
    return boto3.session.Session(aws_access_key_id=c["AccessKeyID"], aws_secret_access_key=c["SecretAccessKey"],
                                 aws_session_token=c["SessionToken"] or None, region_name="us-east-1")
def code(f):
    try:
        f()
        return ""
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
out = {"reads": {}, "tags": {}}
for acct, creds in cfg["reads"].items():
    s = session(creds)
    ec2 = s.client("ec2", endpoint_url=ep)
    r = {"all": ec2.describe_regions(AllRegions=True)["Regions"], "enabled": ec2.describe_regions()["Regions"], "recorders": {}}
    for region in cfg["regions"]:
        cs = s.client("config", endpoint_url=ep, region_name=region)
        try:
            r["recorders"][region] = {"status": cs.describe_configuration_recorder_status()["ConfigurationRecordersStatus"], "code": ""}
        except botocore.exceptions.ClientError as e:
            r["recorders"][region] = {"status": [], "code": e.response["Error"]["Code"]}
    out["reads"][acct] = r
orgs = session(cfg["list_org"]).client("organizations", endpoint_url=ep)
for acct in cfg["tagged"]:
    tags = []
    for page in orgs.get_paginator("list_tags_for_resource").paginate(ResourceId=acct):
        tags += page["Tags"]
    out["tags"][acct] = tags
hub = session(cfg["hub"])
out["hub_ec2"] = code(lambda: hub.client("ec2", endpoint_url=ep).describe_regions())
out["unknown_tags"] = code(lambda: orgs.list_tags_for_resource(ResourceId="999999999999"))
json.dump(out, sys.stdout, default=str)
`

func TestBoto3ReadsCoverage(t *testing.T) {
	py := "/usr/bin/python3"
	err := exec.Command(py, "-c", "import boto3").Run()
	realClient(t, err == nil, "Debian's python3-boto3", "apt-get install python3-boto3")
	c := newClientCase(t)
	in := map[string]any{"endpoint": c.e.url, "regions": c.regions, "tagged": c.tagged,
		"list_org": c.listOrg, "hub": c.hub, "reads": c.readKeys}
	b, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", botoScript)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_EC2_METADATA_DISABLED=true"}
	cmd.Stdin = bytes.NewReader(b)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("boto3: %v\n%s", err, errOut.String())
	}
	var got struct {
		Reads map[string]struct {
			All, Enabled []regionJSON
			Recorders    map[string]struct {
				Status []map[string]any
				Code   string
			}
		}
		Tags        map[string][]Tag
		HubEC2      string `json:"hub_ec2"`
		UnknownTags string `json:"unknown_tags"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("boto3 output: %v\n%s", err, out.String())
	}
	if len(got.Reads) != len(c.reads) || len(got.Tags) != len(c.tagged) {
		t.Fatalf("boto3 read %d accounts and %d tag sets, want %d and %d", len(got.Reads), len(got.Tags), len(c.reads), len(c.tagged))
	}
	for acct, r := range got.Reads {
		c.checkRegions(t, "boto3", acct, true, r.All)
		c.checkRegions(t, "boto3", acct, false, r.Enabled)
		for _, region := range c.regions {
			rec := r.Recorders[region]
			c.checkRecorder(t, "boto3", acct, region, rec.Code, rec.Status)
		}
	}
	for acct, tags := range got.Tags {
		c.checkTags(t, "boto3", acct, tags)
	}
	if got.HubEC2 != "UnauthorizedOperation" || got.UnknownTags != "TargetNotFoundException" {
		t.Errorf("boto3 refusals: hub DescribeRegions %q, unknown account's tags %q", got.HubEC2, got.UnknownTags)
	}
}

// runAWSCLI runs the AWS CLI at cli against url with creds and args, in an
// environment of nothing else (HOME home, no shared files, us-east-1, JSON
// output, 3 attempts), and returns its stdout and stderr.
func runAWSCLI(cli, url, home string, creds aws.Credentials, args ...string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + creds.SessionToken, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=3",
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.Bytes(), errOut.String(), err
}
