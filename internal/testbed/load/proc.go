package load

import "github.com/cybsecops/configreport/internal/testbed/harness"

// proc is one child process of the run, its output in logs/<name>.log.
type proc = harness.Proc

// startProc starts bin in harness.BaseEnv plus env; the run stops it.
func startProc(logs, name, bin string, env []string, args ...string) (*proc, error) {
	return harness.Spawn(logs, name, harness.Command(bin, env, args...))
}
