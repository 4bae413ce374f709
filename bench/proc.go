package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// CPU is a reading of CPU time in seconds: the whole machine's busy time
// and each process named postgres or asked for.
type CPU struct {
	Busy  float64         // all cores, from /proc/stat
	Procs map[int]float64 // by pid
}

// ReadCPU reads the machine, every postgres process and pids.
func ReadCPU(pids ...int) CPU {
	c := CPU{Busy: machineBusy(), Procs: map[int]float64{}}
	for _, pid := range pids {
		if pid > 0 {
			c.Procs[pid] = ProcessCPU(pid)
		}
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		c.Procs[pid] = ProcessCPU(pid)
	}
	return c
}

// Spent is the CPU time pid used between before and c (0 unless it was
// alive at both readings).
func (c CPU) Spent(before CPU, pid int) float64 {
	a, ok1 := before.Procs[pid]
	b, ok2 := c.Procs[pid]
	if !ok1 || !ok2 {
		return 0
	}
	return b - a
}

// machineBusy is the non-idle CPU time of all cores since boot.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	var busy float64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal; guest time is already in user
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clockTicks
}

// ProcessCPU is utime+stime of pid in seconds.
func ProcessCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// comm may hold spaces: the fields start after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// MemoryKB returns VmHWM (peak resident set) and VmRSS of pid in KiB.
func MemoryKB(pid int) (hwm, rss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}

// ResetPeakRSS resets VmHWM of pid to its current RSS (Linux: "5" to
// /proc/pid/clear_refs), so that a later MemoryKB tells the peak since.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// LoadAvg is the machine's load average over 1, 5 and 15 minutes, from
// /proc/loadavg ("?" where it cannot be read).
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
