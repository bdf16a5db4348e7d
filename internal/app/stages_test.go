package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cybsecops/configreport/"

// stages are the pipeline's stage packages (each with its subpackages).
// They talk through the contracts (internal/events) and the interfaces
// they declare, wired here in internal/app; none imports another, even
// through a third package.
var stages = []string{"internal/discover", "internal/trigger", "internal/scan", "internal/aggregate"}

// listed is what `go list -json` says of a package.
type listed struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// stageOf names the stage pkg belongs to, or "".
func stageOf(pkg string, stages []string) string {
	rel := strings.TrimPrefix(pkg, module)
	for _, s := range stages {
		if rel == s || strings.HasPrefix(rel, s+"/") {
			return s
		}
	}
	return ""
}

// crossings returns one line for each stage package that reaches a
// package of another stage through its (non-test) imports, naming the
// chain of imports, shortest first found.
func crossings(pkgs []listed, stages []string) []string {
	byPath := make(map[string]listed, len(pkgs))
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	var out []string
	for _, p := range pkgs {
		from := stageOf(p.ImportPath, stages)
		if from == "" {
			continue
		}
		// Breadth first: the chain reported is a shortest one.
		prev := map[string]string{p.ImportPath: ""}
		queue := []string{p.ImportPath}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			if to := stageOf(cur, stages); to != "" && to != from {
				var chain []string
				for at := cur; at != ""; at = prev[at] {
					chain = append(chain, strings.TrimPrefix(at, module))
				}
				slices.Reverse(chain)
				out = append(out, strings.TrimPrefix(p.ImportPath, module)+" (stage "+from+") imports stage "+to+": "+strings.Join(chain, " -> "))
				break
			}
			for _, imp := range byPath[cur].Imports {
				if _, seen := prev[imp]; seen || byPath[imp].Standard {
					continue
				}
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestCrossings(t *testing.T) {
	m := func(s string) string { return module + s }
	tests := []struct {
		name string
		pkgs []listed
		want []string
	}{
		{
			name: "through the contracts only",
			pkgs: []listed{
				{ImportPath: m("internal/scan"), Imports: []string{m("internal/events"), "fmt"}},
				{ImportPath: m("internal/trigger"), Imports: []string{m("internal/events")}},
				{ImportPath: m("internal/events"), Imports: []string{"fmt"}},
				{ImportPath: "fmt", Standard: true},
			},
		},
		{
			name: "direct",
			pkgs: []listed{
				{ImportPath: m("internal/scan"), Imports: []string{m("internal/discover")}},
				{ImportPath: m("internal/discover")},
			},
			want: []string{"internal/scan (stage internal/scan) imports stage internal/discover: internal/scan -> internal/discover"},
		},
		{
			name: "through a third package, into a subpackage",
			pkgs: []listed{
				{ImportPath: m("internal/trigger"), Imports: []string{m("internal/jira")}},
				{ImportPath: m("internal/jira"), Imports: []string{m("internal/aggregate/x")}},
				{ImportPath: m("internal/aggregate/x")},
			},
			want: []string{"internal/trigger (stage internal/trigger) imports stage internal/aggregate: internal/trigger -> internal/jira -> internal/aggregate/x"},
		},
		{
			name: "a subpackage of its own stage is no crossing",
			pkgs: []listed{
				{ImportPath: m("internal/discover/discovertest"), Imports: []string{m("internal/discover")}},
				{ImportPath: m("internal/discover")},
			},
		},
		{
			name: "a name that only starts like a stage",
			pkgs: []listed{
				{ImportPath: m("internal/scan"), Imports: []string{m("internal/scanner")}},
				{ImportPath: m("internal/scanner")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := crossings(tt.pkgs, stages); !slices.Equal(got, tt.want) {
				t.Errorf("crossings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// No stage imports another (issue 19): checked on the tree with go list.
func TestStagesImportNoOtherStage(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the import graph: %v", err)
	}
	args := []string{"list", "-deps", "-json=ImportPath,Imports,Standard"}
	for _, s := range stages {
		args = append(args, module+s+"/...")
	}
	cmd := exec.Command(goTool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	for _, s := range stages {
		if !slices.ContainsFunc(pkgs, func(p listed) bool { return p.ImportPath == module+s }) {
			t.Fatalf("go list did not list stage %s: has it moved? Update stages in this test", s)
		}
	}
	for _, c := range crossings(pkgs, stages) {
		t.Errorf("%s\n\tstages meet only in the contracts (internal/events) and in internal/app's wiring: declare the interface in the importing stage and wire it in internal/app", c)
	}
}
