// Command floor is the CPU floor of a scan: a plain aws-sdk-go-v2 program,
// with no package of this project, that makes the AWS calls a scan of the
// organisation makes (AssumeRole into each account's read role, one EC2
// DescribeRegions per account, then per configured region the recorder
// status, every page of the rules, of their compliance, and of each
// non-compliant rule's NON_COMPLIANT results) with the SDK's defaults and
// one HTTP client shared by every client, and prints its CPU per call.
// The load and local-mode benchmarks print their own CPU per call as a
// ratio of this one, measured against the same awssim in the same run.
//
//	floor -regions us-east-1,eu-west-1 -concurrency 64
//
// Endpoints and the hub's keys come from the environment as for any SDK
// program (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). The last line is
//
//	floor: <calls> calls (<attempts> attempts, <throttled> throttled), <findings> findings, <accounts> accounts, wall <s> s, cpu <s> s, <µs> µs cpu per call, concurrency <n>
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

type options struct {
	regions     []string
	concurrency int
	readRole    string
	orgRole     string
}

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	regions := fs.String("regions", "us-east-1,eu-west-1", "configured regions, comma-separated (as the scan's -regions)")
	conc := fs.Int("concurrency", 64, "AWS calls in flight at most (as the scan's -concurrency)")
	readRole := fs.String("read-role-name", "system-config-report-generator-read-role", "role assumed in each account")
	orgRole := fs.String("org-role-arn", "", "role assumed to list the accounts (empty: the hub's own identity)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: floor [flags]\n\nMakes the AWS calls of a scan with a plain aws-sdk-go-v2 client and prints its CPU per call.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{concurrency: *conc, readRole: *readRole, orgRole: *orgRole}
	for _, r := range strings.Split(*regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.regions = append(o.regions, r)
		}
	}
	switch {
	case len(o.regions) == 0:
		return o, errors.New("-regions: at least one region")
	case o.concurrency < 1:
		return o, fmt.Errorf("-concurrency %d: at least 1", o.concurrency)
	}
	return o, nil
}

// counter counts the attempts the SDK sends (a Deserialize-step middleware
// runs once per attempt, inside the retry loop) and the throttled answers
// among them.
type counter struct {
	attempts  atomic.Int64
	throttled atomic.Int64
}

func (c *counter) ID() string { return "floorCounter" }

func (c *counter) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	c.attempts.Add(1)
	out, md, err := next.HandleDeserialize(ctx, in)
	if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
		if t := resp.Header.Get("X-Amzn-Errortype"); strings.HasPrefix(t, "Throttling") || t == "RequestLimitExceeded" {
			c.throttled.Add(1)
		}
	}
	return out, md, err
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	hc := &counter{}
	hub, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(awshttp.NewBuildableClient()), config.WithRegion(o.regions[0]),
		config.WithAPIOptions([]func(*middleware.Stack) error{func(st *middleware.Stack) error {
			return st.Deserialize.Add(hc, middleware.After)
		}}))
	if err != nil {
		return fmt.Errorf("load SDK config: %w", err)
	}
	stsc := sts.NewFromConfig(hub)
	accounts, err := listAccounts(ctx, hub, stsc, o.orgRole)
	if err != nil {
		return err
	}
	var calls, findings atomic.Int64
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	cpu0, wall0 := cpuTime(), time.Now()
	hc.attempts.Store(0)
	hc.throttled.Store(0)
	for _, acct := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, c, err := scanAccount(ctx, hub, stsc, sem, o, acct)
			calls.Add(c)
			findings.Add(n)
			if err != nil {
				errOnce.Do(func() { firstErr = fmt.Errorf("account %s: %w", acct, err) })
			}
		}()
	}
	wg.Wait()
	wall, cpu := time.Since(wall0), cpuTime()-cpu0
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "floor: warning, some calls failed for good:", firstErr)
	}
	per := time.Duration(0)
	if n := calls.Load(); n > 0 {
		per = cpu / time.Duration(n)
	}
	fmt.Fprintf(stdout, "floor: %d calls (%d attempts, %d throttled), %d findings, %d accounts, wall %.2f s, cpu %.2f s, %d µs cpu per call, concurrency %d\n",
		calls.Load(), hc.attempts.Load(), hc.throttled.Load(), findings.Load(), len(accounts),
		wall.Seconds(), cpu.Seconds(), per.Microseconds(), o.concurrency)
	return nil
}

// listAccounts lists the organisation's ACTIVE accounts (not timed).
func listAccounts(ctx context.Context, hub aws.Config, stsc *sts.Client, orgRole string) ([]string, error) {
	cfg := hub.Copy()
	if orgRole != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, orgRole))
	}
	p := organizations.NewListAccountsPaginator(organizations.NewFromConfig(cfg), &organizations.ListAccountsInput{})
	var out []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		for _, a := range page.Accounts {
			if a.State == "ACTIVE" || a.State == "" && a.Status == "ACTIVE" {
				out = append(out, aws.ToString(a.Id))
			}
		}
	}
	return out, nil
}

// call runs one AWS operation holding a slot of sem, as the scan's
// -concurrency bounds its calls in flight.
func call[T any](sem chan struct{}, n *int64, f func() (T, error)) (T, error) {
	sem <- struct{}{}
	defer func() { <-sem }()
	*n++
	return f()
}

// scanAccount makes one account's calls: regions sequentially after one
// DescribeRegions, as the scan does per account-region.
func scanAccount(ctx context.Context, hub aws.Config, stsc *sts.Client, sem chan struct{}, o options, acct string) (findings, calls int64, err error) {
	cfg := hub.Copy()
	arn := fmt.Sprintf("arn:aws:iam::%s:role/%s", acct, o.readRole)
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, arn))
	if _, err := call(sem, &calls, func() (aws.Credentials, error) { return cfg.Credentials.Retrieve(ctx) }); err != nil {
		return 0, calls, fmt.Errorf("assume role: %w", err)
	}
	enabled := map[string]bool{}
	regs, err := call(sem, &calls, func() (*ec2.DescribeRegionsOutput, error) {
		return ec2.NewFromConfig(cfg).DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	})
	if err == nil {
		for _, r := range regs.Regions {
			enabled[aws.ToString(r.RegionName)] = aws.ToString(r.OptInStatus) != "not-opted-in"
		}
	}
	var errs []error
	for _, region := range o.regions {
		if ok, known := enabled[region]; known && !ok {
			continue
		}
		c := configservice.NewFromConfig(cfg, func(co *configservice.Options) { co.Region = region })
		n, err := scanRegion(ctx, c, sem, &calls)
		findings += n
		if err != nil && !skippable(err) {
			errs = append(errs, fmt.Errorf("%s: %w", region, err))
		}
	}
	return findings, calls, errors.Join(errs...)
}

// skippable: the answers a scan records as an error row and moves on from.
func skippable(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient
}

func scanRegion(ctx context.Context, c *configservice.Client, sem chan struct{}, calls *int64) (int64, error) {
	if _, err := call(sem, calls, func() (*configservice.DescribeConfigurationRecorderStatusOutput, error) {
		return c.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
	}); err != nil {
		return 0, err
	}
	rp := configservice.NewDescribeConfigRulesPaginator(c, &configservice.DescribeConfigRulesInput{})
	var rules []string
	for rp.HasMorePages() {
		page, err := call(sem, calls, func() (*configservice.DescribeConfigRulesOutput, error) { return rp.NextPage(ctx) })
		if err != nil {
			return 0, err
		}
		for _, r := range page.ConfigRules {
			rules = append(rules, aws.ToString(r.ConfigRuleName))
		}
	}
	noncompliant := map[string]bool{}
	cp := configservice.NewDescribeComplianceByConfigRulePaginator(c, &configservice.DescribeComplianceByConfigRuleInput{})
	for cp.HasMorePages() {
		page, err := call(sem, calls, func() (*configservice.DescribeComplianceByConfigRuleOutput, error) { return cp.NextPage(ctx) })
		if err != nil {
			return 0, err
		}
		for _, r := range page.ComplianceByConfigRules {
			if r.Compliance != nil && r.Compliance.ComplianceType == cstypes.ComplianceTypeNonCompliant {
				noncompliant[aws.ToString(r.ConfigRuleName)] = true
			}
		}
	}
	var findings int64
	for _, rule := range rules {
		if !noncompliant[rule] {
			continue
		}
		dp := configservice.NewGetComplianceDetailsByConfigRulePaginator(c, &configservice.GetComplianceDetailsByConfigRuleInput{
			ConfigRuleName:  aws.String(rule),
			ComplianceTypes: []cstypes.ComplianceType{cstypes.ComplianceTypeNonCompliant},
		}, func(o *configservice.GetComplianceDetailsByConfigRulePaginatorOptions) { o.Limit = 100 })
		for dp.HasMorePages() {
			page, err := call(sem, calls, func() (*configservice.GetComplianceDetailsByConfigRuleOutput, error) { return dp.NextPage(ctx) })
			if err != nil {
				return findings, err
			}
			findings += int64(len(page.EvaluationResults))
		}
	}
	return findings, nil
}

// cpuTime is the process's user+system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
