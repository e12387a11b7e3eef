package handler

import (
	"context"
	"errors"
	"sync"
)

// lockTable grants exclusive use of session ids within one process: one entry per id
// that is held or awaited. Waiters are woken when the holder releases, never by
// polling. (Exclusion across daemons is the store's lock in PostgreSQL, see
// docs/LOCKING.md; sessionLock takes both.)
//
// A holder may leave the next holder a handover: the store's lock on the session, still
// held, so that the next request of this host skips releasing and taking it again. A
// handover nobody claims (the waiters gave up) is passed to orphaned.
type lockTable struct {
	mu sync.Mutex
	m  map[string]*lockEntry
	// orphaned, when set, is called in a goroutine of its own with a handover that no
	// holder claimed; it must release the store's lock.
	orphaned func(id string, h handover)
}

// A handover is what a lock's holder leaves to the next one: the token of the store's
// lock, which stays held, how many holders in a row have passed it on, and the session
// as the holder wrote it (under that lock nobody else wrote it since); or, with no
// token, that the holder released the store's lock to let another daemon waiting for
// it have its turn (yield). The zero handover leaves nothing.
type handover struct {
	token   string
	chain   int
	written *snapshot
	// contended: a holder of this chain found the store's lock held by another
	// daemon, which is likely to be waiting for it again.
	contended bool
	// yield: the store's lock was released at the end of a contended chain; the next
	// holder waits before taking it again (sessionLock.take).
	yield bool
}

type lockEntry struct {
	token chan struct{} // holds one value while the lock is held
	refs  int           // holder and waiters; the entry is dropped at zero
	left  handover      // left by the last holder, for the next
	// waitsFor is the id whose lock the holder of this one waits for while it holds
	// this one (END_SESSIONS waits for other sessions while its request holds its
	// own), "" when it waits for none: the edges lock follows to find a cycle.
	waitsFor string
}

// errDeadlock is lock's error when waiting would close a cycle of holders each waiting
// for the next one's lock: none of them would ever get it.
var errDeadlock = errors.New("waiting for this session's lock would deadlock: its holder waits, in turn, for the lock this request holds")

// newLockTable returns an empty lock table.
func newLockTable() *lockTable { return &lockTable{m: make(map[string]*lockEntry)} }

// lock blocks until id is free or ctx ends; it then returns ctx's error and holds
// nothing. It returns what the last holder left. Calling the returned release function
// ends the lock, leaving its argument to the next holder; later calls do nothing.
//
// holding is the id whose lock the caller holds while it waits, "" for none. When id's
// holder waits, directly or through other holders, for holding, lock returns
// errDeadlock at once instead of waiting: of the requests in such a cycle, the last one
// to wait gives up, and the others go on as it releases what it holds.
func (t *lockTable) lock(ctx context.Context, id, holding string) (func(handover), handover, error) {
	t.mu.Lock()
	waiter := t.m[holding] // holding's entry, which records the wait; nil for none
	if waiter != nil && t.waitsOn(id, holding) {
		t.mu.Unlock()
		return nil, handover{}, errDeadlock
	}
	e := t.m[id]
	if e == nil {
		e = &lockEntry{token: make(chan struct{}, 1)}
		t.m[id] = e
	}
	e.refs++
	if waiter != nil {
		waiter.waitsFor = id
		defer func() {
			t.mu.Lock()
			waiter.waitsFor = ""
			t.mu.Unlock()
		}()
	}
	t.mu.Unlock()

	select {
	case e.token <- struct{}{}:
		return t.releaser(id, e), t.claim(e), nil
	case <-ctx.Done():
		t.unref(id, e)
		return nil, handover{}, ctx.Err()
	}
}

// waitsOn reports whether the holder of id waits, directly or through the holders of
// the locks it waits for, for holding's lock. Call with t.mu held.
func (t *lockTable) waitsOn(id, holding string) bool {
	for cur, steps := id, 0; steps <= len(t.m); steps++ {
		e := t.m[cur]
		if e == nil || e.waitsFor == "" {
			return false
		}
		if e.waitsFor == holding {
			return true
		}
		cur = e.waitsFor
	}
	return false
}

// claim takes the handover the last holder left.
func (t *lockTable) claim(e *lockEntry) handover {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := e.left
	e.left = handover{}
	return h
}

// waiting reports whether requests wait for id's lock.
func (t *lockTable) waiting(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	return e != nil && e.refs > 1
}

// tryLock takes the lock on id if it is free, without waiting, as lock does.
func (t *lockTable) tryLock(id string) (release func(handover), inherited handover, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	if e == nil {
		e = &lockEntry{token: make(chan struct{}, 1)}
		t.m[id] = e
	}
	select {
	case e.token <- struct{}{}:
		e.refs++
		inherited, e.left = e.left, handover{}
		return t.releaser(id, e), inherited, true
	default:
		if e.refs == 0 {
			delete(t.m, id)
		}
		return nil, handover{}, false
	}
}

func (t *lockTable) releaser(id string, e *lockEntry) func(handover) {
	var once sync.Once
	return func(h handover) {
		once.Do(func() {
			t.mu.Lock()
			e.left = h
			t.mu.Unlock()
			<-e.token
			t.unref(id, e)
		})
	}
}

func (t *lockTable) unref(id string, e *lockEntry) {
	t.mu.Lock()
	e.refs--
	var orphan handover
	if e.refs == 0 {
		delete(t.m, id)
		orphan, e.left = e.left, handover{}
	}
	t.mu.Unlock()
	if orphan.token != "" && t.orphaned != nil {
		go t.orphaned(id, orphan)
	}
}

// len returns how many ids are held or awaited.
func (t *lockTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
