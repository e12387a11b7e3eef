package main

import (
	"testing"

	"github.com/phpsessd/phpsessd/iniconf"
)

func TestAutoMaxClientsLeavesRoomForThePoolAndTheRest(t *testing.T) {
	for _, tt := range []struct {
		nofile uint64
		pool   int
		want   int
	}{
		{1024, 32, 1024 - 32 - fdReserve},
		{524288, 100, 524288 - 100 - fdReserve},
		{100, 32, minAutoClients},
		{1 << 63, 32, 1<<31 - 32 - fdReserve}, // RLIM_INFINITY
	} {
		if got := autoMaxClients(tt.nofile, tt.pool); got != tt.want {
			t.Errorf("autoMaxClients(%d, %d) = %d, want %d", tt.nofile, tt.pool, got, tt.want)
		}
	}
}

func TestMaxClientsFromPHPIniOverridesAuto(t *testing.T) {
	cfg := iniconf.Defaults()
	for _, n := range []int{0, 7} {
		cfg.MaxClients = n
		if got := maxClients(cfg); got != n {
			t.Errorf("max_clients = %d gave %d", n, got)
		}
	}
	cfg.MaxClients = iniconf.MaxClientsAuto
	if got := maxClients(cfg); got < minAutoClients {
		t.Errorf("max_clients = auto gave %d", got)
	}
}
