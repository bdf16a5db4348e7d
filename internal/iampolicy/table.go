// Package iampolicy is the one place the code declares which AWS API actions it
// may call, per IAM role, each with the reason it is needed.
//
// Three consumers read the table so that none of them can drift from the code:
//   - the CloudFormation templates under deploy/cloudformation grant exactly
//     these actions (a test in this package parses them and compares both ways);
//   - the end-to-end test installs a Recorder on every SDK client and checks that
//     every operation actually sent maps to a declared action (Undeclared) and
//     that every action declared for an SDK call was exercised (Unexercised);
//   - docs/DEPLOY.md points here for the reasons.
//
// It is not an IAM policy generator and makes no AWS calls: resource scoping
// (which queue, which bucket prefix) lives in the templates, next to the resources.
//
// To amend: add or remove a row in table below, then update the policy of the
// same role in deploy/cloudformation; TestTemplatesMatchTable says where they differ.
package iampolicy

import (
	"slices"
)

// Role is an IAM role of the project, by its name in every account.
type Role string

const (
	// Hub is the role every service runs as through IRSA, in the hub account.
	Hub Role = "system-config-report-generator-write-role"
	// OrgList is assumed from Hub in the management account to read the organisation.
	OrgList Role = "system-config-report-generator-list-org-role"
	// Read is assumed from Hub in every member account (and the management
	// account) to read AWS Config.
	Read Role = "system-config-report-generator-read-role"
	// Keda is KEDA's operator's own role in the hub account (IRSA, named by
	// the scanner TriggerAuthentication's podIdentity.roleArn): it reads the
	// scan queue's depth and nothing else. The hub role does not trust KEDA.
	Keda Role = "system-config-report-generator-keda-role"
)

// Component is a caller of an action: one of the binaries, or KEDA's scaler.
type Component string

const (
	Trigger    Component = "trigger"
	Scanner    Component = "scanner"
	Aggregator Component = "aggregator"
	// KEDA's aws-sqs-queue scaler polls the scan queue's depth with the Keda
	// role (TriggerAuthentication with pod identity and roleArn).
	KEDA Component = "keda"
)

// Permission is one IAM action granted to one role.
type Permission struct {
	Role Role
	// Action is the IAM action, "<iam prefix>:<Operation>".
	Action string
	// Callers are the components that need it.
	Callers []Component
	// Implied marks an action our code never sends as an SDK operation: one AWS
	// performs on our behalf (KMS for encrypted queues, topics and objects) or
	// another caller's (KEDA's scaler). The Recorder cannot see these, so
	// Unexercised does not expect them.
	Implied bool
	// Reason says why the action is needed, for the policy's reviewer.
	Reason string
}

// table is the source of truth. Keep rows grouped by role, then by service.
var table = []Permission{
	// Hub role: STS role chaining.
	{Hub, "sts:AssumeRole", []Component{Trigger, Scanner}, false,
		"assume the org-list role in the management account (trigger walks the OU tree; scanner names ad-hoc accounts) and the read role in every scanned account"},

	// Hub role: SQS. Queue URLs come from configuration; nothing is created in production.
	// IAM has no batch actions for SQS: SendMessageBatch is authorised as
	// sqs:SendMessage (see renamed in recorder.go), and so on.
	{Hub, "sqs:SendMessage", []Component{Trigger, Scanner, Aggregator}, false,
		"publish one ScanRequested per account to the scan queue (SendMessageBatch, 10 a call); send undecodable or unknown events to the poison queue with their reason"},
	{Hub, "sqs:ReceiveMessage", []Component{Scanner, Aggregator}, false,
		"consume the scan queue (scanner) and the results subscription queue (aggregator)"},
	{Hub, "sqs:DeleteMessage", []Component{Scanner, Aggregator}, false,
		"acknowledge a message once its result is published or its event recorded"},
	{Hub, "sqs:ChangeMessageVisibility", []Component{Scanner, Aggregator}, false,
		"release a message abandoned at shutdown (visibility 0) so that a running replica takes it at once instead of after the visibility timeout (internal/msg Settle); a nack while running is not released"},
	{Hub, "sqs:GetQueueUrl", []Component{Trigger, Scanner, Aggregator}, false,
		"internal/msg resolves a queue configured by name rather than URL (the manifests give URLs, so production normally skips it)"},

	// Hub role: SNS.
	{Hub, "sns:Publish", []Component{Trigger, Scanner}, false,
		"publish RunStarted (trigger) and AccountScanned (scanner) to the results topic"},

	// Hub role: S3 (report bucket: reports under REPORT_PREFIX, claim-check payloads under PAYLOAD_PREFIX).
	{Hub, "s3:PutObject", []Component{Trigger, Scanner, Aggregator}, false,
		"upload the .xlsx report, and claim-check payloads of events over SNS/SQS's 256 KiB limit"},
	{Hub, "s3:GetObject", []Component{Scanner, Aggregator}, false,
		"read a claim-check payload back when an event carries only payload_ref (GetObject), or check that an object exists (HeadObject, which IAM authorises as s3:GetObject)"},
	{Hub, "s3:ListBucket", []Component{Scanner, Aggregator}, true,
		"S3 answers a missing key with 404 NoSuchKey only to a caller allowed to list the bucket, otherwise with 403 AccessDenied: without it a missing claim check or report would look like a permission error, not not-found"},

	// Hub role: DynamoDB dedupe store.
	// Hub role: DynamoDB dedupe store (internal/store/dynamo; table and its
	// queue-index GSI from hub.yaml).
	{Hub, "dynamodb:PutItem", []Component{Aggregator}, false,
		"record an event keyed by (run id, account id), first write wins (conditional put), in gzip chunks under the 400 KB item limit"},
	{Hub, "dynamodb:GetItem", []Component{Aggregator}, false,
		"read a run's state: expected accounts, deadline, emission claim (consistent reads)"},
	{Hub, "dynamodb:UpdateItem", []Component{Aggregator}, false,
		"take or renew the emission lease, mark the run emitted, store the Jira key (conditional updates)"},
	{Hub, "dynamodb:DeleteItem", []Component{Aggregator}, false,
		"delete the chunk a losing concurrent writer left behind (TTL would, later)"},
	{Hub, "dynamodb:Query", []Component{Aggregator}, false,
		"read a run's recorded accounts and chunks to render the report; list pending and unticketed runs on the queue-index GSI"},

	// Hub role: KMS, implied by SSE-KMS on the queues, topic and bucket.
	{Hub, "kms:GenerateDataKey", []Component{Trigger, Scanner, Aggregator}, true,
		"SQS SendMessage, SNS Publish and S3 PutObject ask KMS for a data key when the queue, topic or bucket uses SSE-KMS"},
	{Hub, "kms:Decrypt", []Component{Trigger, Scanner, Aggregator}, true,
		"SQS ReceiveMessage and S3 GetObject decrypt the data key of SSE-KMS queues and objects; SQS SendMessage and SNS Publish to an SSE-KMS queue or topic need it too, as AWS documents for encrypted senders"},

	// KEDA role (hub account): the scaler's only permission.
	{Keda, "sqs:GetQueueAttributes", []Component{KEDA}, true,
		"KEDA's aws-sqs-queue scaler reads the scan queue's ApproximateNumberOfMessages (visible and in flight) to size the scanners"},

	// Org-list role (management account): Organizations read APIs.
	{OrgList, "organizations:ListRoots", []Component{Trigger}, false,
		"find the root to start the OU walk from"},
	{OrgList, "organizations:ListOrganizationalUnitsForParent", []Component{Trigger}, false,
		"walk the OU tree, every page"},
	{OrgList, "organizations:ListAccountsForParent", []Component{Trigger}, false,
		"list the accounts of each OU, every page, keeping ACTIVE ones"},
	{OrgList, "organizations:ListTagsForResource", []Component{Trigger, Scanner}, false,
		"read each ACTIVE account's tags once a run, every page, for the report's owner columns (-owner-tags; not called when it is empty): the trigger during the OU walk, the scanner for an ad-hoc account"},
	{OrgList, "organizations:DescribeAccount", []Component{Scanner}, false,
		"name the account of a hand-written ad-hoc scan message"},
	{OrgList, "organizations:ListParents", []Component{Scanner}, false,
		"build the OU path of an ad-hoc account, up to the root"},
	{OrgList, "organizations:DescribeOrganizationalUnit", []Component{Scanner}, false,
		"name each OU on an ad-hoc account's path"},

	// Read role (every account): AWS Config read APIs.
	{Read, "config:DescribeConfigRules", []Component{Scanner}, false,
		"list the account's Config rules in each region, every page"},
	{Read, "config:DescribeComplianceByConfigRule", []Component{Scanner}, false,
		"read each rule's compliance in each region, every page"},
	{Read, "config:GetComplianceDetailsByConfigRule", []Component{Scanner}, false,
		"list the non-compliant resources of each non-compliant rule, every page"},
	{Read, "config:DescribeConfigurationRecorderStatus", []Component{Scanner}, false,
		"see whether Config is recording in each scanned region: a missing or stopped recorder makes the account PARTIAL (its rules are the last known state)"},

	// Read role (every account): EC2, which regions the account has enabled.
	{Read, "ec2:DescribeRegions", []Component{Scanner}, false,
		"ask once per account which opt-in regions it has enabled (AllRegions): a configured region it has not enabled is skipped, not an error"},
}

// createOnly are the actions the code sends only with -create-resources
// (emulators, local runs). Production creates nothing at run time (queues,
// topic, subscription, bucket and table come from CloudFormation), so these
// are deliberately NOT granted; Undeclared accepts them only when asked to.
var createOnly = map[string]string{
	"sqs:CreateQueue":             "create a queue that does not exist (watermill-aws without DoNotCreateQueueIfNotExists)",
	"sqs:SetQueueAttributes":      "set the subscription queue's policy letting SNS deliver to it",
	"sqs:GetQueueAttributes":      "read a created queue's ARN to subscribe it and to name it in its policy (in production only KEDA's role reads the scan queue's attributes)",
	"sns:CreateTopic":             "create the results topic",
	"sns:Subscribe":               "subscribe the aggregator's queue to the results topic",
	"s3:CreateBucket":             "create the report bucket",
	"dynamodb:CreateTable":        "create the dedupe table",
	"dynamodb:DescribeTable":      "wait until the created table is ACTIVE",
	"dynamodb:DescribeTimeToLive": "see whether TTL is already on",
	"dynamodb:UpdateTimeToLive":   "turn TTL on for the created table",
}

// noPermission are actions AWS allows to every identity: no policy can grant or
// deny them, so they are neither in the table nor in the templates.
var noPermission = map[string]string{
	"sts:GetCallerIdentity": "AWS answers it for any valid credentials; IAM policies do not apply",
	// The IRSA credential provider sends it with the pod's projected token.
	"sts:AssumeRoleWithWebIdentity": "authorised by the hub role's trust policy (the cluster's OIDC provider and ServiceAccount subjects), not by an identity policy",
}

// Actions returns the sorted actions declared for role.
func Actions(role Role) []string {
	var out []string
	for _, p := range table {
		if p.Role == role {
			out = append(out, p.Action)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Lookup returns the permission declaring action, whichever role holds it.
// Every action belongs to exactly one role (the hub never reads Config or
// Organizations itself), which TestActionsBelongToOneRole keeps true. An
// action of the Keda role is KEDA's, never the services': Undeclared does
// not count it as theirs.
func Lookup(action string) (Permission, bool) {
	for _, p := range table {
		if p.Action == action {
			p.Callers = slices.Clone(p.Callers)
			return p, true
		}
	}
	return Permission{}, false
}

// Undeclared returns, sorted, the actions in sent that the table does not
// declare for a role the services run as (the Keda role is KEDA's). Actions AWS allows to everyone are never undeclared; create-only
// actions are accepted when createResources is true (an emulator run).
func Undeclared(sent []string, createResources bool) []string {
	var out []string
	for _, a := range sent {
		if p, ok := Lookup(a); ok && p.Role != Keda {
			continue
		}
		if _, ok := noPermission[a]; ok {
			continue
		}
		if _, ok := createOnly[a]; ok && createResources {
			continue
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Unexercised returns, sorted, the declared actions our code sends as SDK
// operations (not Implied) that are missing from sent: either the run did not
// reach that code path or the row is stale.
func Unexercised(sent []string) []string {
	seen := make(map[string]bool, len(sent))
	for _, a := range sent {
		seen[a] = true
	}
	var out []string
	for _, p := range table {
		if !p.Implied && !seen[p.Action] {
			out = append(out, p.Action)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
