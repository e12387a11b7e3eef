package main

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	p, ok := parseStat("4242 (php-fpm: pool (x)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 123 0 0")
	if !ok || p.name != "php-fpm: pool (x)" || p.ppid != 17 || p.ticks != 281 {
		t.Fatalf("got %+v %v", p, ok)
	}
	if _, ok := parseStat("garbage"); ok {
		t.Fatal("parsed garbage")
	}
}

func TestForeignCPUExcludesOurTree(t *testing.T) {
	self := os.Getpid()
	before := map[int]procInfo{
		100: {name: "busy", ppid: 1, ticks: 100},
		200: {name: "child", ppid: self, ticks: 0},
	}
	after := map[int]procInfo{
		self: {name: "benchrun", ppid: 1, ticks: 5000},
		100:  {name: "busy", ppid: 1, ticks: 600},
		200:  {name: "child", ppid: self, ticks: 900},
		201:  {name: "grandchild", ppid: 200, ticks: 900},
		300:  {name: "newcomer", ppid: 1, ticks: 150},
	}
	busy, total := foreignCPU(before, after)
	if total != 6.5 || len(busy) != 2 || busy[0] != "busy 5 s" || busy[1] != "newcomer 2 s" {
		t.Fatalf("got %v %v", busy, total)
	}
}
