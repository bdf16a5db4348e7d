package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/cybsecops/configreport/internal/store/dynamo"
)

// The overlays' settings name the resources hub.yaml creates, with its
// default parameters: a renamed queue or prefix on one side only would deploy
// cleanly and fail at run time, so this test ties the two together.

type hubTemplate struct {
	params    map[string]string // parameter -> default
	resources map[string]map[string]string
}

// loadHub reads the name properties of hub.yaml's resources as written (the
// argument of !Sub, or a literal), and its parameters' defaults.
func loadHub(t *testing.T) hubTemplate {
	t.Helper()
	b, err := os.ReadFile("../cloudformation/hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(n *yaml.Node, key string) *yaml.Node {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	root := doc.Content[0]
	h := hubTemplate{params: map[string]string{}, resources: map[string]map[string]string{}}
	params := get(root, "Parameters")
	for i := 0; params != nil && i+1 < len(params.Content); i += 2 {
		if d := get(params.Content[i+1], "Default"); d != nil {
			h.params[params.Content[i].Value] = d.Value
		}
	}
	res := get(root, "Resources")
	for i := 0; res != nil && i+1 < len(res.Content); i += 2 {
		props := get(res.Content[i+1], "Properties")
		names := map[string]string{}
		for _, k := range []string{"QueueName", "TopicName", "BucketName", "TableName", "RoleName"} {
			if n := get(props, k); n != nil && n.Kind == yaml.ScalarNode {
				names[k] = n.Value
			}
		}
		h.resources[res.Content[i].Value] = names
	}
	return h
}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)\}`)

// name expands a resource's name for an account and region with the
// template's default parameters.
func (h hubTemplate) name(t *testing.T, logicalID, prop, account, region string) string {
	t.Helper()
	raw, ok := h.resources[logicalID][prop]
	if !ok {
		t.Fatalf("hub.yaml: %s has no %s", logicalID, prop)
	}
	return subRef.ReplaceAllStringFunc(raw, func(m string) string {
		switch k := m[2 : len(m)-1]; k {
		case "AWS::AccountId":
			return account
		case "AWS::Region":
			return region
		default:
			v, ok := h.params[k]
			if !ok {
				t.Fatalf("hub.yaml: %s.%s uses ${%s}, which has no default", logicalID, prop, k)
			}
			return v
		}
	})
}

func TestOverlaySettingsNameHubResources(t *testing.T) {
	hub := loadHub(t)
	for _, file := range []string{"prod.yaml", "dev.yaml"} {
		t.Run(file, func(t *testing.T) {
			m, err := parse(read(t, file))
			if err != nil {
				t.Fatal(err)
			}
			one := func(key string) string {
				vals := m.settings(key)
				if len(vals) != 1 {
					t.Fatalf("%s: %d values, want 1", key, len(vals))
				}
				return vals[0]
			}
			mm := queueAccount.FindStringSubmatch(one("SCAN_QUEUE_URL"))
			if mm == nil {
				t.Fatalf("SCAN_QUEUE_URL %q", one("SCAN_QUEUE_URL"))
			}
			account, region := mm[1], one("AWS_REGION")
			queueURL := func(id string) string {
				return "https://sqs." + region + ".amazonaws.com/" + account + "/" + hub.name(t, id, "QueueName", account, region)
			}
			want := map[string]string{
				"SCAN_QUEUE_URL":    queueURL("ScanQueue"),
				"RESULTS_QUEUE_URL": queueURL("ResultsQueue"),
				"POISON_QUEUE_URL":  queueURL("PoisonQueue"),
				"RESULTS_TOPIC_ARN": "arn:aws:sns:" + region + ":" + account + ":" + hub.name(t, "ResultsTopic", "TopicName", account, region),
				"REPORT_BUCKET":     hub.name(t, "ReportBucket", "BucketName", account, region),
				"DYNAMODB_TABLE":    hub.name(t, "RunsTable", "TableName", account, region),
				"REPORT_PREFIX":     hub.params["ReportPrefix"],
				"PAYLOAD_PREFIX":    hub.params["PayloadPrefix"],
				"READ_ROLE_NAME":    "system-config-report-generator-read-role",
			}
			for key, w := range want {
				if got := one(key); got != w {
					t.Errorf("%s = %q, want %q (hub.yaml with default parameters)", key, got, w)
				}
			}
			if org := one("ORG_ROLE_ARN"); !regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/system-config-report-generator-list-org-role$`).MatchString(org) {
				t.Errorf("ORG_ROLE_ARN %q does not name the org-list role", org)
			}
			wantRole := "arn:aws:iam::" + account + ":role/" + hub.name(t, "HubRole", "RoleName", account, region)
			for name, sa := range m.serviceAccounts {
				if got := sa.Annotations[roleAnnotation]; got != wantRole {
					t.Errorf("ServiceAccount %s: %s = %q, want %q", name, roleAnnotation, got, wantRole)
				}
			}
			if !strings.HasSuffix(want["SCAN_QUEUE_URL"], "/config-report-scan") {
				t.Errorf("expanded scan queue URL %q: the template's defaults changed?", want["SCAN_QUEUE_URL"])
			}
		})
	}
}

// hub.yaml's table is the one internal/store/dynamo expects (TableInput, the
// same layout the store creates on emulators).
func TestHubTableMatchesStore(t *testing.T) {
	b, err := os.ReadFile("../cloudformation/hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	type keyElem struct {
		AttributeName string `yaml:"AttributeName"`
		KeyType       string `yaml:"KeyType"`
	}
	var table struct {
		BillingMode          string `yaml:"BillingMode"`
		AttributeDefinitions []struct {
			AttributeName string `yaml:"AttributeName"`
			AttributeType string `yaml:"AttributeType"`
		} `yaml:"AttributeDefinitions"`
		KeySchema              []keyElem `yaml:"KeySchema"`
		GlobalSecondaryIndexes []struct {
			IndexName  string    `yaml:"IndexName"`
			KeySchema  []keyElem `yaml:"KeySchema"`
			Projection struct {
				ProjectionType string `yaml:"ProjectionType"`
			} `yaml:"Projection"`
		} `yaml:"GlobalSecondaryIndexes"`
		TimeToLiveSpecification struct {
			AttributeName string `yaml:"AttributeName"`
			Enabled       bool   `yaml:"Enabled"`
		} `yaml:"TimeToLiveSpecification"`
	}
	var found int
	for _, r := range tpl.Resources {
		if r.Type == "AWS::DynamoDB::Table" {
			found++
			if err := r.Properties.Decode(&table); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found != 1 {
		t.Fatalf("hub.yaml has %d DynamoDB tables, want 1", found)
	}

	want := dynamo.TableInput("x")
	if table.BillingMode != string(want.BillingMode) {
		t.Errorf("BillingMode %q, want %q", table.BillingMode, want.BillingMode)
	}
	var gotAttrs, wantAttrs []string
	for _, a := range table.AttributeDefinitions {
		gotAttrs = append(gotAttrs, a.AttributeName+":"+a.AttributeType)
	}
	for _, a := range want.AttributeDefinitions {
		wantAttrs = append(wantAttrs, *a.AttributeName+":"+string(a.AttributeType))
	}
	if strings.Join(gotAttrs, ",") != strings.Join(wantAttrs, ",") {
		t.Errorf("AttributeDefinitions %v, want %v", gotAttrs, wantAttrs)
	}
	keys := func(ks []keyElem) string {
		var s []string
		for _, k := range ks {
			s = append(s, k.AttributeName+":"+k.KeyType)
		}
		return strings.Join(s, ",")
	}
	wantKeys := func(ks []types.KeySchemaElement) string {
		var s []string
		for _, k := range ks {
			s = append(s, *k.AttributeName+":"+string(k.KeyType))
		}
		return strings.Join(s, ",")
	}
	if keys(table.KeySchema) != wantKeys(want.KeySchema) {
		t.Errorf("KeySchema %s, want %s", keys(table.KeySchema), wantKeys(want.KeySchema))
	}
	if len(table.GlobalSecondaryIndexes) != len(want.GlobalSecondaryIndexes) {
		t.Fatalf("%d GSIs, want %d", len(table.GlobalSecondaryIndexes), len(want.GlobalSecondaryIndexes))
	}
	for i, g := range table.GlobalSecondaryIndexes {
		w := want.GlobalSecondaryIndexes[i]
		if g.IndexName != *w.IndexName || keys(g.KeySchema) != wantKeys(w.KeySchema) || g.Projection.ProjectionType != string(w.Projection.ProjectionType) {
			t.Errorf("GSI %s (%s, %s), want %s (%s, %s)", g.IndexName, keys(g.KeySchema), g.Projection.ProjectionType,
				*w.IndexName, wantKeys(w.KeySchema), w.Projection.ProjectionType)
		}
	}
	if table.TimeToLiveSpecification.AttributeName != dynamo.AttrExpires || !table.TimeToLiveSpecification.Enabled {
		t.Errorf("TTL on %q (enabled %v), want %q", table.TimeToLiveSpecification.AttributeName, table.TimeToLiveSpecification.Enabled, dynamo.AttrExpires)
	}
}
