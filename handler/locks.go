package handler

import (
	"context"
	"sync"
)

// Locker grants exclusive use of a session id. Lock blocks until the id is free or ctx
// ends; it then returns ctx's error and holds nothing. The returned release function
// must be called exactly once. Waiters are woken when the holder releases, never by
// polling.
//
// LockTable is the in-daemon implementation. Exclusion across several daemons sharing
// one database is a Locker that also takes a lock in PostgreSQL.
type Locker interface {
	Lock(ctx context.Context, id string) (release func(), err error)
}

// LockTable is a Locker within one process: one entry per id that is held or awaited.
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

// Lock implements Locker.
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
		var once sync.Once
		return func() {
			once.Do(func() {
				<-e.token
				t.unref(id, e)
			})
		}, nil
	case <-ctx.Done():
		t.unref(id, e)
		return nil, ctx.Err()
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
