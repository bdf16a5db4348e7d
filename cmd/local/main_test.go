package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/testbed/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, "local", main) }

// A new user's first try, with AWS_ENDPOINT_URL at a closed port or a
// host that does not exist: exit 1 within 15 s, the last line naming the
// endpoint, any retry logged at warn with its attempt before it.
func TestUnreachableEndpoint(t *testing.T) {
	addr := harness.FreeAddr(t) // closed again: nothing listens there
	tests := []struct {
		name, endpoint, want string
		args                 []string
	}{
		{"closed port", "http://" + addr, addr, nil},
		{"closed port, org role", "http://" + addr, addr, []string{"-org-role-arn", "arn:aws:iam::111111111111:role/list-org"}},
		{"no such host", "http://nonexistent.invalid:1", "nonexistent.invalid:1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-out", t.TempDir(), "-regions", "us-east-1"}, tt.args...)
			code, stdout, stderr, el := maintest.RunAWS(t, []string{"AWS_ENDPOINT_URL=" + tt.endpoint}, args...)
			if code != 1 || el > 15*time.Second {
				t.Fatalf("exit %d after %s, want 1 within 15s\n%s", code, el, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "local: no report: ") || !strings.Contains(last, "cannot reach the ") || !strings.Contains(last, " endpoint "+tt.want+": ") {
				t.Errorf("last line %q does not name the endpoint %s", last, tt.want)
			}
			for _, l := range lines[:len(lines)-1] {
				if strings.Contains(l, "retrying AWS call") && (!strings.Contains(l, "level=WARN") || !strings.Contains(l, " attempt=")) {
					t.Errorf("retry line %q: want warn with its attempt", l)
				}
			}
		})
	}
}

// The binary with -out on a full disk (a 512 KiB tmpfs; root only): exit
// status 1 within seconds, and the error is one line naming the file and
// the run to resume, with no log lines before it.
func TestFullDiskExitsWithOneLine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	regions := []string{"us-east-1", "ap-east-1"}
	org, err := awssim.Generate(awssim.GenConfig{Accounts: 150, Seed: 3, Regions: regions, Rules: 6})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := awssim.New(awssim.Config{Org: org, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	out := filepath.Join(dir, "out")
	code, stdout, stderr, _ := maintest.RunAWS(t, []string{"AWS_ENDPOINT_URL=" + srv.URL}, "-out", out, "-regions", strings.Join(regions, ","))
	if code != 1 {
		t.Fatalf("exit status %d, want 1\nstderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout: %q, want nothing", stdout)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	want := regexp.MustCompile(`^local: disk full writing ` + regexp.QuoteMeta(filepath.Join(out, "dedupe-store.sqlite")) +
		`: database or disk is full \(13\); free some space and rerun with -run-id \S+ to resume$`)
	if !want.MatchString(last) {
		t.Errorf("last line %q, want it to match %s", last, want)
	}
	for _, l := range lines[:len(lines)-1] {
		// Progress lines only: "run <id>: ..." and "discovering accounts ...".
		if !strings.HasPrefix(l, "run ") && !strings.HasPrefix(l, "discovering accounts for ") {
			t.Errorf("stderr has a line besides progress and the error: %q", l)
		}
	}
}

// A bad -owner-tags (or OWNER_TAGS) is configuration: exit 2, one line
// naming the flag, before any AWS call.
func TestBadOwnerTags(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"-owner-tags", "Owner,Owner"}},
		{"environment", []string{"OWNER_TAGS=Team||x"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-out", t.TempDir(), "-regions", "us-east-1"}, tt.args...)
			code, stdout, stderr, _ := maintest.RunAWS(t, append([]string{"AWS_ENDPOINT_URL=http://127.0.0.1:1"}, tt.env...), args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 2 || stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "local: owner-tags: ") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line naming owner-tags", code, stdout, stderr)
			}
		})
	}
}

// A bad -baseline (or BASELINE) is configuration: exit 2, one line naming
// the flag; a well-formed run id that is no baseline under -out stops the
// run before any AWS call: exit 1, one line saying why.
func TestBadBaseline(t *testing.T) {
	for _, tt := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		prefix string
	}{
		{"flag", nil, []string{"-baseline", "last week"}, 2, `local: baseline: "last week" is neither "none" nor a run id`},
		{"environment", []string{"BASELINE=last-week!"}, nil, 2, `local: baseline: "last-week!" is neither "none" nor a run id`},
		{"unknown run", nil, []string{"-baseline", "01KMZ8W4Y0NOSUCHRUN"}, 1, "local: no report: baseline 01KMZ8W4Y0NOSUCHRUN: no such run under "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-out", t.TempDir(), "-regions", "us-east-1"}, tt.args...)
			code, stdout, stderr, _ := maintest.RunAWS(t, append([]string{"AWS_ENDPOINT_URL=http://127.0.0.1:1"}, tt.env...), args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tt.code || stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], tt.prefix) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line starting %q", code, stdout, stderr, tt.code, tt.prefix)
			}
		})
	}
}
