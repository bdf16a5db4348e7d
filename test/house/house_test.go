// Package house checks rules of the repository's layout that no compiler
// enforces: how long a source file may grow, and that no file names a path
// of one particular machine.
package house

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// maxLines is the most lines a non-test Go file may have: past it, a file
// holds more than one responsibility and is split by them.
const maxLines = 800

// machinePath matches absolute paths of the machines this was built on
// (a workspace, a home or a temporary job folder); a path in the image,
// such as /home/nonroot, is spelled in full and allowed below.
var machinePath = regexp.MustCompile(`(^|[\s"'(=:])/(work|Users)/[A-Za-z0-9._-]+|/home/[a-z][a-z0-9_-]*/|/tmp/bash_jobs`)

var allowedPaths = []string{"/home/nonroot/"}

// trackedFiles lists the repository's tracked files, relative to its root.
func trackedFiles(t *testing.T) (root string, files []string) {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	root = strings.TrimSpace(string(out))
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return root, files
}

func TestNoLongSourceFile(t *testing.T) {
	root, files := trackedFiles(t)
	for _, f := range files {
		if !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("\n")); n > maxLines {
			t.Errorf("%s: %d lines, more than %d: split it by responsibility", f, n, maxLines)
		}
	}
}

func TestNoMachinePath(t *testing.T) {
	root, files := trackedFiles(t)
	for _, f := range files {
		if f == "test/house/house_test.go" {
			continue // its own table of examples
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		for i, line := range lines(b) {
			if p := machinePathIn(line); p != "" {
				t.Errorf("%s:%d: names the path %q of one machine", f, i+1, p)
			}
		}
	}
}

func machinePathIn(line string) string {
	for _, m := range machinePath.FindAllString(line, -1) {
		m = strings.TrimLeft(m, " \t\"'(=:")
		allowed := false
		for _, a := range allowedPaths {
			allowed = allowed || strings.HasPrefix(a, m) || strings.HasPrefix(m, a)
		}
		if !allowed {
			return m
		}
	}
	return ""
}

func lines(b []byte) []string {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for s.Scan() {
		out = append(out, s.Text())
	}
	return out
}

func TestMachinePathIn(t *testing.T) {
	tests := []struct{ line, want string }{
		{"see /work/shared/REPORT_FORMAT.md", "/work/shared"},
		{`dir := "/home/alice/src"`, "/home/alice/"},
		{"logs in /tmp/bash_jobs.1000/x", "/tmp/bash_jobs"},
		{"HOME=/home/nonroot", ""},
		{"cp -r ../shared shared", ""},
		{"GOPATH=/go/pkg/mod", ""},
		{"https://example.com/work/x", ""},
	}
	for _, tc := range tests {
		if got := machinePathIn(tc.line); got != tc.want {
			t.Errorf("machinePathIn(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
