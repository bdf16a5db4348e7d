// Package chaos holds the crash points and hold points of the chaos suite
// (test/chaos, `make chaos`): named places in the code where a process can
// be made to die exactly, with SIGKILL, as a power cut or an OOM kill would
// kill it there (Point), or to stop dead, holding what it has in hand, until
// the suite kills it (Hold), so that "a third of the accounts scanned, the
// rest not" is a count and not a race against the scanners' speed.
//
// Both exist only in binaries built with `-tags chaos`. In every other
// build, the shipped ones included, Point and Hold are empty functions the
// compiler inlines away: no environment variable can make a production
// process kill itself or stop working. It is not a fault-injection framework: faults that
// can come from outside the code (signals, awssim's switches, the fault
// proxy of internal/testbed/faultproxy) come from outside.
package chaos

// The crash points the aggregator declares (internal/aggregate), named here
// so that the suite and the code agree on the spelling.
const (
	// MidRender is hit while the workbook is being rendered, before any
	// upload: the lease must pass to another replica.
	MidRender = "aggregate.mid-render"
	// AfterUpload is hit after the report object is in S3 and before the
	// run is marked emitted: the replica that takes over uploads the same
	// bytes again (same key), so there is still one report object.
	AfterUpload = "aggregate.after-upload"
	// AfterTicketFiled is hit after Jira answered with the new ticket's key
	// and before the key is stored with the run: the retry must find the
	// ticket by its label, never file a second one.
	AfterTicketFiled = "aggregate.after-ticket-filed"
)

// The hold points the scanner declares (internal/scan).
const (
	// BeforeScan is hit when a scan request has been decoded and before
	// the account is scanned: a held scanner keeps its message in flight
	// and scans nothing more, as a scanner that hangs (or is about to be
	// killed) would.
	BeforeScan = "scan.before-scan"
)

// EnvHold names the hold point a chaos build stops at; EnvHoldAfter is how
// many hits it lets through first (0, none, by default): with
// CHAOS_HOLD_AFTER=5 a scanner scans exactly five accounts, however many
// messages it takes at once, and holds every later one until it is killed.
const (
	EnvHold      = "CHAOS_HOLD"
	EnvHoldAfter = "CHAOS_HOLD_AFTER"
)

// EnvCrash names the crash point a chaos build dies at; EnvCrashAfter is the
// hit on which it dies (1, the first, by default).
const (
	EnvCrash      = "CHAOS_CRASH"
	EnvCrashAfter = "CHAOS_CRASH_AFTER"
)
