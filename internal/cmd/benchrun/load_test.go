package main

import (
	"os"
	"path/filepath"
	"strings"
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

func TestCallgrindTotal(t *testing.T) {
	out := "# callgrind format\nversion: 1\nevents: Ir\nfl=(1) a.c\nfn=(1) main\n0 12\nsummary: 49576419\n\n\ntotals: 49576419\n"
	if n, err := callgrindTotal(strings.NewReader(out)); err != nil || n != 49576419 {
		t.Fatalf("got %d, %v", n, err)
	}
	if n, err := callgrindTotal(strings.NewReader("events: Ir\ntotals: 7 1\n")); err != nil || n != 7 {
		t.Fatalf("totals only: got %d, %v", n, err)
	}
	if _, err := callgrindTotal(strings.NewReader("events: Ir\n")); err == nil {
		t.Fatal("no error without a count")
	}
}

func TestPidFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "postmaster.pid")
	os.WriteFile(path, []byte("4242\n/data\n1700000000\n"), 0o600)
	if pid, err := pidFile(path); err != nil || pid != 4242 {
		t.Fatalf("got %d, %v", pid, err)
	}
	os.WriteFile(path, []byte("\n"), 0o600)
	if _, err := pidFile(path); err == nil {
		t.Fatal("no error for an empty pid file")
	}
}
