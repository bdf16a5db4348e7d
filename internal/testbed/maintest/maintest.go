// Package maintest runs a command's main in a child process of its own
// test binary, so that a main package's tests exercise exit statuses,
// stdout and stderr without building the binary.
package maintest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// argsVar carries the child's arguments, separated by argSep.
const (
	argsVar = "CONFIGREPORT_TEST_MAIN_ARGS"
	argSep  = "\x1f"
)

// Main is a main package's TestMain: in a child started by Run it runs
// main as the command name with Run's arguments, and exits 0 if main
// returns; otherwise it runs the tests.
func Main(m *testing.M, name string, main func()) {
	if args, ok := os.LookupEnv(argsVar); ok {
		os.Args = append([]string{name}, splitArgs(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func splitArgs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, argSep)
}

// Result is how a child run ended.
type Result struct {
	Code           int // exit status
	Stdout, Stderr string
	Took           time.Duration
}

// Run runs main (see Main) with args, in an environment of PATH, a HOME of
// its own and env (nothing else of this process's), for a minute at most.
func Run(t testing.TB, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append([]string{argsVar + "=" + strings.Join(args, argSep), "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// RunAWS is Run in FakeAWS's environment and env, returning the exit
// status, stdout, stderr and how long the run took.
func RunAWS(t testing.TB, env []string, args ...string) (int, string, string, time.Duration) {
	t.Helper()
	r := Run(t, append(FakeAWS(t), env...), args...)
	return r.Code, r.Stdout, r.Stderr, r.Took
}

// FakeAWS is an environment in which the AWS SDK reads nothing of the
// machine's: static fake credentials, us-east-1, shared config and
// credentials files that do not exist, no instance metadata.
func FakeAWS(t testing.TB) []string {
	dir := t.TempDir()
	return []string{
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=testsecret", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
	}
}
