//go:build !linux

package pgsess

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not Linux's; keepalive still
// ends a connection whose server stopped answering.
func setUserTimeout(network, address string, raw syscall.RawConn) error { return nil }
