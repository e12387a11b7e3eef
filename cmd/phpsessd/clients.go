package main

import (
	"syscall"

	"github.com/phpsessd/phpsessd/iniconf"
)

// fdReserve is how many file descriptors max_clients = auto leaves besides the client
// connections and the database pool: the listeners, the advisory lock connections (at
// most 8), the metrics listener and its clients, the log, the files read on reload.
const fdReserve = 64

// minAutoClients is the least max_clients = auto gives, however low the file limit.
const minAutoClients = 16

// maxClients is the handler's bound on client connections: session_pgsql.max_clients,
// or for auto, autoMaxClients of the soft open file limit (which Go raises to the hard
// limit at start) and the pool's size.
func maxClients(cfg *iniconf.Config) int {
	if cfg.MaxClients != iniconf.MaxClientsAuto {
		return cfg.MaxClients
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return autoMaxClients(rl.Cur, cfg.MaxConnections)
}

// autoMaxClients is what max_clients = auto gives for a file limit of nofile and a
// database pool of pool connections: nofile less the pool and fdReserve, at least
// minAutoClients, so that the daemon refuses a connection before accept runs out of
// descriptors.
func autoMaxClients(nofile uint64, pool int) int {
	room := int64(min(nofile, 1<<31)) - int64(pool) - fdReserve
	return int(max(room, minAutoClients))
}
