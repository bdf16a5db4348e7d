package iampolicy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The resource-side controls of the templates (issue 15, item 4), each a
// rule that TestTemplateControlsEachCanFail breaks alone:
//   - the results topic: publish only by the hub role, subscribe only the
//     aggregator's queue, TLS only (every action a topic policy knows);
//   - every queue: TLS only;
//   - KEDA's role reads the scan queue's attributes and nothing else;
//   - s3:ListBucket only under prefixes, KMS only through SQS, SNS and S3;
//   - the table and the bucket survive the stack (DeletionPolicy and
//     UpdateReplacePolicy Retain).
// The trust policies (hub: the ServiceAccounts only; KEDA's: its operator
// only) are TestHubTrustIsTheProjectServiceAccounts and
// TestKedaTrustIsOnlyTheOperator.

// ref names a CloudFormation reference as written: "Ref:X", "GetAtt:X.Arn",
// "Sub:..." or the literal string.
func ref(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			return fmt.Sprint("Ref:", r)
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("GetAtt:%v.%v", g[0], g[1])
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			return "Sub:" + s
		}
	}
	return fmt.Sprintf("%v", v)
}

func refs(v any) []string {
	if l, ok := v.([]any); ok {
		var out []string
		for _, e := range l {
			out = append(out, ref(e))
		}
		return out
	}
	if v == nil {
		return nil
	}
	return []string{ref(v)}
}

func mapAt(v any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

type resource struct {
	id    string
	typ   string
	props map[string]any
	raw   map[string]any
}

func resourcesOf(tpl map[string]any, typ string) []resource {
	var out []resource
	for id, r := range mapAt(tpl, "Resources") {
		m, _ := r.(map[string]any)
		if typ == "" || m["Type"] == typ {
			out = append(out, resource{id, fmt.Sprint(m["Type"]), mapAt(m, "Properties"), m})
		}
	}
	slices.SortFunc(out, func(a, b resource) int { return strings.Compare(a.id, b.id) })
	return out
}

// roleID is the logical id of the role named name, or "".
func roleID(tpl map[string]any, name Role) string {
	for _, r := range resourcesOf(tpl, "AWS::IAM::Role") {
		if r.props["RoleName"] == string(name) {
			return r.id
		}
	}
	return ""
}

// policyOn returns the statements of the resource policies of type typ whose
// listProp (Queues, Topics) names Ref:id, and how many such policies there are.
func policyOn(tpl map[string]any, typ, listProp, id string) ([]map[string]any, int) {
	var sts []map[string]any
	n := 0
	for _, p := range resourcesOf(tpl, typ) {
		if slices.Contains(refs(p.props[listProp]), "Ref:"+id) {
			n++
			sts = append(sts, statements(p.props["PolicyDocument"])...)
		}
	}
	return sts, n
}

// denies reports whether one of sts is a Deny to everyone of every action in
// actions (comma-separated) on resource when condition op key equals want.
func denies(sts []map[string]any, actions, resource, op, key, want string) bool {
	for _, st := range sts {
		if st["Effect"] != "Deny" || st["Principal"] != "*" {
			continue
		}
		all := true
		for _, a := range strings.Split(actions, ",") {
			all = all && slices.Contains(strs(st["Action"]), a)
		}
		if !all {
			continue
		}
		if !slices.Contains(refs(st["Resource"]), resource) {
			continue
		}
		got := mapAt(st, "Condition", op)[key]
		if b, ok := got.(bool); ok {
			got = fmt.Sprint(b)
		}
		if got != nil && ref(got) == want {
			return true
		}
	}
	return false
}

var viaService = regexp.MustCompile(`^Sub:(sqs|sns|s3)\.\$\{AWS::Region\}\.amazonaws\.com$`)

// templateControls returns every control a template lacks, sorted.
func templateControls(tpl map[string]any) []string {
	var v []string
	add := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }

	for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::S3::Bucket"} {
		for _, r := range resourcesOf(tpl, typ) {
			if r.raw["DeletionPolicy"] != "Retain" || r.raw["UpdateReplacePolicy"] != "Retain" {
				add("%s: DeletionPolicy and UpdateReplacePolicy must both be Retain (got %v, %v)", r.id, r.raw["DeletionPolicy"], r.raw["UpdateReplacePolicy"])
			}
		}
	}

	for _, q := range resourcesOf(tpl, "AWS::SQS::Queue") {
		sts, n := policyOn(tpl, "AWS::SQS::QueuePolicy", "Queues", q.id)
		switch {
		case n > 1:
			add("%s: %d queue policies; a queue keeps only one", q.id, n)
		case !denies(sts, "sqs:*", "GetAtt:"+q.id+".Arn", "Bool", "aws:SecureTransport", "false"):
			add("%s: no queue policy denies sqs:* without TLS (aws:SecureTransport false)", q.id)
		}
	}

	hub := roleID(tpl, Hub)
	for _, topic := range resourcesOf(tpl, "AWS::SNS::Topic") {
		sts, n := policyOn(tpl, "AWS::SNS::TopicPolicy", "Topics", topic.id)
		if n != 1 {
			add("%s: %d topic policies, want 1", topic.id, n)
			continue
		}
		res := "Ref:" + topic.id
		if !denies(sts, "sns:Publish,sns:Subscribe", res, "Bool", "aws:SecureTransport", "false") {
			add("%s: topic policy does not deny sns:Publish and sns:Subscribe without TLS (aws:SecureTransport false)", topic.id)
		}
		if hub == "" || !denies(sts, "sns:Publish", res, "ArnNotEquals", "aws:PrincipalArn", "GetAtt:"+hub+".Arn") {
			add("%s: topic policy does not deny sns:Publish to every principal but the hub role (ArnNotEquals aws:PrincipalArn)", topic.id)
		}
		var endpoints []string
		for _, s := range resourcesOf(tpl, "AWS::SNS::Subscription") {
			if ref(s.props["TopicArn"]) == res {
				endpoints = append(endpoints, ref(s.props["Endpoint"]))
			}
		}
		if len(endpoints) != 1 || !denies(sts, "sns:Subscribe", res, "StringNotEquals", "sns:Endpoint", endpoints[0]) {
			add("%s: topic policy does not deny sns:Subscribe for any endpoint but its one subscription %v (StringNotEquals sns:Endpoint)", topic.id, endpoints)
		}
		for _, st := range sts {
			if st["Effect"] == "Allow" {
				add("%s: topic policy statement %v allows: the topic policy only narrows", topic.id, st["Sid"])
			}
		}
	}

	for _, r := range resourcesOf(tpl, "AWS::IAM::Role") {
		name := r.props["RoleName"]
		for _, st := range statements(r.props["Policies"]) {
			if st["Effect"] != "Allow" {
				continue
			}
			acts := strs(st["Action"])
			if slices.Contains(acts, "s3:ListBucket") {
				prefixes := refs(mapAt(st, "Condition", "StringLike")["s3:prefix"])
				ok := len(prefixes) > 0
				for _, p := range prefixes {
					p = strings.TrimPrefix(p, "Sub:")
					if !strings.HasSuffix(p, "/*") || strings.TrimSuffix(p, "/*") == "" || strings.Contains(strings.TrimSuffix(p, "/*"), "*") {
						ok = false
					}
				}
				if !ok {
					add("%s: s3:ListBucket is not limited to key prefixes (StringLike s3:prefix \"<prefix>/*\"): %v", name, prefixes)
				}
			}
			if slices.ContainsFunc(acts, func(a string) bool { return strings.HasPrefix(a, "kms:") }) {
				via := refs(mapAt(st, "Condition", "StringEquals")["kms:ViaService"])
				ok := len(via) > 0
				for _, s := range via {
					ok = ok && viaService.MatchString(s)
				}
				if !ok {
					add("%s: KMS actions are not limited to SQS, SNS and S3 in this region (StringEquals kms:ViaService): %v", name, via)
				}
			}
		}
	}

	if id := roleID(tpl, Keda); id != "" {
		var scan string
		for _, q := range resourcesOf(tpl, "AWS::SQS::Queue") {
			if strings.HasSuffix(ref(q.props["QueueName"]), "-scan") {
				scan = "GetAtt:" + q.id + ".Arn"
			}
		}
		sts := statements(mapAt(tpl, "Resources", id, "Properties")["Policies"])
		for _, st := range sts {
			if st["Effect"] == "Allow" && !slices.Equal(refs(st["Resource"]), []string{scan}) {
				add("%s: statement %v reaches %v, want only the scan queue %s", Keda, st["Sid"], refs(st["Resource"]), scan)
			}
		}
		if len(sts) == 0 {
			add("%s: no statements", Keda)
		}
	}
	slices.Sort(v)
	return slices.Compact(v)
}

func TestTemplatesHaveControls(t *testing.T) {
	for file, tpl := range templates(t) {
		if got := templateControls(tpl); len(got) != 0 {
			t.Errorf("%s:\n%s", file, strings.Join(got, "\n"))
		}
	}
}

// Each control, removed alone from hub.yaml, is reported.
func TestTemplateControlsEachCanFail(t *testing.T) {
	res := func(tpl map[string]any, id string) map[string]any {
		r := mapAt(tpl, "Resources", id)
		if r == nil {
			t.Fatalf("hub.yaml has no %s", id)
		}
		return r
	}
	props := func(tpl map[string]any, id string) map[string]any { return mapAt(res(tpl, id), "Properties") }
	// stmt returns the statement with Sid sid in a resource's policy document
	// or inline role policies.
	stmt := func(tpl map[string]any, id, sid string) map[string]any {
		p := props(tpl, id)
		for _, st := range append(statements(p["PolicyDocument"]), statements(p["Policies"])...) {
			if st["Sid"] == sid {
				return st
			}
		}
		t.Fatalf("%s has no statement %s", id, sid)
		return nil
	}
	tests := []struct {
		name   string
		mutate func(tpl map[string]any)
		want   string
	}{
		{"no topic policy", func(tpl map[string]any) {
			delete(mapAt(tpl, "Resources"), "ResultsTopicPolicy")
		}, "ResultsTopic: 0 topic policies, want 1"},
		{"anyone publishes", func(tpl map[string]any) {
			delete(stmt(tpl, "ResultsTopicPolicy", "PublishOnlyByHubRole"), "Condition")
		}, "ResultsTopic: topic policy does not deny sns:Publish to every principal but the hub role"},
		{"publish allowed to another role", func(tpl map[string]any) {
			mapAt(stmt(tpl, "ResultsTopicPolicy", "PublishOnlyByHubRole"), "Condition", "ArnNotEquals")["aws:PrincipalArn"] = map[string]any{"Fn::GetAtt": []any{"KedaRole", "Arn"}}
		}, "ResultsTopic: topic policy does not deny sns:Publish to every principal but the hub role"},
		{"anyone subscribes", func(tpl map[string]any) {
			stmt(tpl, "ResultsTopicPolicy", "SubscribeOnlyTheAggregatorQueue")["Effect"] = "Allow"
		}, "ResultsTopic: topic policy does not deny sns:Subscribe for any endpoint but its one subscription [GetAtt:ResultsQueue.Arn]"},
		{"topic over plain HTTP", func(tpl map[string]any) {
			stmt(tpl, "ResultsTopicPolicy", "DenyInsecureTransport")["Action"] = "sns:Publish"
		}, "ResultsTopic: topic policy does not deny sns:Publish and sns:Subscribe without TLS"},
		{"scan queue over plain HTTP", func(tpl map[string]any) {
			delete(mapAt(tpl, "Resources"), "ScanQueuePolicy")
		}, "ScanQueue: no queue policy denies sqs:* without TLS"},
		{"results queue over plain HTTP", func(tpl map[string]any) {
			mapAt(stmt(tpl, "ResultsQueuePolicy", "DenyInsecureTransport"), "Condition", "Bool")["aws:SecureTransport"] = "true"
		}, "ResultsQueue: no queue policy denies sqs:* without TLS"},
		{"DLQ TLS deny on another queue", func(tpl map[string]any) {
			stmt(tpl, "ScanDeadLetterQueuePolicy", "DenyInsecureTransport")["Resource"] = map[string]any{"Fn::GetAtt": []any{"ScanQueue", "Arn"}}
		}, "ScanDeadLetterQueue: no queue policy denies sqs:* without TLS"},
		{"table deleted with the stack", func(tpl map[string]any) {
			delete(res(tpl, "RunsTable"), "DeletionPolicy")
		}, "RunsTable: DeletionPolicy and UpdateReplacePolicy must both be Retain (got <nil>, Retain)"},
		{"bucket replaced", func(tpl map[string]any) {
			res(tpl, "ReportBucket")["UpdateReplacePolicy"] = "Delete"
		}, "ReportBucket: DeletionPolicy and UpdateReplacePolicy must both be Retain (got Retain, Delete)"},
		{"list the whole bucket", func(tpl map[string]any) {
			delete(stmt(tpl, "HubRole", "MissingKeysAreNotFound"), "Condition")
		}, "system-config-report-generator-write-role: s3:ListBucket is not limited to key prefixes"},
		{"list under any prefix", func(tpl map[string]any) {
			mapAt(stmt(tpl, "HubRole", "MissingKeysAreNotFound"), "Condition", "StringLike")["s3:prefix"] = []any{"reports/*", "*"}
		}, "system-config-report-generator-write-role: s3:ListBucket is not limited to key prefixes"},
		{"KMS directly", func(tpl map[string]any) {
			delete(stmt(tpl, "HubRole", "EncryptedQueuesTopicAndObjects"), "Condition")
		}, "system-config-report-generator-write-role: KMS actions are not limited to SQS, SNS and S3 in this region"},
		{"KMS through another service", func(tpl map[string]any) {
			mapAt(stmt(tpl, "HubRole", "EncryptedQueuesTopicAndObjects"), "Condition", "StringEquals")["kms:ViaService"] = []any{map[string]any{"Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}}
		}, "system-config-report-generator-write-role: KMS actions are not limited to SQS, SNS and S3 in this region"},
		{"KEDA reads another queue", func(tpl map[string]any) {
			stmt(tpl, "KedaRole", "ReadScanQueueDepth")["Resource"] = map[string]any{"Fn::GetAtt": []any{"ResultsQueue", "Arn"}}
		}, "system-config-report-generator-keda-role: statement ReadScanQueueDepth reaches [GetAtt:ResultsQueue.Arn], want only the scan queue GetAtt:ScanQueue.Arn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := loadTemplate(t, filepath.Join(cfnDir, "hub.yaml"))
			tt.mutate(tpl)
			got := templateControls(tpl)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tt.want) }) {
				t.Errorf("want %q among:\n%s", tt.want, strings.Join(got, "\n"))
			}
		})
	}
}
