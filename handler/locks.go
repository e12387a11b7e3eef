package handler

import (
	"context"
	"sync"
)

// LockTable grants exclusive use of session ids within one process: one entry per id
// that is held or awaited. Waiters are woken when the holder releases, never by
// polling. (Exclusion across daemons is the store's lock in PostgreSQL, see docs/LOCKING.md.)
//
// A holder may leave the next holder an Heir: the store's lock on the session, still
// held, so that the next request of this host skips releasing and taking it again. An
// heir nobody claims (the waiters gave up) is passed to Orphaned.
type LockTable struct {
	mu sync.Mutex
	m  map[string]*lockEntry
	// Orphaned, when set, is called in a goroutine of its own with an heir that no
	// holder claimed; it must release the store's lock.
	Orphaned func(id string, h Heir)
}

// An Heir is what a lock's holder leaves to the next one: the token of the store's
// lock, which stays held, how many holders in a row have passed it on, and the session
// as the holder wrote it (under that lock nobody else wrote it since). The zero Heir
// leaves nothing.
type Heir struct {
	Token   string
	Chain   int
	Written *snapshot
}

type lockEntry struct {
	token chan struct{} // holds one value while the lock is held
	refs  int           // holder and waiters; the entry is dropped at zero
	heir  Heir          // left by the last holder, for the next
}

// NewLockTable returns an empty lock table.
func NewLockTable() *LockTable { return &LockTable{m: make(map[string]*lockEntry)} }

// Lock blocks until id is free or ctx ends; it then returns ctx's error and holds
// nothing. It returns what the last holder left. Calling the returned release function
// ends the lock, leaving its argument to the next holder; later calls do nothing.
func (t *LockTable) Lock(ctx context.Context, id string) (func(Heir), Heir, error) {
	t.mu.Lock()
	e := t.m[id]
	if e == nil {
		e = &lockEntry{token: make(chan struct{}, 1)}
		t.m[id] = e
	}
	e.refs++
	t.mu.Unlock()

	select {
	case e.token <- struct{}{}:
		return t.releaser(id, e), t.claim(e), nil
	case <-ctx.Done():
		t.unref(id, e)
		return nil, Heir{}, ctx.Err()
	}
}

// claim takes the heir the last holder left.
func (t *LockTable) claim(e *lockEntry) Heir {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := e.heir
	e.heir = Heir{}
	return h
}

// Waiting reports whether requests wait for id's lock.
func (t *LockTable) Waiting(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	return e != nil && e.refs > 1
}

// TryLock takes the lock on id if it is free, without waiting, as Lock does.
func (t *LockTable) TryLock(id string) (release func(Heir), inherited Heir, ok bool) {
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
		inherited, e.heir = e.heir, Heir{}
		return t.releaser(id, e), inherited, true
	default:
		if e.refs == 0 {
			delete(t.m, id)
		}
		return nil, Heir{}, false
	}
}

func (t *LockTable) releaser(id string, e *lockEntry) func(Heir) {
	var once sync.Once
	return func(h Heir) {
		once.Do(func() {
			t.mu.Lock()
			e.heir = h
			t.mu.Unlock()
			<-e.token
			t.unref(id, e)
		})
	}
}

func (t *LockTable) unref(id string, e *lockEntry) {
	t.mu.Lock()
	e.refs--
	var orphan Heir
	if e.refs == 0 {
		delete(t.m, id)
		orphan, e.heir = e.heir, Heir{}
	}
	t.mu.Unlock()
	if orphan.Token != "" && t.Orphaned != nil {
		go t.Orphaned(id, orphan)
	}
}

// Len returns how many ids are held or awaited.
func (t *LockTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
