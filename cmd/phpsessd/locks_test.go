package main

import (
	"os"
	"path/filepath"
	"strings"
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

// Two hosts with one host name (cloned machines, containers) own their leases apart by
// their machine ids, and a host's owner stays the same across restarts; without a
// machine id, the host name alone.
func TestLeaseOwnerTellsApartHostsThatShareAName(t *testing.T) {
	dir := t.TempDir()
	owner := func(machineID string) string {
		file := filepath.Join(dir, "machine-id")
		os.Remove(file)
		if machineID != "" {
			if err := os.WriteFile(file, []byte(machineID+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		old := machineIDFiles
		machineIDFiles = []string{filepath.Join(dir, "missing"), file}
		defer func() { machineIDFiles = old }()
		cfg := iniconf.Defaults()
		cfg.Locking, cfg.LockScope, cfg.LockMethod, cfg.LockLease = true, "cluster", "lease", 7*time.Second
		return lockMethod(cfg).(pgsess.Lease).Owner
	}
	host, _ := os.Hostname()
	a, b := owner("0123456789abcdef0123456789abcdef"), owner("fedcba9876543210fedcba9876543210")
	if a == b || !strings.HasPrefix(a, host+"#0123456789abcdef0123456789abcdef:") {
		t.Errorf("owners of two machines named %q: %q and %q", host, a, b)
	}
	if again := owner("0123456789abcdef0123456789abcdef"); again != a {
		t.Errorf("the same machine's owner changed: %q, then %q", a, again)
	}
	if none := owner(""); !strings.HasPrefix(none, host+":") {
		t.Errorf("owner without a machine id: %q, want the host name and the socket", none)
	}
}
