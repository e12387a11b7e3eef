package pgsess

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

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

// A locker is one lock method at work: it takes, keeps and ends the locks of its
// method, and owns what it knows of the locks it holds (holds). The Store's lock
// front (Lock, Release, and Write and Touch with a token) hands every lock operation
// to it. Its errors are the Store's: wrapped.
type locker interface {
	// init checks, when the Store first reaches the database, that the method can
	// work there (columns, a pooler in the way).
	init(ctx context.Context) error
	// lock takes id's lock for token and reads the session; see Store.Lock.
	lock(ctx context.Context, id, name, addr, token string) (*Session, error)
	// write stores row under token's lock and ends it, or with keep (where keeps
	// allows) keeps holding it.
	write(ctx context.Context, token string, row *writeRow, keep bool) error
	// touch refreshes the session under token's lock and ends it; see Store.Touch.
	touch(ctx context.Context, id, name, addr, token string, now, expire int64) error
	// release ends token's lock on id, if it still holds it.
	release(ctx context.Context, id, token string) error
	// keeps reports whether write with keep keeps holding the lock.
	keeps() bool
	// waitFree returns once id's lock was free, at least for an instant, or ctx's
	// error; ErrCannotWait when the method cannot wait for a lock (see Store.WaitFree).
	waitFree(ctx context.Context, id string) error
}

// newLocker returns the locker of m for s (nil for HostOnly), or an error for a method
// that cannot work.
func newLocker(s *Store, m LockMethod) (locker, error) {
	switch m := m.(type) {
	case nil, HostOnly:
		return nil, nil
	case Lease:
		if m.Duration <= 0 {
			return nil, fmt.Errorf("pgsess: a lease must last a positive time, not %s", m.Duration)
		}
		return newLeaseLocks(s, m.Duration), nil
	case Advisory:
		return newAdvisoryLocks(s), nil
	}
	return nil, fmt.Errorf("pgsess: unknown lock method %T", m)
}

// NewToken returns a lock token that no other lock of any daemon uses: the owner
// (Lease.Owner), this Store's boot id, and a sequence number.
func (s *Store) NewToken() string {
	return fmt.Sprintf("%s/%s/%d", s.owner, s.boot, s.tokens.Add(1))
}

// LocksAcrossDaemons reports whether Lock excludes every daemon using the database
// (Lease, Advisory); if not (HostOnly), Lock is not to be called and Read serves.
func (s *Store) LocksAcrossDaemons() bool { return s.locks != nil }

// KeepsLocks reports whether Write with Keep keeps holding the lock (Advisory).
func (s *Store) KeepsLocks() bool { return s.locks != nil && s.locks.keeps() }

// errNoLocks is returned by Lock on a Store that locks nothing across daemons.
var errNoLocks = errors.New("pgsess: Lock called on a store whose lock method is HostOnly")

// Lock takes the session's lock under token and reads the session. A missing session is
// returned new and empty (so Lock never returns nil without an error); the caller holds
// the lock until Write or Touch with the same token, or Release. A token may take its
// own lock again.
//
// When another token holds the session, Lock returns ErrLocked and changes nothing: the
// caller waits and tries again. An expired session is handled as KeepExpired says (see
// Read), under the lock.
func (s *Store) Lock(ctx context.Context, id, name, addr, token string) (*Session, error) {
	if s.locks == nil {
		return nil, errNoLocks
	}
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	return s.locks.lock(ctx, id, name, addr, token)
}

// ErrCannotWait is returned by WaitFree when the store cannot wait for a lock to be
// free: the caller polls with Lock instead.
var ErrCannotWait = errors.New("pgsess: cannot wait for the session's lock")

// WaitFree returns once no daemon held id's lock, at least for an instant, so that Lock
// may take it now (another daemon may still come first: Lock then returns ErrLocked
// again), or with ctx's error when ctx ends first. It takes no lock and changes nothing.
// Only Advisory waits, on a connection of the pool, as many at a time as half the
// pool's connections; otherwise, or when that many wait already, it returns
// ErrCannotWait at once. Any other error (a lock_timeout or statement_timeout of the
// role, a lost connection) says only that the wait ended early.
func (s *Store) WaitFree(ctx context.Context, id string) error {
	if s.locks == nil {
		return ErrCannotWait
	}
	return s.locks.waitFree(ctx, id)
}

// Release ends the lock token holds on the session, if it still does.
func (s *Store) Release(ctx context.Context, id, token string) error {
	if s.locks == nil {
		return nil
	}
	return s.locks.release(ctx, id, token)
}

// holds maps the tokens of the locks a locker holds to what it knows of each lock.
// Its methods are safe for concurrent use.
type holds[H any] struct {
	mu sync.Mutex
	m  map[string]H
}

func (h *holds[H]) put(token string, v H) {
	h.mu.Lock()
	if h.m == nil {
		h.m = make(map[string]H)
	}
	h.m[token] = v
	h.mu.Unlock()
}

func (h *holds[H]) get(token string) (H, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[token]
	return v, ok
}

func (h *holds[H]) drop(token string) {
	h.mu.Lock()
	delete(h.m, token)
	h.mu.Unlock()
}

// each calls f with every hold, on a copy taken at once (f may use h).
func (h *holds[H]) each(f func(token string, v H)) {
	h.mu.Lock()
	m := maps.Clone(h.m)
	h.mu.Unlock()
	for token, v := range m {
		f(token, v)
	}
}
