package main

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/phpsessd/phpsessd/iniconf"
)

// socketMode lets the daemon's user and the web server's group in, nobody else.
const socketMode = 0o660

// listen opens the configured listener. A Unix socket is created with socketMode and,
// when group is set, owned by that group; a stale socket file left by a daemon that
// died is replaced, a live one is an error.
func listen(l iniconf.Listen, group string) (net.Listener, error) {
	if l.Network != "unix" {
		return net.Listen(l.Network, l.Address)
	}
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("session_pgsql.socket_group: %w", err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("session_pgsql.socket_group: gid %q: %w", g.Gid, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(l.Address), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(l.Address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", l.Address)
		}
		if c, err := net.Dial("unix", l.Address); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another daemon is listening there", l.Address)
		}
		if err := os.Remove(l.Address); err != nil {
			return nil, err
		}
	}
	// The umask makes the socket private from the moment it exists, before Chmod.
	old := syscall.Umask(0o777 &^ socketMode)
	ln, err := net.Listen("unix", l.Address)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(l.Address, socketMode); err != nil {
		ln.Close()
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(l.Address, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("session_pgsql.socket_group: %w", err)
		}
	}
	return ln, nil
}
