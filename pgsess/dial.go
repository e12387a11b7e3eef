package pgsess

import (
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// How the store's connections reach PostgreSQL over TCP, so that a server that stops
// answering without closing the connection (a host gone, a network partition, a
// failover that moved the address) fails the connection instead of hanging the
// requests on it.
const (
	// defaultConnectTimeout bounds each host's connection attempt (TCP, TLS,
	// authentication) when the connection string gives no connect_timeout (or 0,
	// which libpq reads as no limit).
	defaultConnectTimeout = 5 * time.Second
	// Keepalive probes start after keepAliveIdle without traffic, one every
	// keepAliveInterval; keepAliveCount unanswered probes end the connection.
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	// userTimeout is TCP_USER_TIMEOUT (Linux): sent data that stays unacknowledged
	// this long ends the connection.
	userTimeout = 30 * time.Second
)

// configureDial gives c the store's dialer: a connect timeout when c has none, and
// TCP keepalive and user timeout on every TCP connection c opens (to each host of a
// multi-host string alike; Unix sockets as they are).
func configureDial(c *pgconn.Config) {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	c.DialFunc = newDialer(c.ConnectTimeout).DialContext
}

// newDialer returns the dialer of configureDial.
func newDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   true,
			Idle:     keepAliveIdle,
			Interval: keepAliveInterval,
			Count:    keepAliveCount,
		},
		Control: setUserTimeout,
	}
}
