package handler

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/rs/zerolog"
)

// maxChain bounds how many requests in a row pass the store's lock on to the next
// request of the host, so that requests of other hosts waiting for it get their turn.
const maxChain = 8

// maxContendedChain is maxChain for a chain that found another daemon holding the lock:
// that daemon's requests wait for the whole chain.
const maxContendedChain = 2

// maxPoll bounds the pause between two attempts to take a store lock another daemon
// holds (plus as much again at random), where the store cannot wait for it
// (LockWaiter). After a contended chain released the store's lock, the next request of
// the host waits a pause drawn the same way before taking it again, so that the other
// daemon, woken by PostgreSQL or polling, comes first. Without that wait the releasing
// host, whose next request already waits in memory, took the lock back within a
// millisecond nearly every time, and a daemon polling on the same sessions got a small
// share of them; with a fixed wait longer than any poll, the other daemon always won
// but the session idled for it.
const maxPoll = 4 * time.Millisecond

// sessionLock is one connection's lock on a session, from the READ that takes it to
// the WRITE, UPDATE_TIMESTAMP or CLOSE that ends it. It is the one place where locks
// are taken, handed over and ended:
//
//   - first this host's lock (the server's lockTable), so that the requests of this
//     host queue in memory without touching the database;
//   - then, when the store locks across daemons, the store's lock under a token,
//     waited for while another daemon holds it (LockWaiter; else polled);
//   - a WRITE while another request of this host waits for the session keeps the
//     store's lock (where the store can) and hands it over with what it wrote, at most
//     maxChain times in a row; when another daemon was found holding the lock during
//     the chain, the next request of this host then waits as a polling daemon
//     does before taking it again (maxPoll), so that daemons sharing a session take
//     turns.
//
// It is not safe for concurrent use: a connection executes one request at a time. The
// zero value, with srv and log set, holds nothing.
type sessionLock struct {
	srv *Server
	log zerolog.Logger

	id      string         // the session held, "" for none
	release func(handover) // ends this host's lock
	token   string         // the store's lock, "" for none
	chain   int            // holders before this one that handed the store's lock over
	// contended: this holder or one before it in the chain found the store's lock
	// held by another daemon.
	contended bool
	// alsoHeld is the session whose lock the same request holds while it takes this
	// one (END_SESSIONS's own session), "" for none: the lock table refuses a wait that
	// would deadlock with it (errDeadlock).
	alsoHeld string
}

// take takes id's lock and reads the session, as Store.Lock (or Store.Read when the
// store locks within this daemon only). A connection that holds id already keeps it.
// wait returns the context that bounds waiting for the lock (the lock timeout, the
// client going away); it is called only when the lock is taken.
func (l *sessionLock) take(ctx context.Context, wait func() context.Context, id, name, addr string) (*pgsess.Session, error) {
	store := l.srv.store
	if l.id != id {
		l.end()
		release, left, ok := l.srv.table.tryLock(id)
		if !ok {
			var err error
			if release, left, err = l.srv.table.lock(wait(), id, l.alsoHeld); err != nil {
				return nil, err
			}
		}
		l.id, l.release, l.token, l.chain, l.contended = id, release, left.token, left.chain, left.contended
		if w := left.written; l.token != "" && w != nil && w.id == id {
			// The last holder wrote this under the lock it handed over: nobody else
			// can have written since, so it is what a read would return.
			return &pgsess.Session{ID: id, Data: w.data, Meta: w.meta}, nil
		}
		if left.yield {
			select {
			case <-wait().Done():
				return nil, wait().Err()
			case <-time.After(maxPoll + rand.N(maxPoll)):
			}
		}
	}
	if !store.LocksAcrossDaemons() {
		return store.Read(ctx, id)
	}
	if l.token == "" {
		l.token = store.NewToken()
	}
	lockCtx := ctx
	for pause := time.Millisecond; ; pause = min(2*pause, maxPoll) {
		sess, err := store.Lock(lockCtx, id, name, addr, l.token)
		if !errors.Is(err, pgsess.ErrLocked) {
			return sess, err
		}
		l.contended = true
		lockCtx = wait() // another daemon holds it: from now on, a wait
		if w, ok := store.(LockWaiter); ok {
			// Woken as the other daemon releases it: take it at once.
			if err := w.WaitFree(lockCtx, id); err == nil {
				continue
			}
			if lockCtx.Err() != nil {
				return nil, lockCtx.Err()
			}
			// It cannot wait (or the wait failed): poll.
		}
		select {
		case <-lockCtx.Done():
			return nil, lockCtx.Err()
		case <-time.After(pause + rand.N(pause)):
		}
	}
}

// holds reports whether the lock is on id.
func (l *sessionLock) holds(id string) bool { return l.id != "" && l.id == id }

// tokenFor returns the store lock's token when the lock is on id, else "": what a
// WRITE or UPDATE_TIMESTAMP of id writes under.
func (l *sessionLock) tokenFor(id string) string {
	if l.holds(id) {
		return l.token
	}
	return ""
}

// keepFor tells a WRITE of id to keep the store's lock for the next request of this
// host, because one is waiting for it and the chain is not at its bound.
func (l *sessionLock) keepFor(id string) bool {
	bound := maxChain
	if l.contended {
		bound = maxContendedChain
	}
	return l.tokenFor(id) != "" && l.chain < bound && l.srv.store.KeepsLocks() && l.srv.table.waiting(id)
}

// written ends the lock after a WRITE or UPDATE_TIMESTAMP of id, whose result is err.
// Under a store lock the statement itself ended it, unless it failed for another
// reason than losing it: then the store's lock is released here; or it kept it (a WRITE
// with Keep, which wrote kept): then it goes to the next request of this host waiting
// for the session, with what was written.
func (l *sessionLock) written(id string, err error, kept *snapshot) {
	if !l.holds(id) {
		return
	}
	if err == nil && kept != nil {
		l.release(handover{token: l.token, chain: l.chain + 1, written: kept, contended: l.contended})
		l.id, l.release, l.token, l.chain, l.contended = "", nil, "", 0, false
		return
	}
	// The end of a contended chain (at its bound, or with the store unable to keep
	// locks): the next request of this host lets the other daemon have its turn.
	yield := err == nil && l.contended
	if err == nil || errors.Is(err, pgsess.ErrLeaseLost) {
		l.token = "" // nothing left to release
	}
	l.endLeaving(handover{yield: yield})
}

// end ends the store's lock (if any) and then this host's lock, so that a waiter of
// this host never finds the store's lock still held. Holding nothing, it does nothing.
func (l *sessionLock) end() { l.endLeaving(handover{}) }

// endLeaving is end, leaving h (which holds no token) to this host's next holder.
func (l *sessionLock) endLeaving(h handover) {
	if l.token != "" {
		ctx, cancel := context.WithTimeout(context.Background(), l.srv.config().FrameTimeout)
		if err := l.srv.store.Release(ctx, l.id, l.token); err != nil {
			l.log.Warn().Err(err).Msg("releasing a session lock failed; it ends with its lease")
		}
		cancel()
	}
	if l.release != nil {
		l.release(h)
	}
	l.id, l.release, l.token, l.chain, l.contended = "", nil, "", 0, false
}
