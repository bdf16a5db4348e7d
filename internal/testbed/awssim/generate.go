package awssim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GenConfig sizes a generated organisation.
type GenConfig struct {
	// Accounts is the number of member accounts; the management account is
	// added to them.
	Accounts int
	// Seed makes generation deterministic: the same config gives the same org.
	Seed int64
	// Regions where every ACTIVE account has Config rules. Default
	// us-east-1, ap-east-1.
	Regions []string
	// Rules is about how many rules each account has per region. Default 12.
	Rules int
	// NonCompliant is the fraction of rules that are NON_COMPLIANT; 0 means
	// the default 0.15, a negative value means none.
	NonCompliant float64
	// Week is the week of the org's life to generate (AWSSIM.md -week): 1,
	// the default when 0, is the org as the seed always gave it; week N is
	// derived from the seed and N alone, with the churn of week.go.
	Week int
}

// DefaultRegions are the regions of a generated org unless told otherwise:
// one standard region and one opt-in region (ap-east-1), the kind an
// account may not have enabled.
var DefaultRegions = []string{"us-east-1", "ap-east-1"}

func (c *GenConfig) setDefaults() {
	if len(c.Regions) == 0 {
		c.Regions = slices.Clone(DefaultRegions)
	}
	if c.Rules == 0 {
		c.Rules = 12
	}
	switch {
	case c.NonCompliant == 0:
		c.NonCompliant = DefaultNonCompliant
	case c.NonCompliant < 0:
		c.NonCompliant = 0
	}
	if c.Week == 0 {
		c.Week = 1
	}
}

// DefaultNonCompliant is the fraction of NON_COMPLIANT rules unless told
// otherwise.
const DefaultNonCompliant = 0.15

// Validate returns every problem of the config at once.
func (c GenConfig) Validate() error {
	var errs []error
	if c.Accounts < 0 || c.Accounts > 100000 {
		errs = append(errs, fmt.Errorf("accounts %d: want 0 to 100000", c.Accounts))
	}
	if c.Rules < 1 || c.Rules > len(managedRules)+len(customRules) {
		errs = append(errs, fmt.Errorf("rules %d: want 1 to %d", c.Rules, len(managedRules)+len(customRules)))
	}
	if c.NonCompliant > 1 {
		errs = append(errs, fmt.Errorf("noncompliant %g: want 0 to 1", c.NonCompliant))
	}
	if c.Week < 1 || c.Week > MaxWeek {
		errs = append(errs, fmt.Errorf("week %d: want 1 to %d", c.Week, MaxWeek))
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if !validRegion(r) {
			errs = append(errs, fmt.Errorf("region %q: not a region name", r))
		}
		if seen[r] {
			errs = append(errs, fmt.Errorf("region %q: listed twice", r))
		}
		seen[r] = true
	}
	return errors.Join(errs...)
}

// Generate builds an organisation deterministically from cfg. Only the tree
// of OUs and accounts is built up front; each account's rules and results are
// derived on demand from the seed (Org.Rules), so 5,000 accounts in 4
// regions cost a few milliseconds and little memory. With cfg.Week above 1
// the org is the first week's, advanced week by week (week.go).
func Generate(cfg GenConfig) (*Org, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("generate org: %w", err)
	}
	first, leaves := generateFirst(cfg)
	if cfg.Week == 1 {
		return first, nil
	}
	return advance(first, cfg, leaves), nil
}

// generateFirst builds week 1 of the org, and returns with it the OUs that
// workload accounts are placed in (where accounts that join later go).
func generateFirst(cfg GenConfig) (*Org, []string) {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x617773696d))
	regions := slices.Clone(cfg.Regions)
	slices.Sort(regions)

	o := &Org{
		ID:     "o-" + randString(rng, lowerAlnum, 10),
		RootID: "r-" + randString(rng, lowerAlnum, 4),
		Week:   1,
		gen:    newGenerator(cfg, rng.Uint64()),
		seed:   cfg.Seed,
	}
	usedIDs := map[string]bool{}
	newAccountID := func() string {
		for {
			id := fmt.Sprintf("%012d", 100000000000+rng.Int64N(900000000000))
			if !usedIDs[id] {
				usedIDs[id] = true
				return id
			}
		}
	}
	ouIDs := map[string]string{"Root": o.RootID}
	addOU := func(path string) {
		if _, ok := ouIDs[path]; ok {
			return
		}
		parent := path[:strings.LastIndexByte(path, '/')]
		id := "ou-" + o.RootID[2:] + "-" + randString(rng, lowerAlnum, 8)
		ouIDs[path] = id
		o.OUs = append(o.OUs, OU{ID: id, Name: path[len(parent)+1:], Path: path, ParentID: ouIDs[parent]})
	}
	addAccount := func(name, ouPath, status string) {
		a := Account{ID: newAccountID(), Name: name, Email: "aws+" + name + "@example.com", OUPath: ouPath, Status: status}
		if status == StatusActive {
			a.Regions = regions
		}
		a.Tags = generatedTags(cfg.Seed, a.ID, name, ouPath)
		o.Accounts = append(o.Accounts, a)
	}

	n := cfg.Accounts
	// A landing-zone shaped tree: Security and Infrastructure OUs, workloads
	// split by environment then business unit (a few units split again by
	// geography, five levels deep), a sandbox, and a Suspended OU holding the
	// closed accounts, as AWS Control Tower lays it out.
	for _, p := range []string{"Root/Security", "Root/Infrastructure", "Root/Workloads", "Root/Workloads/Prod", "Root/Workloads/NonProd", "Root/Sandbox", "Root/Suspended"} {
		addOU(p)
	}
	nBU := min(max(n/25, 2), len(businessUnits))
	var leaves []string
	for i, bu := range businessUnits[:nBU] {
		for _, env := range []string{"Prod", "NonProd"} {
			p := "Root/Workloads/" + env + "/" + bu
			addOU(p)
			if i < 3 && env == "Prod" {
				for _, geo := range []string{"EU", "US"} {
					addOU(p + "/" + geo)
					leaves = append(leaves, p+"/"+geo)
				}
				continue
			}
			leaves = append(leaves, p)
		}
	}

	addAccount("management", "Root", StatusActive)
	o.ManagementAccountID = o.Accounts[0].ID
	fixed := []struct{ name, ou string }{
		{"log-archive", "Root/Security"}, {"audit", "Root/Security"}, {"security-tooling", "Root/Security"},
		{"network-hub", "Root/Infrastructure"}, {"shared-services", "Root/Infrastructure"}, {"legacy-billing", "Root"},
	}
	made := 0
	for _, f := range fixed {
		if made == n {
			break
		}
		addAccount(f.name, f.ou, StatusActive)
		made++
	}
	nSuspended := n / 50
	nSandbox := n / 10
	for i := 0; made < n; i++ {
		switch {
		case i < nSuspended:
			addAccount(fmt.Sprintf("closed-%03d", i+1), "Root/Suspended", StatusSuspended)
		case i < nSuspended+nSandbox:
			addAccount(fmt.Sprintf("sandbox-%s-%02d", firstNames[i%len(firstNames)], i/len(firstNames)+1), "Root/Sandbox", StatusActive)
		default:
			leaf := leaves[rng.IntN(len(leaves))]
			parts := strings.Split(leaf, "/")
			env := "prod"
			if parts[2] == "NonProd" {
				env = "dev"
			}
			name := fmt.Sprintf("%s-%s-%04d", strings.ToLower(parts[3]), env, i)
			addAccount(name, leaf, StatusActive)
		}
		made++
	}
	o.index()
	return o, leaves
}

// generatedTags derives an account's tags from the seed and its id alone,
// not from the generator that draws the ids, so that the org's ids, OUs and
// rules are those of the seed before accounts had tags. About one account
// in ten has none; a few spell the owner key owner, in lower case, as
// hand-tagged organisations do.
func generatedTags(seed int64, id, name, ouPath string) map[string]string {
	h := fnv.New64a()
	h.Write([]byte(id))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()^0x74616773))
	p := rng.Float64()
	if p < 0.10 {
		return nil
	}
	ownerKey := "Owner"
	if p < 0.14 {
		ownerKey = "owner"
	}
	first := firstNames[rng.IntN(len(firstNames))]
	last := lastNames[rng.IntN(len(lastNames))]
	return map[string]string{ownerKey: first + "." + last + "@example.com", "Team": teamOf(name, ouPath)}
}

// teamOf names the team that owns an account, from where it sits.
func teamOf(name, ouPath string) string {
	parts := strings.Split(ouPath, "/")
	switch {
	case ouPath == "Root" && name == "management":
		return "Cloud Platform"
	case ouPath == "Root":
		return "Finance"
	case parts[1] == "Security":
		return "Security"
	case parts[1] == "Infrastructure":
		return "Platform"
	case parts[1] == "Workloads" && len(parts) > 3:
		return parts[3]
	case parts[1] == "Sandbox":
		return "Sandbox"
	}
	return "Unassigned"
}

// generator derives the rules of one account in one region from the seed,
// the account id and the region alone, so answers are stable whichever order
// accounts are asked in.
type generator struct {
	seed         uint64
	nRules       int
	nonCompliant float64
	catalogue    []ruleDef // org-wide order: every account deploys a prefix of it
	defs         map[string]ruleDef
	cache        *ruleCache
	week         int // of the org's life the rules are derived for; 1 is the first
}

// Deriving an account-region's rules costs tens of microseconds; a scan
// asks for the same account-region a dozen times in a row (one call per rule
// for the details), so a small cache of recent ones spares most of that.
// Bounded so that a 5,000-account scan does not keep the whole org alive.
const (
	cacheShards   = 64
	cachePerShard = 32
)

// ruleCache forgets the account-region it derived first (per shard): a
// scan asks for an account-region over the few seconds its paced calls
// take and then never again, so the oldest entry is the one done with. It
// used to forget an arbitrary entry, which at full size (about a thousand
// account-regions in progress, paced at one Config call per second each)
// dropped an in-progress one on close to half of the insertions, each then
// derived again.
type ruleCache struct {
	shards [cacheShards]ruleCacheShard
}

type ruleCacheShard struct {
	mu sync.Mutex
	m  map[accountRegion][]Rule
	// ring holds the keys of m in the order they were added; once m is
	// full, ring[next] is the oldest, the one the next insertion evicts.
	ring [cachePerShard]accountRegion
	next int
}

// get returns the rules of key, deriving them (outside the shard's lock)
// when they are not cached.
func (c *ruleCache) get(key accountRegion, derive func() []Rule) []Rule {
	sh := &c.shards[fnv32a(key.account, key.region)%cacheShards]
	sh.mu.Lock()
	rules, ok := sh.m[key]
	sh.mu.Unlock()
	if ok {
		return rules
	}
	rules = derive()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if had, ok := sh.m[key]; ok {
		return had // derived meanwhile by another call: keep one copy
	}
	if sh.m == nil {
		sh.m = make(map[accountRegion][]Rule, cachePerShard)
	}
	if len(sh.m) == cachePerShard {
		delete(sh.m, sh.ring[sh.next])
	}
	sh.m[key] = rules
	sh.ring[sh.next] = key
	sh.next = (sh.next + 1) % cachePerShard
	return rules
}

type accountRegion struct{ account, region string }

// fnv32a is hash/fnv's 32-bit FNV-1a of a+"/"+b, without the allocations.
func fnv32a(a, b string) uint32 {
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for i := 0; i < len(a); i++ {
		h ^= uint32(a[i])
		h *= prime32
	}
	h ^= '/'
	h *= prime32
	for i := 0; i < len(b); i++ {
		h ^= uint32(b[i])
		h *= prime32
	}
	return h
}

func (g *generator) cachedRules(a *Account, region string) []Rule {
	return g.cache.get(accountRegion{a.ID, region}, func() []Rule { return g.rules(a, region) })
}

type ruleDef struct {
	name, identifier, resourceType, annotation string
}

func newGenerator(cfg GenConfig, seed uint64) *generator {
	rng := rand.New(rand.NewPCG(seed, 1))
	managed := slices.Clone(managedRules)
	rng.Shuffle(len(managed), func(i, j int) { managed[i], managed[j] = managed[j], managed[i] })
	// Custom rules sit early in the org-wide list so that even small -rules
	// values deploy some.
	var cat []ruleDef
	ci := 0
	for i := 0; len(managed) > 0 || ci < len(customRules); i++ {
		if (i == 2 || i == 7 || i == 15) && ci < len(customRules) {
			cat = append(cat, customRules[ci])
			ci++
			continue
		}
		if len(managed) == 0 {
			cat = append(cat, customRules[ci:]...)
			break
		}
		cat = append(cat, managed[0])
		managed = managed[1:]
	}
	defs := make(map[string]ruleDef, len(cat))
	for _, d := range cat {
		defs[d.name] = d
	}
	return &generator{cache: &ruleCache{}, seed: seed, nRules: cfg.Rules, nonCompliant: cfg.NonCompliant, catalogue: cat, defs: defs, week: 1}
}

// evaluatedAt anchors generated timestamps, so that they do not depend on
// when the simulator starts.
var evaluatedAt = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// rules derives the account's rules in region for the generator's week: the
// rules the account had when it appeared (week 1, or the week it joined),
// then each later week's churn (week.go).
func (g *generator) rules(a *Account, region string) []Rule {
	out := g.firstRules(a, region)
	if g.week > 1 {
		g.advanceRules(out, a, region)
	}
	return out
}

// firstRules derives the rules of the account's first week from the seed,
// the account id and the region alone.
func (g *generator) firstRules(a *Account, region string) []Rule {
	h := fnv.New64a()
	h.Write([]byte(a.ID))
	h.Write([]byte{0})
	h.Write([]byte(region))
	rng := rand.New(rand.NewPCG(g.seed, h.Sum64()))

	n := min(max(g.nRules+rng.IntN(3)-1, 1), len(g.catalogue))
	out := make([]Rule, 0, n)
	for _, def := range g.catalogue[:n] {
		r := Rule{Name: def.name, SourceIdentifier: def.identifier}
		// A rule evaluates each resource once; an account-level rule has a
		// single resource, the account (or its one organisation trail).
		maxK := 6
		if singleton(def.resourceType) {
			maxK = 1
		}
		// A rule has at most 6 results: a slice is cheaper than a set.
		seen := func(id string) bool {
			return slices.ContainsFunc(r.Results, func(x Result) bool { return x.ResourceID == id })
		}
		add := func(c string) {
			res := g.result(rng, a, region, def, c)
			for try := 0; seen(res.ResourceID) && try < 20; try++ {
				res.ResourceID = resourceID(rng, a, region, def.resourceType)
			}
			for i, base := 2, res.ResourceID; seen(res.ResourceID); i++ {
				res.ResourceID = base + "-" + strconv.Itoa(i)
			}
			r.Results = append(r.Results, res)
		}
		p := rng.Float64()
		switch {
		case p < g.nonCompliant:
			k := 1 + rng.IntN(maxK)
			bad := 1 + rng.IntN(k)
			r.Results = make([]Result, 0, k)
			for i := range k {
				c := Compliant
				if i < bad {
					c = NonCompliant
				}
				add(c)
			}
		case p < g.nonCompliant+0.05:
			// INSUFFICIENT_DATA: nothing in scope yet, or only out-of-scope
			// resources.
			n := min(rng.IntN(3), maxK)
			if n > 0 {
				r.Results = make([]Result, 0, n)
			}
			for range n {
				add(NotApplicable)
			}
		default:
			k := 1 + rng.IntN(min(5, maxK))
			r.Results = make([]Result, 0, k)
			for i := range k {
				c := Compliant
				if i > 0 && rng.IntN(6) == 0 {
					c = NotApplicable
				}
				add(c)
			}
		}
		rng.Shuffle(len(r.Results), func(i, j int) { r.Results[i], r.Results[j] = r.Results[j], r.Results[i] })
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y Rule) int { return strings.Compare(x.Name, y.Name) })
	return out
}

func (g *generator) result(rng *rand.Rand, a *Account, region string, def ruleDef, compliance string) Result {
	res := Result{
		ResourceType: def.resourceType,
		ResourceID:   resourceID(rng, a, region, def.resourceType),
		Compliance:   compliance,
		RecordedAt:   evaluatedAt.Add(-time.Duration(rng.IntN(72*3600)) * time.Second),
	}
	if compliance == NonCompliant {
		res.Annotation = def.annotation
	}
	return res
}

func singleton(typ string) bool {
	return typ == "AWS::::Account" || typ == "AWS::CloudTrail::Trail"
}

// randomIDs are the resource types whose id is a fixed prefix and n
// random characters of an alphabet.
var randomIDs = map[string]struct {
	prefix, alphabet string
	n                int
}{
	"AWS::EC2::Instance":      {"i-0", lowerHex, 16},
	"AWS::EC2::SecurityGroup": {"sg-0", lowerHex, 16},
	"AWS::EC2::Volume":        {"vol-0", lowerHex, 16},
	"AWS::EC2::VPC":           {"vpc-0", lowerHex, 16},
	"AWS::IAM::User":          {"AIDA", upperAlnum, 17},
	"AWS::IAM::Role":          {"AROA", upperAlnum, 17},
	"AWS::IAM::Policy":        {"ANPA", upperAlnum, 17},
	"AWS::RDS::DBInstance":    {"db-", upperAlnum, 26},
}

func resourceID(rng *rand.Rand, a *Account, region, typ string) string {
	if f, ok := randomIDs[typ]; ok {
		return f.prefix + randString(rng, f.alphabet, f.n)
	}
	switch typ {
	case "AWS::S3::Bucket":
		return a.Name + "-" + bucketPurposes[rng.IntN(len(bucketPurposes))] + "-" + region
	case "AWS::KMS::Key":
		// One draw after the other, in this order (the ids are pinned).
		p1 := randString(rng, lowerHex, 8)
		p2 := randString(rng, lowerHex, 4)
		p3 := randString(rng, lowerHex, 4)
		p4 := randString(rng, lowerHex, 4)
		return p1 + "-" + p2 + "-" + p3 + "-" + p4 + "-" + randString(rng, lowerHex, 12)
	case "AWS::::Account":
		return a.ID
	case "AWS::Lambda::Function":
		return a.Name + "-" + functionNames[rng.IntN(len(functionNames))]
	case "AWS::DynamoDB::Table":
		prefix, _, _ := strings.Cut(a.Name, "-")
		return prefix + "-" + tableNames[rng.IntN(len(tableNames))]
	case "AWS::CloudTrail::Trail":
		return "organization-trail"
	case "AWS::EKS::Cluster":
		return a.Name + "-eks-" + strconv.Itoa(1+rng.IntN(3))
	case "AWS::ElasticLoadBalancingV2::LoadBalancer":
		return "arn:aws:elasticloadbalancing:" + region + ":" + a.ID + ":loadbalancer/app/" + a.Name + "-alb/" + randString(rng, lowerHex, 16)
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + region + ":" + a.ID + ":" + a.Name + "-alerts"
	default:
		return randString(rng, lowerAlnum, 12)
	}
}

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	lowerHex   = "0123456789abcdef"
)

func randString(rng *rand.Rand, alphabet string, n int) string {
	var buf [32]byte
	b := buf[:0]
	if n > len(buf) {
		b = make([]byte, 0, n)
	}
	b = b[:n]
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// managedRules are real AWS managed rules: name as the console deploys it,
// identifier, the resource type they evaluate, and a plausible annotation.
var managedRules = []ruleDef{
	{"s3-bucket-public-read-prohibited", "S3_BUCKET_PUBLIC_READ_PROHIBITED", "AWS::S3::Bucket", "Bucket ACL or policy allows public read access."},
	{"s3-bucket-public-write-prohibited", "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", "AWS::S3::Bucket", "Bucket ACL or policy allows public write access."},
	{"s3-bucket-server-side-encryption-enabled", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "AWS::S3::Bucket", "Default encryption is not enabled for the bucket."},
	{"s3-bucket-ssl-requests-only", "S3_BUCKET_SSL_REQUESTS_ONLY", "AWS::S3::Bucket", "Bucket policy does not deny requests over plain HTTP."},
	{"s3-bucket-versioning-enabled", "S3_BUCKET_VERSIONING_ENABLED", "AWS::S3::Bucket", "Versioning is suspended or was never enabled."},
	{"s3-bucket-logging-enabled", "S3_BUCKET_LOGGING_ENABLED", "AWS::S3::Bucket", "Server access logging is disabled."},
	{"encrypted-volumes", "ENCRYPTED_VOLUMES", "AWS::EC2::Volume", "The EBS volume is not encrypted."},
	{"ec2-instance-no-public-ip", "EC2_INSTANCE_NO_PUBLIC_IP", "AWS::EC2::Instance", "The instance has a public IPv4 address."},
	{"ec2-imdsv2-check", "EC2_IMDSV2_CHECK", "AWS::EC2::Instance", "HttpTokens is optional: IMDSv1 is still allowed."},
	{"ec2-instance-managed-by-systems-manager", "EC2_INSTANCE_MANAGED_BY_SSM", "AWS::EC2::Instance", "The instance is not managed by AWS Systems Manager."},
	{"restricted-ssh", "INCOMING_SSH_DISABLED", "AWS::EC2::SecurityGroup", "Security group allows 0.0.0.0/0 on port 22."},
	{"restricted-common-ports", "RESTRICTED_INCOMING_TRAFFIC", "AWS::EC2::SecurityGroup", "Security group allows unrestricted traffic on port 3389."},
	{"vpc-default-security-group-closed", "VPC_DEFAULT_SECURITY_GROUP_CLOSED", "AWS::EC2::SecurityGroup", "The default security group has inbound or outbound rules."},
	{"vpc-flow-logs-enabled", "VPC_FLOW_LOGS_ENABLED", "AWS::EC2::VPC", "No flow log is configured for the VPC."},
	{"iam-user-mfa-enabled", "IAM_USER_MFA_ENABLED", "AWS::IAM::User", "The IAM user has no MFA device."},
	{"iam-user-unused-credentials-check", "IAM_USER_UNUSED_CREDENTIALS_CHECK", "AWS::IAM::User", "Access key unused for more than 90 days."},
	{"iam-user-no-policies-check", "IAM_USER_NO_POLICIES_CHECK", "AWS::IAM::User", "Policies are attached directly to the user."},
	{"iam-policy-no-statements-with-admin-access", "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", "AWS::IAM::Policy", "The policy allows \"*\" actions on \"*\" resources."},
	{"iam-role-managed-policy-check", "IAM_ROLE_MANAGED_POLICY_CHECK", "AWS::IAM::Role", "The role has the AdministratorAccess managed policy attached."},
	{"root-account-mfa-enabled", "ROOT_ACCOUNT_MFA_ENABLED", "AWS::::Account", "MFA is not enabled for the root user."},
	{"iam-password-policy", "IAM_PASSWORD_POLICY", "AWS::::Account", "The password policy requires fewer than 14 characters."},
	{"cloudtrail-enabled", "CLOUD_TRAIL_ENABLED", "AWS::::Account", "No trail is logging in this region."},
	{"cloud-trail-log-file-validation-enabled", "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED", "AWS::CloudTrail::Trail", "Log file validation is disabled."},
	{"rds-storage-encrypted", "RDS_STORAGE_ENCRYPTED", "AWS::RDS::DBInstance", "Storage encryption is not enabled for the DB instance."},
	{"rds-instance-public-access-check", "RDS_INSTANCE_PUBLIC_ACCESS_CHECK", "AWS::RDS::DBInstance", "The DB instance is publicly accessible."},
	{"rds-multi-az-support", "RDS_MULTI_AZ_SUPPORT", "AWS::RDS::DBInstance", "The DB instance is not Multi-AZ."},
	{"cmk-backing-key-rotation-enabled", "CMK_BACKING_KEY_ROTATION_ENABLED", "AWS::KMS::Key", "Automatic key rotation is disabled."},
	{"lambda-function-public-access-prohibited", "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED", "AWS::Lambda::Function", "The function policy allows public invocation."},
	{"lambda-inside-vpc", "LAMBDA_INSIDE_VPC", "AWS::Lambda::Function", "The function is not attached to a VPC."},
	{"dynamodb-pitr-enabled", "DYNAMODB_PITR_ENABLED", "AWS::DynamoDB::Table", "Point-in-time recovery is disabled."},
	{"eks-endpoint-no-public-access", "EKS_ENDPOINT_NO_PUBLIC_ACCESS", "AWS::EKS::Cluster", "The cluster endpoint is publicly accessible."},
	{"alb-http-to-https-redirection-check", "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK", "AWS::ElasticLoadBalancingV2::LoadBalancer", "An HTTP listener does not redirect to HTTPS."},
	{"sns-encrypted-kms", "SNS_ENCRYPTED_KMS", "AWS::SNS::Topic", "The topic is not encrypted with AWS KMS."},
}

// customRules are the organisation's own Lambda rules.
var customRules = []ruleDef{
	{"custom-ec2-approved-amis", CustomSource, "AWS::EC2::Instance", "Instance launched from an AMI outside the approved catalogue."},
	{"custom-required-tags-cost-center", CustomSource, "AWS::S3::Bucket", "Missing required tag: cost-center."},
	{"custom-s3-bucket-naming-convention", CustomSource, "AWS::S3::Bucket", "Bucket name does not follow <account>-<purpose>-<region>."},
}

var businessUnits = []string{
	"Payments", "Retail", "Logistics", "Data", "Identity", "Marketing", "Analytics", "Mobile", "Search", "Billing",
	"Risk", "Fraud", "Media", "Platform", "Support", "HR", "Finance", "Legal", "Supply", "Pricing",
	"Catalog", "Checkout", "Loyalty", "Travel", "Insurance", "Lending", "Trading", "Treasury", "Compliance", "Research",
}

var firstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"}

var lastNames = []string{"smith", "garcia", "nguyen", "muller", "rossi", "kowalski", "tanaka", "silva", "novak", "okafor", "larsen", "dubois", "haddad", "kim", "patel", "moreau"}

var bucketPurposes = []string{"logs", "artifacts", "backups", "data", "static-assets", "exports", "terraform-state", "athena-results"}

var functionNames = []string{"ingest", "resize-images", "nightly-report", "webhook", "token-refresh", "cleanup"}

var tableNames = []string{"orders", "sessions", "customers", "ledger", "events"}

func validRegion(r string) bool {
	// e.g. us-east-1, ap-southeast-2, us-gov-west-1, eu-central-2
	parts := strings.Split(r, "-")
	if len(parts) < 3 || len(r) > 25 {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	last := parts[len(parts)-1]
	return last != "" && strings.Trim(last, "0123456789") == ""
}
