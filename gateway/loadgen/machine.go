package loadgen

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine is what the rest of the machine was doing during a run: on a
// shared machine, other processes' work shows in both.
type Machine struct {
	// Load1 is the 1-minute load average when the run started.
	Load1 float64 `json:"load1"`
	// Busy is the fraction of all CPUs' time spent busy during the run
	// (0..1), whoever was busy.
	Busy float64 `json:"cpu_busy"`
	// CPUs is the number of CPUs counted.
	CPUs int `json:"cpus"`
	// ProcessCPU is the CPU time (user + system) this process used during
	// the run: the load generator, and an in-process server (floor or
	// --self gateway). Unlike rates, it hardly depends on what other
	// processes do.
	ProcessCPU time.Duration `json:"process_cpu_ns"`
}

// cpuTimes is the total and idle jiffies of all CPUs, from /proc/stat.
type cpuTimes struct {
	total, idle uint64
	cpus        int
}

func readCPU() (cpuTimes, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, false
	}
	var t cpuTimes
	ok := false
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			t.cpus++
			continue
		}
		for i, v := range f[1:min(len(f), 9)] { // guest time is already in user
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return cpuTimes{}, false
			}
			t.total += n
			if i == 3 || i == 4 { // idle, iowait
				t.idle += n
			}
		}
		ok = true
	}
	return t, ok
}

func readLoad1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// machineProbe measures the machine from its creation to done.
type machineProbe struct {
	start cpuTimes
	ok    bool
	load1 float64
	proc  time.Duration
}

func probeMachine() machineProbe {
	t, ok := readCPU()
	return machineProbe{start: t, ok: ok, load1: readLoad1(), proc: processCPU()}
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (p machineProbe) done() Machine {
	m := Machine{Load1: p.load1, ProcessCPU: processCPU() - p.proc}
	end, ok := readCPU()
	if !ok || !p.ok || end.total <= p.start.total {
		return m
	}
	total, idle := end.total-p.start.total, end.idle-p.start.idle
	m.Busy = 1 - float64(idle)/float64(total)
	m.CPUs = end.cpus
	return m
}
