package iniconf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Listen is an address the daemon listens on and the PHP client connects to.
type Listen struct {
	// Network is "unix" or "tcp".
	Network string
	// Address is the socket path for "unix" and host:port for "tcp".
	Address string
}

// ParseListen parses a listen address of the form "unix:/path/to/socket" or
// "tcp:host:port" (an IPv6 host in brackets: "tcp:[::1]:9300"). A socket path
// must be absolute, or start with "@" for a Linux abstract socket. A TCP
// address needs a host (use 0.0.0.0 or [::] for every interface) and a numeric
// port from 1 to 65535. The returned Listen's String gives back s unchanged.
func ParseListen(s string) (Listen, error) {
	const allowed = "allowed: unix:/path/to/socket or tcp:host:port"
	switch {
	case strings.HasPrefix(s, "unix:"):
		path := s[len("unix:"):]
		if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
			return Listen{}, fmt.Errorf("invalid listen address %q: the socket path must be absolute (%s)", s, allowed)
		}
		return Listen{Network: "unix", Address: path}, nil
	case strings.HasPrefix(s, "tcp:"):
		addr := s[len("tcp:"):]
		if err := checkHostPort(addr, true); err != nil {
			return Listen{}, fmt.Errorf("invalid listen address %q: %v (%s)", s, err, allowed)
		}
		return Listen{Network: "tcp", Address: addr}, nil
	}
	return Listen{}, fmt.Errorf("invalid listen address %q (%s)", s, allowed)
}

// String returns the address in the form ParseListen accepts, such as
// "unix:/run/phpsessd/phpsessd.sock" or "tcp:127.0.0.1:9300".
func (l Listen) String() string {
	return l.Network + ":" + l.Address
}

// IsLoopback reports whether only local clients can reach the address: always
// for a Unix socket, and for TCP when the host is "localhost" or an address in
// 127.0.0.0/8 or ::1.
func (l Listen) IsLoopback() bool {
	if l.Network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(l.Address)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHostPort checks a host:port address with a numeric port from 1 to
// 65535; the host may be empty only when needHost is false.
func checkHostPort(addr string, needHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port")
	}
	if needHost && host == "" {
		return fmt.Errorf("missing host")
	}
	if strings.ContainsAny(host, " \t") {
		return fmt.Errorf("bad host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return fmt.Errorf("port must be a number from 1 to 65535")
	}
	return nil
}
