package serverset

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/phpsessd/phpsessd/pgsess"
)

// try runs op on id's live servers in order until one is reached, marking down those
// that are not; it returns the server that answered (nil if none did) and op's error.
func (s *Set) try(id string, op func(v *server) error) (*server, error) {
	var err error
	for _, v := range s.live(id) {
		if err = op(v); !s.unavailable(v, err) {
			return v, err
		}
	}
	return nil, err
}

// Read returns id's session from its server, or when it is missing there from another
// live server, moved to its server first (see fetch).
func (s *Set) Read(ctx context.Context, id string) (*pgsess.Session, error) {
	var sess *pgsess.Session
	v, err := s.try(id, func(v *server) (err error) {
		sess, err = v.Store.Read(ctx, id)
		return err
	})
	if err != nil || sess != nil {
		return sess, err
	}
	return s.fetch(ctx, v, id, "", "", false)
}

// Lock takes id's lock on its server and reads the session there, or when it is new
// there from another live server, moved to its server first (see fetch). The lock
// stays on that server: a token that holds one already takes it again there.
func (s *Set) Lock(ctx context.Context, id, name, addr, token string) (*pgsess.Session, error) {
	if v, ok := s.holder(token); ok {
		sess, err := v.Store.Lock(ctx, id, name, addr, token)
		s.unavailable(v, err)
		return sess, err
	}
	var sess *pgsess.Session
	v, err := s.try(id, func(v *server) (err error) {
		sess, err = v.Store.Lock(ctx, id, name, addr, token)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hold(token, v.index)
	if !isNew(sess) {
		return sess, nil
	}
	moved, err := s.fetch(ctx, v, id, name, addr, true)
	if errors.Is(err, pgsess.ErrLocked) {
		// Locked on the server it is moving from: nothing changed, as Lock promises.
		if rerr := s.Release(ctx, id, token); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	if err != nil || moved == nil {
		return sess, err
	}
	return moved, nil
}

// isNew reports whether sess is what a lock returns for a session its server lacks:
// never written, no data (pgsess's write counts from 1).
func isNew(sess *pgsess.Session) bool { return sess.Counter == 0 && len(sess.Data) == 0 }

// fetch looks for id's session on the live servers other than home, the server that
// lacks it, and moves the first live one found to home: it stores it there as it was
// (its times, addresses and counter too: pgsess.Store.Put), then deletes it where it
// was, and returns it; nil when none has it. With locked (the
// caller holds id's lock on home under the client's name and addr), the move holds
// the session's lock where it was too: when another lock holds it there, fetch returns
// pgsess.ErrLocked and moves nothing. A server that cannot be reached is skipped.
func (s *Set) fetch(ctx context.Context, home *server, id, name, addr string, locked bool) (*pgsess.Session, error) {
	if home == nil || len(s.servers) == 1 {
		return nil, nil
	}
	for _, f := range s.live(id) {
		if f == home {
			continue
		}
		found, err := f.Store.Info(ctx, id)
		if err != nil {
			if !s.unavailable(f, err) {
				s.log.Warn().Err(err).Str("server", f.Name).Msg("looking for a session on another server failed")
			}
			continue
		}
		if found == nil || (found.Expire != 0 && found.Expire < time.Now().Unix()) {
			continue
		}
		token := ""
		if locked {
			token = f.Store.NewToken()
			if found, err = f.Store.Lock(ctx, id, name, addr, token); err != nil {
				if errors.Is(err, pgsess.ErrLocked) {
					return nil, err
				}
				s.unavailable(f, err)
				continue
			}
			if isNew(found) { // gone meanwhile; the lock made its row (Lease)
				f.Store.Destroy(ctx, id)
				f.Store.Release(ctx, id, token)
				continue
			}
		}
		err = home.Store.Put(ctx, found)
		if err == nil {
			if derr := f.Store.Destroy(ctx, id); derr != nil {
				s.log.Warn().Err(derr).Str("server", f.Name).Msg("a session moved to its server stays where it was too: deleting it there failed")
			}
		}
		if token != "" {
			f.Store.Release(ctx, id, token)
		}
		if err != nil {
			s.unavailable(home, err)
			return nil, err
		}
		s.log.Debug().Str("from", f.Name).Str("to", home.Name).Msg("moved a session to its server")
		return found, nil
	}
	return nil, nil
}

// hold records that token's lock is on server i.
func (s *Set) hold(token string, i int) {
	s.heldMu.Lock()
	s.held[token] = i
	s.heldMu.Unlock()
}

// holder returns the server holding token's lock.
func (s *Set) holder(token string) (*server, bool) {
	s.heldMu.Lock()
	i, ok := s.held[token]
	s.heldMu.Unlock()
	if !ok {
		return nil, false
	}
	return s.servers[i], true
}

func (s *Set) drop(token string) {
	s.heldMu.Lock()
	delete(s.held, token)
	s.heldMu.Unlock()
}

// ended forgets token's lock after a write or touch under it that ended it: one that
// succeeded without keeping it, or found it lost.
func (s *Set) ended(token string, err error, kept bool) {
	if (err == nil && !kept) || errors.Is(err, pgsess.ErrLeaseLost) {
		s.drop(token)
	}
}

// Write stores w on its session's server; with a token, on the server holding that
// lock, or fails with pgsess.ErrLeaseLost when the token holds none.
func (s *Set) Write(ctx context.Context, w pgsess.Write) error {
	if w.Token == "" {
		_, err := s.try(w.ID, func(v *server) error { return v.Store.Write(ctx, w) })
		return err
	}
	v, ok := s.holder(w.Token)
	if !ok {
		return pgsess.ErrLeaseLost
	}
	err := v.Store.Write(ctx, w)
	s.unavailable(v, err)
	s.ended(w.Token, err, w.Keep && v.Store.KeepsLocks())
	return err
}

// Touch renews id's session on its server; with a token, as Write.
func (s *Set) Touch(ctx context.Context, id, name, addr, token string) error {
	if token == "" {
		_, err := s.try(id, func(v *server) error { return v.Store.Touch(ctx, id, name, addr, "") })
		return err
	}
	v, ok := s.holder(token)
	if !ok {
		return pgsess.ErrLeaseLost
	}
	err := v.Store.Touch(ctx, id, name, addr, token)
	s.unavailable(v, err)
	s.ended(token, err, false)
	return err
}

// Release ends token's lock on the server holding it; a token that holds none is not
// an error.
func (s *Set) Release(ctx context.Context, id, token string) error {
	v, ok := s.holder(token)
	if !ok {
		return nil
	}
	s.drop(token)
	err := v.Store.Release(ctx, id, token)
	s.unavailable(v, err)
	return err
}

// WaitFree waits on the server where Lock would take id's lock now (its home, or while
// that is down the next live one); see pgsess.Store.WaitFree.
func (s *Set) WaitFree(ctx context.Context, id string) error {
	v, err := s.try(id, func(v *server) error { return v.Store.WaitFree(ctx, id) })
	if v == nil && err == nil {
		return pgsess.ErrCannotWait // no live server
	}
	return err
}

// NewToken, KeepsLocks and LocksAcrossDaemons are the first server's: every server's
// store locks the same way.
func (s *Set) NewToken() string         { return s.servers[0].Store.NewToken() }
func (s *Set) KeepsLocks() bool         { return s.servers[0].Store.KeepsLocks() }
func (s *Set) LocksAcrossDaemons() bool { return s.servers[0].Store.LocksAcrossDaemons() }

// Destroy deletes id's session from every live server, so that no copy left on a
// server it moved from comes back.
func (s *Set) Destroy(ctx context.Context, id string) error {
	var reached bool
	var first error
	for _, v := range s.live(id) {
		err := v.Store.Destroy(ctx, id)
		if s.unavailable(v, err) {
			first = errors.Join(first, err)
			continue
		}
		if err != nil {
			return err
		}
		reached = true
	}
	if reached {
		return nil
	}
	return first
}

// Exists reports whether id's session exists on its server or another live one.
func (s *Set) Exists(ctx context.Context, id string) (bool, error) {
	var ok bool
	v, err := s.try(id, func(v *server) (err error) {
		ok, err = v.Store.Exists(ctx, id)
		return err
	})
	if err != nil || ok {
		return ok, err
	}
	for _, f := range s.live(id) {
		if f == v {
			continue
		}
		if ok, err := f.Store.Exists(ctx, id); err == nil && ok {
			return true, nil
		} else {
			s.unavailable(f, err)
		}
	}
	return false, nil
}

// Info returns id's row from its server, or from another live server when it is
// missing there.
func (s *Set) Info(ctx context.Context, id string) (*pgsess.Session, error) {
	var sess *pgsess.Session
	v, err := s.try(id, func(v *server) (err error) {
		sess, err = v.Store.Info(ctx, id)
		return err
	})
	if err != nil || sess != nil {
		return sess, err
	}
	for _, f := range s.live(id) {
		if f == v {
			continue
		}
		if sess, err := f.Store.Info(ctx, id); err == nil && sess != nil {
			return sess, nil
		} else {
			s.unavailable(f, err)
		}
	}
	return nil, nil
}

// GC collects the expired sessions of every live server and returns how many it
// removed in all; a server's failure is returned with the others' sum.
func (s *Set) GC(ctx context.Context) (int64, error) {
	var total int64
	var errs error
	for _, v := range s.servers {
		if !v.up.Load() {
			continue
		}
		n, err := v.Store.GC(ctx)
		s.unavailable(v, err)
		total += n
		errs = errors.Join(errs, err)
	}
	return total, errs
}

// RunGC runs every server's periodic garbage collection (each electing one collector
// among the daemons using that server) until ctx ends.
func (s *Set) RunGC(ctx context.Context, interval time.Duration) {
	s.each(func(v Store) { v.RunGC(ctx, interval) })
}

// RunVacuum runs every server's periodic vacuum until ctx ends.
func (s *Set) RunVacuum(ctx context.Context, interval time.Duration) {
	s.each(func(v Store) { v.RunVacuum(ctx, interval) })
}

// each runs f on every server's store at once and waits for all.
func (s *Set) each(f func(Store)) {
	var wg sync.WaitGroup
	for _, v := range s.servers {
		wg.Add(1)
		go func() { defer wg.Done(); f(v.Store) }()
	}
	wg.Wait()
}

// SetExpiry applies keep_expired and gc_maxlifetime to every server.
func (s *Set) SetExpiry(keepExpired bool, maxLifetime time.Duration) {
	for _, v := range s.servers {
		v.Store.SetExpiry(keepExpired, maxLifetime)
	}
}

// Ready waits until every server answers and its table is usable, or ctx ends; it
// fails only when no server got ready.
func (s *Set) Ready(ctx context.Context) error {
	errs := make([]error, len(s.servers))
	var wg sync.WaitGroup
	for i, v := range s.servers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = v.Store.Ready(ctx) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	return errors.Join(errs...)
}

// Ping reports whether a live server answers and its table is usable.
func (s *Set) Ping(ctx context.Context) error {
	var errs error
	for _, v := range s.servers {
		if !v.up.Load() {
			continue
		}
		err := v.Store.Ping(ctx)
		if err == nil {
			return nil
		}
		errs = errors.Join(errs, err)
	}
	if errs == nil {
		return errors.Join(pgsess.ErrUnavailable, errors.New("every database server is down"))
	}
	return errs
}

// Status reports every server's state in order, asking them at once: up when the set
// uses it and it answers.
func (s *Set) Status(ctx context.Context) []pgsess.ServerStatus {
	out := make([]pgsess.ServerStatus, len(s.servers))
	var wg sync.WaitGroup
	for i, v := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := v.Store.Status(ctx)
			if len(st) > 0 {
				out[i] = st[0]
			}
			out[i].Up = out[i].Up && v.up.Load()
		}()
	}
	wg.Wait()
	return out
}

// Reset closes every server's connections and checks every server at once: one that
// answers is up.
func (s *Set) Reset() {
	for _, v := range s.servers {
		v.Store.Reset()
	}
	s.check(1)
}

// PoolStat sums the servers' pool counts.
func (s *Set) PoolStat() pgsess.PoolStat {
	var t pgsess.PoolStat
	for _, v := range s.servers {
		st := v.Store.PoolStat()
		t.Conns += st.Conns
		t.IdleConns += st.IdleConns
	}
	return t
}

// LockStat sums the servers' lock connection counters.
func (s *Set) LockStat() pgsess.LockStat {
	var t pgsess.LockStat
	for _, v := range s.servers {
		st := v.Store.LockStat()
		t.Batches += st.Batches
		t.Jobs += st.Jobs
		t.Reconnects += st.Reconnects
	}
	return t
}
