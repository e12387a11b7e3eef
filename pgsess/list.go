package pgsess

import (
	"context"
	"fmt"
)

// State selects sessions by their expiry (Filter).
type State int

const (
	// Live sessions have not expired.
	Live State = iota
	// Expired sessions have, and their rows are still there (keep_expired, or before
	// garbage collection).
	Expired
	// AnyState is both.
	AnyState
)

// Filter selects the sessions List returns. The zero Filter selects every live
// session.
type Filter struct {
	State State
	// IDPrefix, when set, selects the ids that start with it.
	IDPrefix string
	// Addr, when set, selects the sessions created or last modified from that address.
	Addr string
}

// MaxListPage bounds List's limit.
const MaxListPage = 10000

// List returns up to limit sessions (1 to MaxListPage) that f selects whose id sorts
// after the given one ("" from the first), in id order (byte order, whatever the
// database's collation), as stored: expired ones with
// their data. It takes no lock and changes nothing. To walk the whole table, call it
// again with the last id it returned until it returns fewer than limit; sessions
// written meanwhile may or may not be seen, none is seen twice.
func (s *Store) List(ctx context.Context, f Filter, after string, limit int) ([]*Session, error) {
	if limit < 1 || limit > MaxListPage {
		return nil, fmt.Errorf("pgsess: List: limit %d is not within 1 to %d", limit, MaxListPage)
	}
	if f.State < Live || f.State > AnyState {
		return nil, fmt.Errorf("pgsess: List: unknown state %d", f.State)
	}
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	var page []*Session
	err := s.try(ctx, ifLost, func() error {
		page = page[:0]
		rows, err := s.pool.Query(ctx, s.sql.list, after, f.IDPrefix, f.Addr, int(f.State), s.now().Unix(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			sess, err := s.scanSession(rows, &id)
			if err != nil {
				return err
			}
			sess.ID = id
			page = append(page, sess)
		}
		return rows.Err()
	})
	return page, s.wrap(err)
}
