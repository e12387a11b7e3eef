package serverset

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/phpsessd/phpsessd/pgsess"
)

// Lister is a Store that lists its sessions (pgsess.Store.List).
type Lister interface {
	List(ctx context.Context, f pgsess.Filter, after string, limit int) ([]*pgsess.Session, error)
}

// List returns up to limit sessions that f selects on every live server, after the
// given id, in id order, as pgsess.Store.List does for one: each server's page after
// that id, merged in byte order (pgsess's), and the first limit of them, so that the
// next call goes on from the last id returned and nothing is skipped or seen twice. A
// session on two servers (a copy left on a fallback, until it is moved home or
// collected) is listed once. A server that fails is marked down and left out: List
// returns what the others hold, with the error.
func (s *Set) List(ctx context.Context, f pgsess.Filter, after string, limit int) ([]*pgsess.Session, error) {
	var all []*pgsess.Session
	var errs error
	for _, v := range s.servers {
		l, ok := v.Store.(Lister)
		if !ok || !v.up.Load() {
			continue
		}
		page, err := l.List(ctx, f, after, limit)
		if s.unavailable(v, err) || err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		all = append(all, page...)
	}
	slices.SortStableFunc(all, func(a, b *pgsess.Session) int { return strings.Compare(a.ID, b.ID) })
	all = slices.CompactFunc(all, func(a, b *pgsess.Session) bool { return a.ID == b.ID })
	if len(all) > limit {
		all = all[:limit]
	}
	return all, errs
}

// Importer is a Store that imports sessions with their own times
// (pgsess.Store.Import).
type Importer interface {
	Import(ctx context.Context, id, name string, data []byte, modified, expire int64) (bool, error)
}

// Import stores a session moved from elsewhere on its server, as pgsess.Store.Import
// does on one, unless a live session has its id on any live server (Exists); it
// reports whether it wrote the session.
func (s *Set) Import(ctx context.Context, id, name string, data []byte, modified, expire int64) (bool, error) {
	if live, err := s.Exists(ctx, id); err != nil || live {
		return false, err
	}
	var wrote bool
	_, err := s.try(id, func(v *server) (err error) {
		im, ok := v.Store.(Importer)
		if !ok {
			return errors.New("serverset: this server's store cannot import sessions")
		}
		wrote, err = im.Import(ctx, id, name, data, modified, expire)
		return err
	})
	return wrote, err
}
