package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The figures are only comparable when nothing else competes for the CPU. benchrun
// records the load average and the CPU that processes outside its own tree used
// during the run, so a noisy run says so.

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on Linux).
const clockTicks = 100

type procInfo struct {
	name  string
	ppid  int
	ticks uint64 // utime + stime
}

// snapshotProcs reads every process's name, parent and CPU time.
func snapshotProcs() map[int]procInfo {
	out := map[int]procInfo{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		if p, ok := parseStat(string(b)); ok {
			out[pid] = p
		}
	}
	return out
}

// parseStat parses /proc/<pid>/stat: "pid (comm) state ppid ... utime stime ...".
func parseStat(s string) (procInfo, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return procInfo{name: s[open+1 : end], ppid: ppid, ticks: utime + stime}, true
}

// foreignCPU returns the CPU seconds that processes outside this process's tree used
// between two snapshots, the busiest first, as "name: seconds" strings, and the total.
func foreignCPU(before, after map[int]procInfo) ([]string, float64) {
	self := os.Getpid()
	ours := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid == self {
				return true
			}
			p, ok := after[pid]
			if !ok {
				return false
			}
			pid = p.ppid
		}
		return false
	}
	byName := map[string]float64{}
	total := 0.0
	for pid, a := range after {
		if ours(pid) || pid == 1 {
			continue
		}
		var used uint64
		if b, ok := before[pid]; ok && b.name == a.name && a.ticks >= b.ticks {
			used = a.ticks - b.ticks
		} else if !ok {
			used = a.ticks // started during the run
		}
		if used == 0 {
			continue
		}
		sec := float64(used) / clockTicks
		byName[a.name] += sec
		total += sec
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return byName[names[i]] > byName[names[j]] })
	var out []string
	for _, n := range names {
		if byName[n] < 1 {
			break
		}
		out = append(out, fmt.Sprintf("%s %.0f s", n, byName[n]))
	}
	return out, total
}

// loadAvg returns the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
