package awssim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cfgtypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestOrganizationsWalk walks a 1,000-account org with the SDK paginators,
// as discovery does, and checks every account and its OU path against the
// ground truth, and that awssim served the empty second pages AWS may serve.
func TestOrganizationsWalk(t *testing.T) {
	e := newEnv(t, 1000, Config{})
	ctx := context.Background()
	client := e.orgs(e.hub)

	roots, err := client.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("ListRoots: %v %+v", err, roots)
	}
	type node struct{ id, path string }
	queue := []node{{aws.ToString(roots.Roots[0].Id), "Root"}}
	got := map[string]string{}
	status := map[string]orgtypes.AccountStatus{}
	emptyPages, ouPages := 0, 0
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		ous := organizations.NewListOrganizationalUnitsForParentPaginator(client, &organizations.ListOrganizationalUnitsForParentInput{ParentId: &n.id})
		for ous.HasMorePages() {
			page, err := ous.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListOrganizationalUnitsForParent %s: %v", n.path, err)
			}
			ouPages++
			if len(page.OrganizationalUnits) == 0 && page.NextToken != nil {
				emptyPages++
			}
			for _, ou := range page.OrganizationalUnits {
				queue = append(queue, node{aws.ToString(ou.Id), n.path + "/" + aws.ToString(ou.Name)})
			}
		}
		accts := organizations.NewListAccountsForParentPaginator(client, &organizations.ListAccountsForParentInput{ParentId: &n.id})
		for accts.HasMorePages() {
			page, err := accts.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListAccountsForParent %s: %v", n.path, err)
			}
			if len(page.Accounts) > orgsMaxResults {
				t.Fatalf("page of %d accounts, AWS gives at most 20", len(page.Accounts))
			}
			if len(page.Accounts) == 0 && page.NextToken != nil {
				emptyPages++
			}
			for _, a := range page.Accounts {
				if _, dup := got[aws.ToString(a.Id)]; dup {
					t.Fatalf("account %s listed twice", aws.ToString(a.Id))
				}
				got[aws.ToString(a.Id)] = n.path
				status[aws.ToString(a.Id)] = a.Status
			}
		}
	}
	org := e.sim.Org()
	if len(got) != len(org.Accounts) {
		t.Fatalf("walk found %d accounts, org has %d", len(got), len(org.Accounts))
	}
	suspended := 0
	for _, a := range org.Accounts {
		if got[a.ID] != a.OUPath || string(status[a.ID]) != a.Status {
			t.Errorf("account %s: walk says %s %s, truth %s %s", a.ID, got[a.ID], status[a.ID], a.OUPath, a.Status)
		}
		if a.Status == StatusSuspended {
			suspended++
		}
	}
	if suspended == 0 {
		t.Error("a generated org of 1,000 accounts should have SUSPENDED accounts")
	}
	if emptyPages == 0 {
		t.Error("no empty page with a NextToken was served")
	}
	maxDepth := 0
	for _, ou := range org.OUs {
		maxDepth = max(maxDepth, strings.Count(ou.Path, "/"))
	}
	if maxDepth < 3 {
		t.Errorf("OU tree is %d levels deep, want several", maxDepth)
	}

	all := 0
	for p := organizations.NewListAccountsPaginator(client, &organizations.ListAccountsInput{MaxResults: aws.Int32(7)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all += len(page.Accounts)
	}
	if all != len(org.Accounts) {
		t.Errorf("ListAccounts paginator: %d accounts, want %d", all, len(org.Accounts))
	}
	d, err := client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil || aws.ToString(d.Organization.MasterAccountId) != org.ManagementAccountID {
		t.Fatalf("DescribeOrganization: %v", err)
	}
	m := activeMember(t, org)
	da, err := client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: &m.ID})
	if err != nil || aws.ToString(da.Account.Name) != m.Name {
		t.Fatalf("DescribeAccount: %v", err)
	}
	par, err := client.ListParents(ctx, &organizations.ListParentsInput{ChildId: &m.ID})
	if err != nil || len(par.Parents) != 1 {
		t.Fatalf("ListParents: %v", err)
	}
	ou, err := client.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: par.Parents[0].Id})
	if err != nil || !strings.HasSuffix(m.OUPath, "/"+aws.ToString(ou.OrganizationalUnit.Name)) {
		t.Fatalf("DescribeOrganizationalUnit of %s: %v %+v", m.OUPath, err, ou)
	}
}

func TestOrganizationsErrors(t *testing.T) {
	e := newEnv(t, 30, Config{})
	ctx := context.Background()
	org := e.sim.Org()
	client := e.orgs(e.hub)

	var inv *orgtypes.InvalidInputException
	_, err := client.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(21)})
	if !errors.As(err, &inv) || inv.Reason != "MAX_VALUE_EXCEEDED" {
		t.Errorf("MaxResults 21: got %v, want InvalidInputException", err)
	}
	_, err = client.ListAccounts(ctx, &organizations.ListAccountsInput{NextToken: aws.String("forged")})
	// The reason as AWS's service model spells it for a bad NextToken.
	if !errors.As(err, &inv) || inv.Reason != orgtypes.InvalidInputExceptionReasonInvalidPaginationToken {
		t.Errorf("forged token: got %v, want InvalidInputException with reason INVALID_NEXT_TOKEN", err)
	}
	var notFound *orgtypes.ParentNotFoundException
	if _, err = client.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-zzzz-zzzzzzzz")}); !errors.As(err, &notFound) {
		t.Errorf("unknown parent: got %v", err)
	}
	var noAcct *orgtypes.AccountNotFoundException
	if _, err = client.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String("000000000000")}); !errors.As(err, &noAcct) {
		t.Errorf("unknown account: got %v", err)
	}

	// A read-role session may not list the org.
	m := activeMember(t, org)
	var denied *orgtypes.AccessDeniedException
	_, err = e.orgs(e.withCreds(e.assume(m.ID, RoleRead))).ListRoots(ctx, &organizations.ListRootsInput{})
	if !errors.As(err, &denied) {
		t.Errorf("read role ListRoots: got %v, want AccessDeniedException", err)
	}
	// The org-list role may.
	if _, err = e.orgs(e.withCreds(e.assume(org.ManagementAccountID, RoleListOrg))).ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
		t.Errorf("list-org role ListRoots: %v", err)
	}
	// The org-list role exists only in the management account.
	_, err = e.sts(e.hub).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(m.ID, RoleListOrg)), RoleSessionName: aws.String("x1")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("list-org role in a member: got %v, want AccessDenied", err)
	}
}

// TestHubOutsideManagement: a hub in another account may only describe the
// organisation, as the design's policies allow.
func TestHubOutsideManagement(t *testing.T) {
	o, err := Generate(GenConfig{Accounts: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	hub := o.Accounts[2].ID
	e := newEnv(t, 0, Config{Org: o, HubAccountID: hub})
	ctx := context.Background()
	client := e.orgs(e.hub)
	if _, err := client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err != nil {
		t.Errorf("DescribeOrganization: %v", err)
	}
	var denied *orgtypes.AccessDeniedException
	if _, err := client.ListRoots(ctx, &organizations.ListRootsInput{}); !errors.As(err, &denied) {
		t.Errorf("ListRoots from a hub outside management: got %v", err)
	}
	id, err := e.sts(e.hub).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != hub || aws.ToString(id.Arn) != "arn:aws:sts::"+hub+":assumed-role/"+RoleWrite+"/hub" {
		t.Errorf("GetCallerIdentity: %v %+v", err, id)
	}
}

// TestConfigScan reads every rule, compliance and result of an account with
// the SDK paginators through a chained, cached AssumeRole session, and
// compares them with the ground truth.
func TestConfigScan(t *testing.T) {
	o, err := Generate(GenConfig{Accounts: 20, Seed: 11, Rules: 30, NonCompliant: 0.5, Regions: []string{"us-east-1", "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 0, Config{Org: o})
	ctx := context.Background()
	m := activeMember(t, e.sim.Org())
	creds := e.assume(m.ID, RoleRead)

	who, err := e.sts(e.withCreds(creds)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != "arn:aws:sts::"+m.ID+":assumed-role/"+RoleRead+"/"+strings.Split(aws.ToString(who.Arn), "/")[2] || aws.ToString(who.Account) != m.ID {
		t.Fatalf("GetCallerIdentity as read role: %v %+v", err, who)
	}

	for _, region := range m.Regions {
		client := e.config(e.withCreds(creds), region)
		truth := e.sim.Org().Rules(m.ID, region)
		if len(truth) <= configPageSize {
			t.Fatalf("want more than one page of rules, have %d", len(truth))
		}
		var rules []cfgtypes.ConfigRule
		pages := 0
		for p := configservice.NewDescribeConfigRulesPaginator(client, &configservice.DescribeConfigRulesInput{}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			rules = append(rules, page.ConfigRules...)
		}
		if len(rules) != len(truth) || pages < 2 {
			t.Fatalf("%s: %d rules in %d pages, truth %d", region, len(rules), pages, len(truth))
		}
		custom := 0
		for i, r := range rules {
			tr := truth[i]
			if aws.ToString(r.ConfigRuleName) != tr.Name || string(r.Source.Owner) != tr.SourceOwner() {
				t.Errorf("rule %d: %s/%s, truth %s/%s", i, aws.ToString(r.ConfigRuleName), r.Source.Owner, tr.Name, tr.SourceOwner())
			}
			if tr.SourceIdentifier == CustomSource {
				custom++
				if r.Source.Owner != cfgtypes.OwnerCustomLambda || !strings.HasPrefix(aws.ToString(r.Source.SourceIdentifier), "arn:aws:lambda:"+region+":"+m.ID+":function:") {
					t.Errorf("custom rule %s: source %+v", tr.Name, r.Source)
				}
			} else if aws.ToString(r.Source.SourceIdentifier) != tr.SourceIdentifier {
				t.Errorf("rule %s: identifier %s, truth %s", tr.Name, aws.ToString(r.Source.SourceIdentifier), tr.SourceIdentifier)
			}
		}
		if custom == 0 {
			t.Error("no custom rule among 30")
		}

		compliance := map[string]cfgtypes.Compliance{}
		for p := configservice.NewDescribeComplianceByConfigRulePaginator(client, &configservice.DescribeComplianceByConfigRuleInput{}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.ComplianceByConfigRules {
				compliance[aws.ToString(c.ConfigRuleName)] = *c.Compliance
			}
		}
		kinds := map[string]int{}
		for _, tr := range truth {
			c := compliance[tr.Name]
			kinds[tr.Compliance()]++
			if string(c.ComplianceType) != tr.Compliance() {
				t.Errorf("rule %s: compliance %s, truth %s", tr.Name, c.ComplianceType, tr.Compliance())
			}
			if tr.Compliance() == NonCompliant && int(aws.ToInt32(&c.ComplianceContributorCount.CappedCount)) != tr.NonCompliantCount() {
				t.Errorf("rule %s: contributor count %+v, truth %d", tr.Name, c.ComplianceContributorCount, tr.NonCompliantCount())
			}

			var results []cfgtypes.EvaluationResult
			in := &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: &tr.Name, Limit: 2}
			for p := configservice.NewGetComplianceDetailsByConfigRulePaginator(client, in); p.HasMorePages(); {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				results = append(results, page.EvaluationResults...)
			}
			if len(results) != len(tr.Results) {
				t.Fatalf("rule %s: %d results, truth %d", tr.Name, len(results), len(tr.Results))
			}
			for i, r := range results {
				want := tr.Results[i]
				q := r.EvaluationResultIdentifier.EvaluationResultQualifier
				if aws.ToString(q.ResourceId) != want.ResourceID || aws.ToString(q.ResourceType) != want.ResourceType ||
					string(r.ComplianceType) != want.Compliance || aws.ToString(r.Annotation) != want.Annotation ||
					!aws.ToTime(r.ResultRecordedTime).Equal(want.RecordedAt) {
					t.Errorf("rule %s result %d: %+v %s, truth %+v", tr.Name, i, q, r.ComplianceType, want)
				}
			}
		}
		if kinds[NonCompliant] == 0 || kinds[Compliant] == 0 {
			t.Errorf("want a mix of compliance, got %v", kinds)
		}

		// Filtered by compliance type, as the scanner asks.
		tr := firstNonCompliant(truth)
		out, err := client.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{
			ConfigRuleName: &tr.Name, ComplianceTypes: []cfgtypes.ComplianceType{cfgtypes.ComplianceTypeNonCompliant}, Limit: 100})
		if err != nil || len(out.EvaluationResults) != tr.NonCompliantCount() {
			t.Errorf("NON_COMPLIANT filter: %v, %d results, truth %d", err, len(out.EvaluationResults), tr.NonCompliantCount())
		}

		rec, err := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
		if err != nil || len(rec.ConfigurationRecordersStatus) != 1 || !rec.ConfigurationRecordersStatus[0].Recording {
			t.Errorf("DescribeConfigurationRecorderStatus: %v %+v", err, rec)
		} else if got := rec.ConfigurationRecordersStatus[0].LastStatus; got != cfgtypes.RecorderStatusSuccess {
			// The model's spelling (Pending, Success, Failure), not SUCCESS.
			t.Errorf("recorder lastStatus = %q, want %q", got, cfgtypes.RecorderStatusSuccess)
		}
	}

	// A region the account has no rules in answers empty, successfully.
	client := e.config(e.withCreds(creds), "sa-east-1")
	rules, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if err != nil || len(rules.ConfigRules) != 0 {
		t.Errorf("region without rules: %v %+v", err, rules)
	}
	// Config is set up there all the same: a recorder, recording (AWSSIM.md:
	// "in every region asked, rules or not").
	rec, err := client.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
	if err != nil || len(rec.ConfigurationRecordersStatus) != 1 || !rec.ConfigurationRecordersStatus[0].Recording {
		t.Errorf("recorder in a region without rules: %v %+v", err, rec)
	}
}

func firstNonCompliant(rules []Rule) Rule {
	for _, r := range rules {
		if r.Compliance() == NonCompliant {
			return r
		}
	}
	return rules[0]
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t, 10, Config{})
	ctx := context.Background()
	m := activeMember(t, e.sim.Org())
	client := e.config(e.withCreds(e.assume(m.ID, RoleRead)), "us-east-1")
	rule := e.sim.Org().Rules(m.ID, "us-east-1")[0].Name

	var noRule *cfgtypes.NoSuchConfigRuleException
	if _, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{ConfigRuleNames: []string{"no-such-rule"}}); !errors.As(err, &noRule) {
		t.Errorf("DescribeConfigRules unknown: %v", err)
	}
	if _, err := client.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: aws.String("no-such-rule")}); !errors.As(err, &noRule) {
		t.Errorf("GetComplianceDetailsByConfigRule unknown: %v", err)
	}
	var badToken *cfgtypes.InvalidNextTokenException
	if _, err := client.DescribeComplianceByConfigRule(ctx, &configservice.DescribeComplianceByConfigRuleInput{NextToken: aws.String("bm90LWdpdmVu.abc")}); !errors.As(err, &badToken) {
		t.Errorf("forged token: %v", err)
	}
	var badParam *cfgtypes.InvalidParameterValueException
	if _, err := client.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: &rule, Limit: 101}); !errors.As(err, &badParam) {
		t.Errorf("Limit 101: %v", err)
	}
	// A token of one listing is not valid for another.
	other := e.sim.Org().Rules(m.ID, "us-east-1")[1].Name
	page, err := client.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: &rule, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if page.NextToken != nil {
		_, err = client.GetComplianceDetailsByConfigRule(ctx, &configservice.GetComplianceDetailsByConfigRuleInput{ConfigRuleName: &other, Limit: 1, NextToken: page.NextToken})
		if !errors.As(err, &badToken) {
			t.Errorf("token replayed on another rule: %v", err)
		}
	}
	// The hub may not read Config.
	_, err = e.config(e.hub, "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if apiCode(err) != "AccessDeniedException" {
		t.Errorf("hub DescribeConfigRules: %v", err)
	}
}

func TestDenyAndFailRegions(t *testing.T) {
	e := newEnv(t, 40, Config{Deny: 3, FailRegions: 4})
	ctx := context.Background()
	org := e.sim.Org()
	denied := org.DeniedAccounts()
	failing := org.FailingRegions()
	if len(denied) != 3 || len(failing) != 4 {
		t.Fatalf("denied %v failing %v", denied, failing)
	}
	for _, f := range failing {
		if slices.Contains(denied, f.AccountID) {
			t.Errorf("account %s both denied and failing", f.AccountID)
		}
		if f.AccountID == org.ManagementAccountID {
			t.Error("management account picked")
		}
	}
	for _, id := range denied {
		a, _ := org.Account(id)
		if a.Status != StatusActive || id == org.ManagementAccountID {
			t.Errorf("picked %s (%s)", id, a.Status)
		}
		_, err := e.sts(e.hub).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(id, RoleRead)), RoleSessionName: aws.String("scan")})
		if apiCode(err) != "AccessDenied" {
			t.Errorf("AssumeRole into denied %s: %v", id, err)
		}
		// Through the caching provider the error is the same, wrapped.
		_, err = e.config(e.withCreds(e.assume(id, RoleRead)), "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
		if apiCode(err) != "AccessDenied" {
			t.Errorf("config call with denied provider: %v", err)
		}
	}
	f := failing[0]
	creds := e.withCreds(e.assume(f.AccountID, RoleRead))
	_, err := e.config(creds, f.Region).DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if apiCode(err) != "UnrecognizedClientException" || !strings.Contains(err.Error(), "The security token included in the request is invalid") {
		t.Errorf("failing region: %v", err)
	}
	a, _ := org.Account(f.AccountID)
	for _, r := range a.Regions {
		if !org.RegionFails(a.ID, r) {
			if _, err := e.config(creds, r).DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
				t.Errorf("healthy region %s of a failing account: %v", r, err)
			}
		}
	}

	// Suspended accounts cannot be entered.
	for _, a := range org.Accounts {
		if a.Status == StatusSuspended {
			_, err := e.sts(e.hub).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(a.ID, RoleRead)), RoleSessionName: aws.String("scan")})
			if apiCode(err) != "AccessDenied" {
				t.Errorf("AssumeRole into suspended %s: %v", a.ID, err)
			}
			break
		}
	}
}

func TestThrottling(t *testing.T) {
	e := newEnv(t, 5, Config{ThrottleRPS: 5})
	ctx := context.Background()
	m := activeMember(t, e.sim.Org())
	creds := e.withCreds(e.assume(m.ID, RoleRead))

	raw := creds.Copy()
	raw.Retryer = noRetries
	client := e.config(raw, "us-east-1")
	var throttled error
	// Bounded by count and time, not by an assumption about how fast this
	// machine makes calls: at 5/s only a machine making fewer than 5 calls
	// a second would never be throttled.
	for i, deadline := 0, time.Now().Add(20*time.Second); i < 500 && throttled == nil && time.Now().Before(deadline); i++ {
		_, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
		if err != nil {
			throttled = err
		}
	}
	if apiCode(throttled) != "ThrottlingException" {
		t.Fatalf("calls over a 5/s bucket: got %v, want ThrottlingException", throttled)
	}
	if !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(throttled).Bool() {
		t.Error("the SDK does not see ThrottlingException as a throttle")
	}
	// Another region of the same account has its own bucket.
	if _, err := e.config(raw, "ap-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
		t.Errorf("other region: %v", err)
	}

	// The adaptive retryer absorbs it.
	adaptive := creds.Copy()
	adaptive.Retryer = func() aws.Retryer {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = 20
				so.RateLimiter = ratelimit.None
				so.MaxBackoff = 300 * time.Millisecond
			})
		})
	}
	e.sim.ResetStats()
	client = e.config(adaptive, "us-east-1")
	for i := 0; i < 6; i++ {
		if _, err := client.DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
			t.Fatalf("call %d with the adaptive retryer: %v", i, err)
		}
	}
	st := e.sim.Stats()
	t.Logf("adaptive: %d calls, %d throttled", st.Total, st.Throttled)
	if st.Throttled == 0 || st.Throttled != st.Errors {
		t.Errorf("stats: %+v, want throttles absorbed", st)
	}
}

func TestErrorRate(t *testing.T) {
	e := newEnv(t, 2, Config{ErrorRate: 0.3})
	ctx := context.Background()
	raw := e.hub.Copy()
	raw.Retryer = noRetries
	client := e.sts(raw)
	codes := map[string]int{}
	const n = 400
	for range n {
		_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		codes[apiCode(err)]++
	}
	failed := codes["InternalFailure"] + codes["ServiceUnavailable"]
	if failed < 80 || failed > 160 || codes["InternalFailure"] == 0 || codes["ServiceUnavailable"] == 0 || failed+codes[""] != n {
		t.Errorf("error rate 0.3 over %d calls: %v", n, codes)
	}
	// The standard retryer absorbs them (10 attempts: 0.3^10 leaves about
	// one failure in 170,000 calls).
	m := activeMember(t, e.sim.Org())
	cfg := e.withCreds(e.assume(m.ID, RoleRead))
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	}
	for range 50 {
		if _, err := e.config(cfg, "us-east-1").DescribeComplianceByConfigRule(ctx, &configservice.DescribeComplianceByConfigRuleInput{}); err != nil {
			t.Fatalf("with retries: %v", err)
		}
	}
}

func TestCredentialErrors(t *testing.T) {
	e := newEnv(t, 5, Config{})
	ctx := context.Background()
	m := activeMember(t, e.sim.Org())
	good := e.assumeStatic(m.ID, RoleRead)
	if !strings.HasPrefix(good.AccessKeyID, "ASIA") || good.SessionToken == "" || !good.CanExpire {
		t.Fatalf("session credentials: %+v", good.AccessKeyID)
	}

	cases := []struct {
		name            string
		creds           aws.Credentials
		configCode      string
		stsCode         string
		countedAsMember bool
	}{
		{"wrong secret", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: "wrong" + good.SecretAccessKey, SessionToken: good.SessionToken}, "InvalidSignatureException", "SignatureDoesNotMatch", true},
		{"unknown key", aws.Credentials{AccessKeyID: "ASIAUNKNOWN0000000", SecretAccessKey: good.SecretAccessKey, SessionToken: good.SessionToken}, "UnrecognizedClientException", "InvalidClientTokenId", false},
		{"wrong token", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey, SessionToken: "forged"}, "UnrecognizedClientException", "InvalidClientTokenId", false},
		{"no token", aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey}, "UnrecognizedClientException", "InvalidClientTokenId", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.ResetStats()
			cfg := e.withCreds(static(tc.creds))
			cfg.Retryer = noRetries
			_, err := e.config(cfg, "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
			if apiCode(err) != tc.configCode {
				t.Errorf("config: got %v, want %s", err, tc.configCode)
			}
			_, err = e.sts(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if apiCode(err) != tc.stsCode {
				t.Errorf("sts: got %v, want %s", err, tc.stsCode)
			}
			st := e.sim.Stats()
			acct := "unknown"
			if tc.countedAsMember {
				acct = m.ID
			}
			if st.Calls["DescribeConfigRules"][acct] != 1 || st.Errors != 2 {
				t.Errorf("stats: %+v, want one DescribeConfigRules for %s and 2 errors", st, acct)
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, 5, Config{SessionTTL: 2 * time.Second})
	ctx := context.Background()
	m := activeMember(t, e.sim.Org())
	creds := e.assumeStatic(m.ID, RoleRead)
	if d := time.Until(creds.Expires); d > 2*time.Second || d < 0 {
		t.Errorf("expiration %s away, want about the 2s ttl", d)
	}
	cfg := e.withCreds(static(creds))
	cfg.Retryer = noRetries
	if _, err := e.config(cfg, "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	// The answer's Expiration is rounded down to the second; the session
	// lives until issue + ttl exactly.
	time.Sleep(time.Until(creds.Expires) + time.Second + 10*time.Millisecond)
	var expired *cfgtypes.InvalidParameterValueException
	_, err := e.config(cfg, "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{})
	if apiCode(err) != "ExpiredTokenException" || errors.As(err, &expired) {
		t.Errorf("expired session, Config: %v", err)
	}
	_, err = e.sts(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if apiCode(err) != "ExpiredToken" {
		t.Errorf("expired session, STS: %v", err)
	}
	// A caching provider refreshes and carries on.
	cached := e.withCreds(e.assume(m.ID, RoleRead))
	for range 3 {
		if _, err := e.config(cached, "us-east-1").DescribeConfigRules(ctx, &configservice.DescribeConfigRulesInput{}); err != nil {
			t.Fatalf("cached provider: %v", err)
		}
		time.Sleep(600 * time.Millisecond)
	}
}

func TestAssumeRoleValidation(t *testing.T) {
	e := newEnv(t, 5, Config{SessionTTL: 30 * time.Minute})
	ctx := context.Background()
	m := activeMember(t, e.sim.Org())
	client := e.sts(e.hub)
	for _, in := range []*sts.AssumeRoleInput{
		{RoleArn: aws.String("not-an-arn"), RoleSessionName: aws.String("scan")},
		{RoleArn: aws.String(roleARN(m.ID, RoleRead)), RoleSessionName: aws.String("bad name!")},
		{RoleArn: aws.String(roleARN(m.ID, RoleRead)), RoleSessionName: aws.String("scan"), DurationSeconds: aws.Int32(60)},
	} {
		if _, err := client.AssumeRole(ctx, in); apiCode(err) != "ValidationError" {
			t.Errorf("%+v: %v", in, err)
		}
	}
	// Expiration is issue + min(DurationSeconds, ttl).
	start := time.Now()
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(m.ID, RoleRead)), RoleSessionName: aws.String("scan"), DurationSeconds: aws.Int32(7200)})
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Credentials.Expiration.Sub(start); d < 30*time.Minute-2*time.Second || d > 30*time.Minute+time.Second {
		t.Errorf("expiration %s after issue, want the 30m ttl", d)
	}
	out, err = client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(m.ID, RoleRead)), RoleSessionName: aws.String("scan"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Credentials.Expiration.Sub(start); d < 15*time.Minute-2*time.Second || d > 15*time.Minute+time.Second {
		t.Errorf("expiration %s after issue, want DurationSeconds 900", d)
	}
	// A session may not chain further: only the hub assumes roles.
	sess := e.withCreds(e.assume(m.ID, RoleRead))
	_, err = e.sts(sess).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN(m.ID, RoleRead)), RoleSessionName: aws.String("again")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("session AssumeRole: %v", err)
	}
}
