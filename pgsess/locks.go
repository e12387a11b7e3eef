package pgsess

import "time"

// LockMethod is how a Store locks a session across every daemon using the database
// (Options.Locks): HostOnly, Lease or Advisory. A nil LockMethod is HostOnly.
type LockMethod interface{ lockMethod() }

// HostOnly takes no lock in the database: requests are serialised, if at all, by the
// daemon itself, which is enough when one daemon serves the site. Lock is not to be
// called (LocksAcrossDaemons reports false).
type HostOnly struct{}

// Lease locks a session with a lease held in the table, shared by every daemon using
// the database: a lock whose holder stops renewing it ends Duration after its last
// renewal. The table needs two extra columns (sess_lock text, sess_lock_expire
// bigint), added by CreateTable, and a unique index on sess_id. Works through
// PgBouncer in transaction mode.
type Lease struct {
	// Duration is how long a lease lasts unrenewed; it must be positive.
	Duration time.Duration
	// Owner names this daemon in lease tokens, the same across its restarts and
	// different from every other daemon using the database (host name and socket, for
	// example): at start the Store ends the leases a previous run of the same owner
	// left, instead of letting them block their sessions until they expire. Empty: a
	// name of its own, shared with no earlier run.
	Owner string
}

// Advisory locks a session with a PostgreSQL advisory lock held on one of a few
// dedicated connections (see advisory.go): taking it writes nothing, and a daemon that
// dies releases its locks with its connections. It needs connections that reach one
// backend each: not through PgBouncer in transaction mode (Lock then fails with
// ErrPooled). The table needs no change.
type Advisory struct{}

func (HostOnly) lockMethod() {}
func (Lease) lockMethod()    {}
func (Advisory) lockMethod() {}
