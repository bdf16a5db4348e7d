package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/harness"
	"github.com/cybsecops/configreport/internal/testbed/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, "trigger", main) }

// The trigger pointed at a closed port or a host that does not exist:
// exit 1 within 15 s, the last line naming the endpoint, whether the
// first call is the queue's lookup (a queue given by name) or the walk.
func TestUnreachableEndpoint(t *testing.T) {
	addr := harness.FreeAddr(t) // closed again: nothing listens there
	tests := []struct {
		name, endpoint, queue, want, service string
	}{
		{"closed port, walk", "http://" + addr, "http://" + addr + "/000000000000/scan", addr, "Organizations"},
		{"closed port, queue lookup", "http://" + addr, "scan", addr, "SQS"},
		{"no such host, walk", "http://nonexistent.invalid:1", "http://nonexistent.invalid:1/000000000000/scan", "nonexistent.invalid:1", "Organizations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr, el := maintest.RunAWS(t, []string{"AWS_ENDPOINT_URL=" + tt.endpoint},
				"-regions", "us-east-1", "-scan-queue-url", tt.queue,
				"-results-topic-arn", "arn:aws:sns:us-east-1:000000000000:results", "-report-bucket", "reports")
			if code != 1 || el > 15*time.Second {
				t.Fatalf("exit %d after %s, want 1 within 15s\n%s", code, el, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "trigger: ") || !strings.Contains(last, "cannot reach the "+tt.service+" endpoint "+tt.want+": ") {
				t.Errorf("last line %q does not name the %s endpoint %s", last, tt.service, tt.want)
			}
			for _, l := range lines[:len(lines)-1] {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Errorf("log line %q: %v", l, err)
					continue
				}
				if m["msg"] == "retrying AWS call" && (m["level"] != "WARN" || m["attempt"] == nil) {
					t.Errorf("retry line %q: want warn with its attempt", l)
				}
			}
		})
	}
}
