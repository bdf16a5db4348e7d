// Package deps checks what the shipped binaries link: none of them may
// depend on the package testing or on the testbed wing (internal/testbed:
// the simulator, harnesses and benchmarks). `go list -deps` is the
// linker's view, build tags as shipped (none), so a test helper reached
// through any chain of imports is caught, named with the chain.
package deps

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cybsecops/configreport"

// shipped are the binaries of the image and of local mode.
var shipped = []string{"./cmd/trigger", "./cmd/scanner", "./cmd/aggregator", "./cmd/local"}

// forbidden reports whether a shipped binary may not depend on pkg.
func forbidden(pkg string) bool {
	return pkg == "testing" || strings.HasPrefix(pkg, "testing/") ||
		pkg == module+"/internal/testbed" || strings.HasPrefix(pkg, module+"/internal/testbed/")
}

// graph is a package's imports, by import path.
type graph map[string][]string

// parseGraph reads `go list -deps -f '{{.ImportPath}} {{join .Imports " "}}'`.
func parseGraph(out []byte) graph {
	g := graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	return g
}

// violations lists every forbidden package reachable from root, each with
// the import chain that reaches it (the shortest), sorted by discovery.
func violations(g graph, root string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	var found []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if forbidden(p) {
			chain := []string{p}
			for q := prev[p]; q != ""; q = prev[q] {
				chain = append([]string{q}, chain...)
			}
			found = append(found, fmt.Sprintf("%s (%s)", p, strings.Join(chain, " -> ")))
			continue
		}
		for _, imp := range g[p] {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return found
}

func TestShippedBinariesLinkNoTestCode(t *testing.T) {
	for _, cmd := range shipped {
		t.Run(strings.TrimPrefix(cmd, "./cmd/"), func(t *testing.T) {
			c := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, cmd)
			c.Dir = "../.."
			var stderr bytes.Buffer
			c.Stderr = &stderr
			out, err := c.Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", cmd, err, stderr.String())
			}
			root := module + strings.TrimPrefix(cmd, ".")
			g := parseGraph(out)
			if _, ok := g[root]; !ok {
				t.Fatalf("go list -deps %s does not list %s itself: %q", cmd, root, out)
			}
			for _, v := range violations(g, root) {
				t.Errorf("%s depends on %s", cmd, v)
			}
		})
	}
}

func TestViolations(t *testing.T) {
	const (
		cmdPkg   = module + "/cmd/aggregator"
		app      = module + "/internal/app"
		store    = module + "/internal/store"
		awssim   = module + "/internal/testbed/awssim"
		testbedX = module + "/internal/testbedx" // a name that only starts alike
	)
	tests := []struct {
		name string
		g    graph
		want []string
	}{
		{"clean", graph{cmdPkg: {app, "fmt"}, app: {store}, store: {"sync"}}, nil},
		{"testing two imports away", graph{cmdPkg: {app}, app: {store}, store: {"testing"}},
			[]string{"testing (" + cmdPkg + " -> " + app + " -> " + store + " -> testing)"}},
		{"a testing subpackage", graph{cmdPkg: {"testing/fstest"}},
			[]string{"testing/fstest (" + cmdPkg + " -> testing/fstest)"}},
		{"the testbed wing", graph{cmdPkg: {app}, app: {awssim}},
			[]string{awssim + " (" + cmdPkg + " -> " + app + " -> " + awssim + ")"}},
		{"a look-alike name is allowed", graph{cmdPkg: {testbedX}}, nil},
		{"not reachable from the binary", graph{cmdPkg: {app}, store: {"testing"}}, nil},
		{"each once, shortest chain", graph{cmdPkg: {app, store}, app: {store}, store: {"testing"}},
			[]string{"testing (" + cmdPkg + " -> " + store + " -> testing)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.g, cmdPkg)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("violations = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseGraph(t *testing.T) {
	g := parseGraph([]byte("fmt errors io\nerrors \n" + module + "/cmd/local fmt\n"))
	want := graph{"fmt": {"errors", "io"}, "errors": {}, module + "/cmd/local": {"fmt"}}
	if fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("parseGraph = %v, want %v", g, want)
	}
}
