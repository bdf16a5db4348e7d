package load

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cybsecops/configreport/internal/testbed/awssim"
	"github.com/cybsecops/configreport/internal/testbed/harness"
)

// FloorRun is bench/floor (a plain aws-sdk-go-v2 program making a scan's
// calls) run against the load's awssim once the fleet's report is out:
// the same org, latency, throttle and faults, at the fleet's concurrency.
type FloorRun struct {
	C     int           // its -concurrency: the fleet's C
	Calls int64         // awssim's count for its run
	CPU   time.Duration // its user+system CPU
	Wall  time.Duration
	Line  string // its summary line
	// SimCPU is what awssim spent serving the floor's calls (and
	// stopping): not counted in the fleet's awssim CPU.
	SimCPU time.Duration
}

// PerCall is the floor's CPU per awssim call.
func (f FloorRun) PerCall() time.Duration {
	if f.Calls <= 0 {
		return 0
	}
	return f.CPU / time.Duration(f.Calls)
}

// runFloor runs bin against the awssim at simURL, counting its calls
// there (the stats are reset first: the fleet's were read already).
func runFloor(ctx context.Context, bin, simURL string, regions []string, c int, logs string) (FloorRun, error) {
	fr := FloorRun{C: c}
	if err := awssim.ResetStats(ctx, http.DefaultClient, simURL); err != nil {
		return fr, err
	}
	cmd := exec.CommandContext(ctx, bin, "-regions", strings.Join(regions, ","), "-concurrency", strconv.Itoa(c))
	cmd.Env = harness.SimClientEnv(os.Environ(), simURL)
	logf, err := os.Create(filepath.Join(logs, "floor.log"))
	if err != nil {
		return fr, err
	}
	defer logf.Close()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, logf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fr, fmt.Errorf("floor: %w (see %s)", err, logf.Name())
	}
	fr.Wall = time.Since(start)
	fr.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fr.Line = strings.TrimSpace(out.String())
	st, err := awssim.FetchStats(ctx, http.DefaultClient, simURL)
	if err != nil {
		return fr, err
	}
	fr.Calls = st.Total
	return fr, nil
}
