package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/stat: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuStat is the machine's CPU time so far, from /proc/stat's "cpu" line.
type cpuStat struct {
	busy, total int64 // ticks: busy is everything but idle and iowait
}

func readCPUStat() (cpuStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}, err
	}
	return parseCPUStat(b)
}

// parseCPUStat reads the aggregate "cpu" line: user nice system idle iowait
// irq softirq steal [guest guest_nice] (guest time is already in user).
func parseCPUStat(b []byte) (cpuStat, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[0] != "cpu" {
			continue
		}
		var s cpuStat
		for i, v := range f[1:] {
			if i >= 8 { // guest, guest_nice: counted in user already
				break
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return cpuStat{}, fmt.Errorf("/proc/stat cpu field %d: %w", i+1, err)
			}
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
		return s, nil
	}
	return cpuStat{}, errors.New("/proc/stat has no cpu line")
}

// MachineCPU is what the whole machine spent between two readings.
type MachineCPU struct {
	Cores int
	Busy  time.Duration // CPU time of every process on the machine
	Share float64       // Busy over (wall × Cores)
}

func machineCPU(from, to cpuStat, cores int) MachineCPU {
	m := MachineCPU{Cores: cores, Busy: time.Duration(to.busy-from.busy) * time.Second / clockTicks}
	if d := to.total - from.total; d > 0 {
		m.Share = float64(to.busy-from.busy) / float64(d)
	}
	return m
}

// Floor is the shortest the window could have been on this machine doing
// the same work: its CPU time spread over every core.
func (m MachineCPU) Floor() time.Duration {
	if m.Cores == 0 {
		return 0
	}
	return m.Busy / time.Duration(m.Cores)
}

// procCPUTime is a running process's user+system CPU so far, from
// /proc/PID/stat: what awssim spent on the fleet's run, read before the
// floor's run adds its own calls to the same process.
func procCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatCPU(b)
}

// parseProcStatCPU reads utime and stime (fields 14 and 15, in clock
// ticks) of a /proc/PID/stat line. The command name, field 2, is in
// parentheses and may hold spaces and parentheses itself, so the fields
// are counted from the last ')'.
func parseProcStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc/PID/stat: utime/stime %q", v)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
