package main

import (
	"os"
	"testing"

	"github.com/phpsessd/phpsessd/internal/bench"
)

func TestForeignCPUExcludesOurTree(t *testing.T) {
	self := os.Getpid()
	before := map[int]bench.ProcStat{
		100: {Name: "busy", PPID: 1, Utime: 100},
		200: {Name: "child", PPID: self},
	}
	after := map[int]bench.ProcStat{
		self: {Name: "benchrun", PPID: 1, Utime: 5000},
		100:  {Name: "busy", PPID: 1, Utime: 500, Stime: 100},
		200:  {Name: "child", PPID: self, Utime: 900},
		201:  {Name: "grandchild", PPID: 200, Utime: 900},
		300:  {Name: "newcomer", PPID: 1, Stime: 150},
	}
	busy, total := foreignCPU(before, after)
	if total != 6.5 || len(busy) != 2 || busy[0] != "busy 5 s" || busy[1] != "newcomer 2 s" {
		t.Fatalf("got %v %v", busy, total)
	}
}
