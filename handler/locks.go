package handler

import (
	"context"
	"sync"
)

// LockTable grants exclusive use of session ids within one process: one entry per id
// that is held or awaited. Waiters are woken when the holder releases, never by
// polling. (Exclusion across daemons is the store's lock in PostgreSQL, see docs/LOCKING.md.)
type LockTable struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	token chan struct{} // holds one value while the lock is held
	refs  int           // holder and waiters; the entry is dropped at zero
}

// NewLockTable returns an empty lock table.
func NewLockTable() *LockTable { return &LockTable{m: make(map[string]*lockEntry)} }

// Lock blocks until id is free or ctx ends; it then returns ctx's error and holds
// nothing. Calling the returned release function ends the lock; later calls do nothing.
func (t *LockTable) Lock(ctx context.Context, id string) (func(), error) {
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
		return t.releaser(id, e), nil
	case <-ctx.Done():
		t.unref(id, e)
		return nil, ctx.Err()
	}
}

// TryLock takes the lock on id if it is free, without waiting.
func (t *LockTable) TryLock(id string) (release func(), ok bool) {
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
		return t.releaser(id, e), true
	default:
		if e.refs == 0 {
			delete(t.m, id)
		}
		return nil, false
	}
}

func (t *LockTable) releaser(id string, e *lockEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			<-e.token
			t.unref(id, e)
		})
	}
}

func (t *LockTable) unref(id string, e *lockEntry) {
	t.mu.Lock()
	e.refs--
	if e.refs == 0 {
		delete(t.m, id)
	}
	t.mu.Unlock()
}

// Len returns how many ids are held or awaited.
func (t *LockTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
