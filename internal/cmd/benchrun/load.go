package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/phpsessd/phpsessd/internal/bench"
)

// The figures are only comparable when nothing else competes for the CPU. benchrun
// records the load average and the CPU that processes outside its own tree used
// during the run, so a noisy run says so.

// foreignCPU returns the CPU seconds that processes outside this process's tree used
// between two snapshots, the busiest first, as "name: seconds" strings, and the total.
func foreignCPU(before, after map[int]bench.ProcStat) ([]string, float64) {
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
			pid = p.PPID
		}
		return false
	}
	byName := map[string]float64{}
	total := 0.0
	for pid, a := range after {
		if ours(pid) || pid == 1 {
			continue
		}
		var sec float64
		if b, ok := before[pid]; ok && b.Name == a.Name && a.Own() >= b.Own() {
			sec = a.Own() - b.Own()
		} else if !ok {
			sec = a.Own() // started during the run
		}
		if sec == 0 {
			continue
		}
		byName[a.Name] += sec
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
