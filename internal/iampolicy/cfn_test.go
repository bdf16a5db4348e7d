package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The CloudFormation templates must grant each role exactly the table's
// actions: nothing the code does not call, nothing it calls missing.

const cfnDir = "../../deploy/cloudformation"

// cfnValue converts a YAML node to plain Go values, turning CloudFormation's
// short-form tags into their long form: !Ref x -> {"Ref": x},
// !GetAtt a.b -> {"Fn::GetAtt": [a, b]}, !Sub s -> {"Fn::Sub": s}, etc.
func cfnValue(n *yaml.Node) (any, error) {
	// yaml.v3 reports resolved standard tags as "!!str", "!!map", ...; a
	// CloudFormation function is a local tag with a single "!".
	custom := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if custom {
			v = n.Value // the argument of a short-form function is taken as written
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !custom {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

func loadTemplate(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := cfnValue(&doc)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok || m["Resources"] == nil {
		t.Fatalf("%s: not a CloudFormation template", path)
	}
	return m
}

func templates(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cfnDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in %s (%v)", cfnDir, err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		out[filepath.Base(f)] = loadTemplate(t, f)
	}
	return out
}

// statements finds every IAM statement (a map with an Effect) in v, in both
// branches of any Fn::If: the check is against the widest the policy can be.
func statements(v any) []map[string]any {
	var out []map[string]any
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["Effect"]; ok {
			return []map[string]any{x}
		}
		for _, c := range x {
			out = append(out, statements(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, statements(c)...)
		}
	}
	return out
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, strs(e)...)
		}
		return out
	}
	return nil
}

// grant is what a template gives one role.
type grant struct {
	file       string
	logicalID  string
	actions    []string
	statements []map[string]any
	trust      any
}

// grants collects, per role name, the actions of its inline policies and of
// any AWS::IAM::Policy or ManagedPolicy attached to it.
func grants(t *testing.T) map[Role][]grant {
	t.Helper()
	out := map[Role][]grant{}
	for file, tpl := range templates(t) {
		res := tpl["Resources"].(map[string]any)
		byID := map[string]*grant{}
		names := map[string]Role{}
		for id, r := range res {
			r := r.(map[string]any)
			if r["Type"] != "AWS::IAM::Role" {
				continue
			}
			props, _ := r["Properties"].(map[string]any)
			name, ok := props["RoleName"].(string)
			if !ok {
				t.Errorf("%s: %s: RoleName must be a literal, so the role can be followed by name", file, id)
				continue
			}
			byID[id] = &grant{file: file, logicalID: id, trust: props["AssumeRolePolicyDocument"], statements: statements(props["Policies"])}
			names[id] = Role(name)
		}
		for id, r := range res {
			r := r.(map[string]any)
			typ := r["Type"]
			if typ != "AWS::IAM::Policy" && typ != "AWS::IAM::ManagedPolicy" {
				continue
			}
			props, _ := r["Properties"].(map[string]any)
			roles, _ := props["Roles"].([]any)
			if len(roles) == 0 {
				t.Errorf("%s: %s attaches to no role of this template", file, id)
			}
			for _, ref := range roles {
				m, _ := ref.(map[string]any)
				g, ok := byID[fmt.Sprint(m["Ref"])]
				if !ok {
					t.Errorf("%s: %s attaches to %v, not a role of this template", file, id, ref)
					continue
				}
				g.statements = append(g.statements, statements(props["PolicyDocument"])...)
			}
		}
		for id, g := range byID {
			for _, st := range g.statements {
				if st["Effect"] != "Allow" {
					continue
				}
				g.actions = append(g.actions, strs(st["Action"])...)
			}
			slices.Sort(g.actions)
			g.actions = slices.Compact(g.actions)
			out[names[id]] = append(out[names[id]], *g)
		}
	}
	return out
}

func TestTemplatesMatchTable(t *testing.T) {
	got := grants(t)
	for _, role := range Roles() {
		gs := got[role]
		if len(gs) != 1 {
			t.Errorf("%s: defined by %d templates, want exactly 1 (the StackSet deploys read-role.yaml by URL)", role, len(gs))
			continue
		}
		g := gs[0]
		want := Actions(role)
		var extra, missing []string
		for _, a := range g.actions {
			if !slices.Contains(want, a) {
				extra = append(extra, a)
			}
		}
		for _, a := range want {
			if !slices.Contains(g.actions, a) {
				missing = append(missing, a)
			}
		}
		if len(extra) > 0 {
			t.Errorf("%s (%s): grants actions the table does not declare: %v", role, g.file, extra)
		}
		if len(missing) > 0 {
			t.Errorf("%s (%s): does not grant declared actions: %v", role, g.file, missing)
		}
	}
	for role := range got {
		if !slices.Contains(Roles(), role) {
			t.Errorf("templates define role %q, which the table does not know", role)
		}
	}
}

func TestTemplatesGrantNoWildcards(t *testing.T) {
	for role, gs := range grants(t) {
		for _, g := range gs {
			for _, st := range g.statements {
				for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
					if _, ok := st[k]; ok && st["Effect"] == "Allow" {
						t.Errorf("%s (%s): Allow with %s grants everything else", role, g.file, k)
					}
				}
				if st["Action"] == nil {
					t.Errorf("%s (%s): statement %v has no Action", role, g.file, st["Sid"])
				}
				for _, a := range strs(st["Action"]) {
					if strings.ContainsAny(a, "*?") {
						t.Errorf("%s (%s): wildcard action %q", role, g.file, a)
					}
				}
				// The hub's statements are all scoped to this project's
				// resources; only Organizations and Config reads take "*".
				if role == Hub && slices.Contains(strs(st["Resource"]), "*") {
					t.Errorf("%s (%s): statement %v on Resource \"*\"", role, g.file, st["Sid"])
				}
			}
		}
	}
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// irsaSubjects checks that a trust policy (a !Sub JSON document) is one
// AssumeRoleWithWebIdentity statement through the cluster's OIDC provider for
// the sts.amazonaws.com audience, and returns the ServiceAccount subjects it
// trusts, with the template's ${Var} written <Var>.
func irsaSubjects(trust any) ([]string, error) {
	m, _ := trust.(map[string]any)
	sub, ok := m["Fn::Sub"].(string)
	if !ok {
		return nil, fmt.Errorf("trust policy is not a !Sub JSON document: %#v", trust)
	}
	doc := subVar.ReplaceAllStringFunc(sub, func(m string) string {
		return "<" + strings.TrimSuffix(strings.TrimPrefix(m, "${"), "}") + ">"
	})
	var policy struct {
		Statement []struct {
			Effect    string
			Principal map[string]string
			Action    any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &policy); err != nil {
		return nil, fmt.Errorf("trust policy is not JSON: %v\n%s", err, doc)
	}
	if len(policy.Statement) != 1 {
		return nil, fmt.Errorf("trust: %d statements, want 1", len(policy.Statement))
	}
	st := policy.Statement[0]
	if st.Effect != "Allow" || !strings.HasSuffix(st.Principal["Federated"], ":oidc-provider/<OidcProvider>") ||
		!slices.Equal(strs(st.Action), []string{"sts:AssumeRoleWithWebIdentity"}) {
		return nil, fmt.Errorf("trust statement: %+v", st)
	}
	eq := st.Condition["StringEquals"]
	if eq["<OidcProvider>:aud"] != "sts.amazonaws.com" {
		return nil, fmt.Errorf("trust: aud condition %v", eq["<OidcProvider>:aud"])
	}
	if len(st.Condition) != 1 {
		return nil, fmt.Errorf("trust: unexpected condition operators %v", st.Condition)
	}
	subjects := strs(eq["<OidcProvider>:sub"])
	slices.Sort(subjects)
	return subjects, nil
}

func trustOf(t *testing.T, role Role) any {
	t.Helper()
	gs := grants(t)[role]
	if len(gs) != 1 {
		t.Fatalf("%s defined %d times", role, len(gs))
	}
	return gs[0].trust
}

// The hub role trusts exactly the project's ServiceAccounts (as named in the
// kustomize base), through the cluster's OIDC provider: not KEDA's operator,
// which has its own role.
func TestHubTrustIsTheProjectServiceAccounts(t *testing.T) {
	subjects, err := irsaSubjects(trustOf(t, Hub))
	if err != nil {
		t.Fatalf("hub: %v", err)
	}
	var want []string
	for _, sa := range baseServiceAccounts(t) {
		want = append(want, "system:serviceaccount:<Namespace>:"+sa)
	}
	slices.Sort(want)
	if !slices.Equal(subjects, want) {
		t.Errorf("hub trust subjects = %v, want %v", subjects, want)
	}
}

// KEDA's role trusts KEDA's operator and nothing else.
func TestKedaTrustIsOnlyTheOperator(t *testing.T) {
	subjects, err := irsaSubjects(trustOf(t, Keda))
	if err != nil {
		t.Fatalf("keda: %v", err)
	}
	if !slices.Equal(subjects, []string{"<KedaOperatorSubject>"}) {
		t.Errorf("keda trust subjects = %v, want [<KedaOperatorSubject>]", subjects)
	}
}

// irsaSubjects rejects what a looser trust policy would let in.
func TestIrsaSubjects(t *testing.T) {
	ok := `{"Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/${OidcProvider}"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"${OidcProvider}:aud":"sts.amazonaws.com","${OidcProvider}:sub":["b","a"]}}}]}`
	tests := []struct {
		name, doc, wantErr string
	}{
		{"ok", ok, ""},
		{"any audience", strings.Replace(ok, `"${OidcProvider}:aud":"sts.amazonaws.com",`, "", 1), "aud condition"},
		{"StringLike too", strings.Replace(ok, `}}}]}`, `},"StringLike":{"${OidcProvider}:sub":"*"}}}]}`, 1), "unexpected condition operators"},
		{"another principal", strings.Replace(ok, `"Federated":`, `"AWS":`, 1), "trust statement"},
		{"two statements", strings.Replace(ok, `}]}`, `},{"Effect":"Allow"}]}`, 1), "2 statements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := irsaSubjects(map[string]any{"Fn::Sub": tt.doc})
			switch {
			case tt.wantErr == "" && (err != nil || !slices.Equal(got, []string{"a", "b"})):
				t.Errorf("got %v, %v", got, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// baseServiceAccounts reads the ServiceAccount names of the kustomize base,
// so the trust policy and the manifests cannot drift apart.
func baseServiceAccounts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/kustomize/base/serviceaccounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var names []string
	for {
		var sa struct {
			Kind     string
			Metadata struct {
				Name        string
				Annotations map[string]string
			}
		}
		if err := dec.Decode(&sa); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if sa.Kind != "ServiceAccount" {
			continue
		}
		if !strings.HasSuffix(sa.Metadata.Annotations["eks.amazonaws.com/role-arn"], ":role/"+string(Hub)) {
			t.Errorf("ServiceAccount %s is not annotated with the hub role", sa.Metadata.Name)
		}
		names = append(names, sa.Metadata.Name)
	}
	if len(names) == 0 {
		t.Fatal("no ServiceAccounts in the kustomize base")
	}
	return names
}

// The org-list and read roles trust only the hub role.
func TestSpokeRolesTrustOnlyTheHub(t *testing.T) {
	all := grants(t)
	for _, role := range []Role{OrgList, Read} {
		for _, g := range all[role] {
			sts := statements(g.trust)
			if len(sts) != 1 {
				t.Errorf("%s: %d trust statements, want 1", role, len(sts))
				continue
			}
			st := sts[0]
			cond, _ := st["Condition"].(map[string]any)
			arnEq, _ := cond["ArnEquals"].(map[string]any)
			pa, _ := arnEq["aws:PrincipalArn"].(map[string]any)
			if sub, _ := pa["Fn::Sub"].(string); !strings.HasSuffix(sub, ":role/"+string(Hub)) {
				t.Errorf("%s: trust is not narrowed to the hub role by aws:PrincipalArn: %v", role, st["Condition"])
			}
			if !slices.Equal(strs(st["Action"]), []string{"sts:AssumeRole"}) || st["Effect"] != "Allow" {
				t.Errorf("%s: trust statement %v", role, st)
			}
		}
	}
}

// The parser itself: short-form tags become long-form functions, and a wider
// grant in a template would be caught.
func TestCfnValue(t *testing.T) {
	src := `
A: !Ref X
B: !GetAtt Q.Arn
C: !If [Cond, [sqs:SendMessage], !Ref AWS::NoValue]
D: !Sub "arn:${AWS::Partition}:x"
E: !Join ["", [a, !Ref Y]]
`
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	v, err := cfnValue(&n)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v)
	want := `{"A":{"Ref":"X"},"B":{"Fn::GetAtt":["Q","Arn"]},"C":{"Fn::If":["Cond",["sqs:SendMessage"],{"Ref":"AWS::NoValue"}]},"D":{"Fn::Sub":"arn:${AWS::Partition}:x"},"E":{"Fn::Join":["",["a",{"Ref":"Y"}]]}}`
	if string(got) != want {
		t.Errorf("cfnValue:\n got %s\nwant %s", got, want)
	}
	st := statements(v.(map[string]any)["C"])
	if len(st) != 0 {
		t.Errorf("statements found in non-statements: %v", st)
	}
	wide := map[string]any{"Fn::If": []any{"C", map[string]any{"Effect": "Allow", "Action": []any{"s3:*"}}, map[string]any{"Ref": "AWS::NoValue"}}}
	if st := statements(wide); len(st) != 1 || !slices.Equal(strs(st[0]["Action"]), []string{"s3:*"}) {
		t.Errorf("a statement inside Fn::If was missed: %v", st)
	}
}
