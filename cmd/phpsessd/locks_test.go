package main

import (
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/iniconf"
	"github.com/phpsessd/phpsessd/pgsess"
)

func TestLockMethodFollowsLockingScopeAndMethod(t *testing.T) {
	for _, tt := range []struct {
		locking       bool
		scope, method string
		want          string
	}{
		{true, "cluster", "advisory", "advisory"},
		{true, "cluster", "lease", "lease"},
		{true, "host", "lease", "host"},
		{false, "cluster", "advisory", "host"},
		{false, "cluster", "lease", "host"},
	} {
		cfg := iniconf.Defaults()
		cfg.Locking, cfg.LockScope, cfg.LockMethod, cfg.LockLease = tt.locking, tt.scope, tt.method, 7*time.Second
		got := "?"
		switch m := lockMethod(cfg).(type) {
		case pgsess.HostOnly:
			got = "host"
		case pgsess.Advisory:
			got = "advisory"
		case pgsess.Lease:
			if m.Duration == 7*time.Second && m.Owner != "" {
				got = "lease"
			}
		}
		if got != tt.want {
			t.Errorf("locking = %v, lock_scope = %s, lock_method = %s gave %s (%#v), want %s",
				tt.locking, tt.scope, tt.method, got, lockMethod(cfg), tt.want)
		}
	}
}
