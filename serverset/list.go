package serverset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/phpsessd/phpsessd/pgsess"
)

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
		if !v.up.Load() {
			continue
		}
		page, err := v.Store.List(ctx, f, after, limit)
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

// Import stores a session moved from elsewhere on its server, as pgsess.Store.Import
// does on one, unless a live session has its id on any live server (Exists); it
// reports whether it wrote the session.
func (s *Set) Import(ctx context.Context, id, name string, data []byte, modified, expire int64) (bool, error) {
	if live, err := s.Exists(ctx, id); err != nil || live {
		return false, err
	}
	var wrote bool
	_, err := s.try(id, func(v *server) (err error) {
		wrote, err = v.Store.Import(ctx, id, name, data, modified, expire)
		return err
	})
	return wrote, err
}

// DecodeFailures sums the servers' counts of writes whose data did not decode for the
// decoded column.
func (s *Set) DecodeFailures() uint64 {
	var n uint64
	for _, v := range s.servers {
		n += v.Store.DecodeFailures()
	}
	return n
}

// Backfill fills the decoded column on every live server in turn, as
// pgsess.Store.Backfill does on one; progress gets the running totals. A server that
// fails is marked down; the others are still filled, and the error is returned with
// the totals.
func (s *Set) Backfill(ctx context.Context, progress func(filled, failed int64)) (filled, failed int64, err error) {
	var errs error
	for _, v := range s.servers {
		if !v.up.Load() {
			errs = errors.Join(errs, fmt.Errorf("serverset: %s is down: not backfilled", v.Name))
			continue
		}
		base, baseFailed := filled, failed
		f, fl, err := v.Store.Backfill(ctx, func(f, fl int64) {
			if progress != nil {
				progress(base+f, baseFailed+fl)
			}
		})
		filled, failed = filled+f, failed+fl
		s.unavailable(v, err)
		errs = errors.Join(errs, err)
	}
	return filled, failed, errs
}
