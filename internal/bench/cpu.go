package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat (100 on Linux).
const ClockTicks = 100

// ProcStat is what a run needs of /proc/<pid>/stat. Times are in clock ticks.
type ProcStat struct {
	Name string
	PPID int
	// Utime and Stime are the user and system time of the process: all its threads,
	// live and exited.
	Utime, Stime uint64
	// Cutime and Cstime are those of its children that exited and that it waited for,
	// each with its own waited-for children: the kernel adds a child's times and its
	// Cutime and Cstime to its parent's when the parent reaps it.
	Cutime, Cstime uint64
}

// Own is the process's own user+system CPU in seconds.
func (p ProcStat) Own() float64 { return float64(p.Utime+p.Stime) / ClockTicks }

// Reaped is the user+system CPU in seconds of the children the process reaped.
func (p ProcStat) Reaped() float64 { return float64(p.Cutime+p.Cstime) / ClockTicks }

// CPUTime is CPU seconds in user mode and in the kernel (system).
type CPUTime struct{ User, System float64 }

// Total is user + system.
func (t CPUTime) Total() float64 { return t.User + t.System }

// ParseStat parses the text of /proc/<pid>/stat: "pid (comm) state ppid ... utime
// stime cutime cstime ...". The command name may hold spaces and parentheses; it ends
// at the last ')'.
func ParseStat(s string) (ProcStat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("bench: malformed /proc stat %q", firstN(s, 80))
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return ProcStat{}, fmt.Errorf("bench: /proc stat with %d fields after the name", len(f))
	}
	p := ProcStat{Name: s[open+1 : end]}
	var err error
	num := func(i int) uint64 {
		v, perr := strconv.ParseUint(f[i], 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("bench: /proc stat field %d: %v", i+3, perr)
		}
		return v
	}
	p.PPID = int(num(1))
	p.Utime, p.Stime, p.Cutime, p.Cstime = num(11), num(12), num(13), num(14)
	return p, err
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, err
	}
	return ParseStat(string(b))
}

// Procs reads the stat of every process on the machine, by pid. Processes that end
// while it reads are left out.
func Procs() map[int]ProcStat {
	out := map[int]ProcStat{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if p, err := ReadStat(pid); err == nil {
			out[pid] = p
		}
	}
	return out
}

// TreeCPU returns the user and system CPU seconds used so far by the process trees rooted
// at roots: for every process in them now (zombies included), its own time and the
// time of the children it reaped. A process that ran in a tree and has exited since
// counts in the reaped time of whichever process of the tree waited for it, so the
// difference of two readings is all the CPU the tree used in between, the processes
// that came and went included — PostgreSQL's postmaster reaps its backends, PHP-FPM's
// master its workers. (A process whose parent exits is re-parented outside the tree
// and no longer counted; neither server does that to its children.)
//
// procs is a snapshot from Procs. A root that is not in it is an error.
func TreeCPU(procs map[int]ProcStat, roots ...int) (CPUTime, error) {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.PPID] = append(children[p.PPID], pid)
	}
	seen := map[int]bool{}
	var user, system uint64
	queue := []int{}
	for _, r := range roots {
		if _, ok := procs[r]; !ok {
			return CPUTime{}, fmt.Errorf("bench: process %d is not running", r)
		}
		queue = append(queue, r)
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		p := procs[pid]
		user += p.Utime + p.Cutime
		system += p.Stime + p.Cstime
		queue = append(queue, children[pid]...)
	}
	return CPUTime{User: float64(user) / ClockTicks, System: float64(system) / ClockTicks}, nil
}

// SelfCPU returns the user and system CPU seconds this process has used, its children
// not included (getrusage, finer than /proc's clock ticks).
func SelfCPU() CPUTime {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return CPUTime{}
	}
	return CPUTime{User: time.Duration(ru.Utime.Nano()).Seconds(), System: time.Duration(ru.Stime.Nano()).Seconds()}
}

// Component names of the CPU a run measures.
const (
	CPUFPM       = "php-fpm"   // the pool's master and workers
	CPUDaemon    = "daemon"    // the session daemon(s) the pool talks to
	CPUPostgres  = "postgres"  // the cluster: the postmaster's process tree
	CPUGenerator = "generator" // the load generator, this process without its children
)

// Component is a group of processes whose CPU a run measures: the process trees
// rooted at Roots.
type Component struct {
	Name  string `json:"name"`
	Roots []int  `json:"-"`
}

// CPUUse is the CPU a component used in a run's measured window.
type CPUUse struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"cpu_s"`
	// UserSeconds is the part of Seconds in user mode; the rest was in the kernel.
	UserSeconds float64 `json:"user_s"`
	// MsPerRequest is Seconds over the requests of the window, in milliseconds, and
	// UserMsPerRequest UserSeconds.
	MsPerRequest     float64 `json:"ms_per_request"`
	UserMsPerRequest float64 `json:"user_ms_per_request"`
}

// perRequest sets u's per-request figures for n requests.
func (u *CPUUse) perRequest(n int64) {
	if n > 0 {
		u.MsPerRequest = 1000 * u.Seconds / float64(n)
		u.UserMsPerRequest = 1000 * u.UserSeconds / float64(n)
	}
}

// sampleCPU reads the CPU seconds of each component, then of this process.
func sampleCPU(comps []Component) ([]CPUTime, error) {
	out := make([]CPUTime, 0, len(comps)+1)
	var procs map[int]ProcStat
	if len(comps) > 0 {
		procs = Procs()
	}
	for _, c := range comps {
		v, err := TreeCPU(procs, c.Roots...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		out = append(out, v)
	}
	return append(out, SelfCPU()), nil
}

// cpuUse turns two samples of sampleCPU into the components' use over n requests.
func cpuUse(comps []Component, before, after []CPUTime, n int64) []CPUUse {
	names := make([]string, 0, len(comps)+1)
	for _, c := range comps {
		names = append(names, c.Name)
	}
	names = append(names, CPUGenerator)
	out := make([]CPUUse, len(names))
	for i, name := range names {
		user, system := max(0, after[i].User-before[i].User), max(0, after[i].System-before[i].System)
		out[i] = CPUUse{Name: name, Seconds: user + system, UserSeconds: user}
		out[i].perRequest(n)
	}
	return out
}
