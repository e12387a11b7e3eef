package pgsess

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// initLease makes sure the table can hold leases: the two lease columns (added when
// CreateTable is set) and a unique index on sess_id, which taking a lease relies on.
func (s *Store) initLease(ctx context.Context) error {
	var cols, unique bool
	if err := s.pool.QueryRow(ctx, s.sql.leaseSchema, s.table).Scan(&cols, &unique); err != nil {
		return s.wrap(err)
	}
	if !cols && s.opts.CreateTable {
		if err := s.migrate(ctx, s.sql.addLease); err != nil {
			return err
		}
		s.log.Info().Str("table", s.opts.Table).Msg("added the lock columns sess_lock and sess_lock_expire")
		cols = true
	}
	if !cols {
		return fmt.Errorf("pgsess: table %s lacks the columns of session_pgsql.lock_scope = cluster: "+
			"run ALTER TABLE %s ADD COLUMN sess_lock text, ADD COLUMN sess_lock_expire bigint; or set session_pgsql.lock_scope = host",
			s.opts.Table, s.table)
	}
	if !unique {
		return fmt.Errorf("pgsess: table %s has no primary key or unique index on sess_id, which session_pgsql.lock_scope = cluster needs: "+
			"run ALTER TABLE %s ADD PRIMARY KEY (sess_id); or set session_pgsql.lock_scope = host", s.opts.Table, s.table)
	}
	return s.releaseStale(ctx)
}

// NewToken returns a lease token that no other lock of any daemon uses: the owner
// (Lease.Owner), this Store's boot id, and a sequence number.
func (s *Store) NewToken() string {
	return fmt.Sprintf("%s/%s/%d", s.owner, s.boot, s.tokens.Add(1))
}

// releaseStale ends the leases an earlier run of the same owner left when it died, so
// that its sessions do not stay locked for a lease period after a restart.
func (s *Store) releaseStale(ctx context.Context) error {
	owner := likeEscaper.Replace(s.owner)
	var tag pgconn.CommandTag
	err := s.try(ctx, ifLost, func() (err error) {
		tag, err = s.pool.Exec(ctx, s.sql.releaseStale, owner+"/%", owner+"/"+s.boot+"/%")
		return err
	})
	if err != nil {
		return s.wrap(err)
	}
	if n := tag.RowsAffected(); n > 0 {
		s.log.Info().Int64("sessions", n).Msg("released the locks of this daemon's previous run")
	}
	return nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Lock takes the session's lease under token and returns the session, in one
// statement. A missing session is created empty (so Lock never returns nil without an
// error); the caller holds the lease until Write or Touch with the same token, or
// Release, and the Store renews it meanwhile. A token may take its own lease again.
//
// When another token's live lease holds the session, Lock returns ErrLocked and changes
// nothing: the caller waits and tries again. An expired session is handled as
// KeepExpired says (see Read), under the lease.
func (s *Store) Lock(ctx context.Context, id, token, name, addr string) (*Session, error) {
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	if s.advisory {
		return s.lockAdvisory(ctx, id, token, name, addr)
	}
	now := s.now().Unix()
	sess, err := s.lockRead(ctx, id, name, now, addr, token)
	if err != nil || sess == nil {
		if err == nil {
			err = ErrLocked
		}
		return nil, err
	}
	s.hold(token, hold{id: id})
	if sess.Expire == 0 || sess.Expire >= now {
		return sess, nil
	}
	if s.keepExpired.Load() {
		sess.Data = nil
		return sess, nil
	}
	// Under the lease, running it twice sets the same values.
	if err := s.exec(ctx, ifLost, s.sql.resetExpired, id, token, now, s.lifetime(), addr); err != nil {
		return nil, s.wrap(err)
	}
	return &Session{ID: id, Name: name, Created: now, Modified: now, Expire: now + s.lifetime(),
		AddrCreated: addr, AddrModified: addr}, nil
}

// lockRead runs the lockRead statement through the lease batcher, whose transactions
// commit without waiting for the disk. Taking a lease the token may hold already is
// safe to repeat.
func (s *Store) lockRead(ctx context.Context, id, name string, now int64, addr, token string) (*Session, error) {
	var sess *Session
	err := s.try(ctx, ifLost, func() error {
		return s.leases.do(ctx, s.sql.lockRead, func(br pgx.BatchResults) (err error) {
			sess, err = s.scan(id, br.QueryRow())
			return err
		}, id, name, now, s.lifetime(), addr, token, s.lease.Milliseconds())
	})
	return sess, s.wrap(err)
}

// Release ends the lease token holds on the session, if it still does.
func (s *Store) Release(ctx context.Context, id, token string) error {
	if s.advisory {
		return s.endAdvisory(ctx, token, &lockJob{})
	}
	s.unhold(token)
	return s.wrap(s.exec(ctx, ifLost, s.sql.release, id, token))
}

func (s *Store) hold(token string, h hold) {
	s.heldMu.Lock()
	s.held[token] = h
	s.heldMu.Unlock()
}

func (s *Store) holdOf(token string) (hold, bool) {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	h, ok := s.held[token]
	return h, ok
}

func (s *Store) unhold(token string) {
	s.heldMu.Lock()
	delete(s.held, token)
	s.heldMu.Unlock()
}

// renewLeases extends every held lease three times per lease period, in one statement,
// until Close.
func (s *Store) renewLeases() {
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.heldMu.Lock()
		ids, tokens := make([]string, 0, len(s.held)), make([]string, 0, len(s.held))
		for token, h := range s.held {
			ids, tokens = append(ids, h.id), append(tokens, token)
		}
		s.heldMu.Unlock()
		if len(ids) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
		var tag pgconn.CommandTag
		err := s.try(ctx, ifLost, func() (err error) {
			tag, err = s.pool.Exec(ctx, s.sql.renew, ids, tokens, s.lease.Milliseconds())
			return err
		})
		cancel()
		switch {
		case err != nil:
			s.log.Warn().Err(s.wrap(err)).Int("leases", len(ids)).Msg("renewing session locks failed")
		case tag.RowsAffected() < int64(len(ids)):
			// Released meanwhile, destroyed by their holder, or lost: a lost lease
			// fails its holder's write with ErrLeaseLost.
			s.log.Debug().Int("leases", len(ids)).Int64("renewed", tag.RowsAffected()).Msg("some session locks ended before renewal")
		}
	}
}

// scan reads one row of columns, or nil when there is none. Its errors are pgx's, not
// wrapped.
func (s *Store) scan(id string, row pgx.Row) (*Session, error) {
	sess, err := s.scanSession(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sess.ID = id
	return sess, nil
}

// scanSession scans a row of columns, after the destinations of the columns before
// them, into a Session without ID.
func (s *Store) scanSession(row pgx.Row, before ...any) (*Session, error) {
	sess := &Session{}
	var data, custom, msg string
	var expire *int64
	err := row.Scan(append(before, &sess.Name, &data, &sess.Created, &sess.Modified, &expire,
		&sess.AddrCreated, &sess.AddrModified, &sess.Counter,
		&sess.Error, &sess.Warning, &sess.Notice, &msg, &custom)...)
	if err != nil {
		return nil, err
	}
	if expire != nil {
		sess.Expire = *expire
	}
	sess.Data = decodeText(data)
	sess.Custom = string(decodeText(custom))
	sess.ErrMessage = string(decodeText(msg))
	return sess, nil
}
