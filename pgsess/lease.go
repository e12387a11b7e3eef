package pgsess

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// leaseLocks is the locker of Lease: a session's lock is a lease in two extra columns
// of its row (sess_lock, the holder's token; sess_lock_expire, when it ends in
// milliseconds of the database's clock), which the locker renews while it holds it.
type leaseLocks struct {
	s        *Store
	duration time.Duration
	held     holds[string] // token → the session it holds, to renew
	// batch sends the takes of leases, in transactions that commit asynchronously.
	batch *batcher
}

// newLeaseLocks returns the lease locker of s, renewing its leases until s closes.
func newLeaseLocks(s *Store, duration time.Duration) *leaseLocks {
	l := &leaseLocks{s: s, duration: duration,
		batch: newBatcher(s.pool, 1, maxBatch, s.sql.beginAsync, []string{s.sql.commit}, s.stop)}
	go l.renew()
	return l
}

func (l *leaseLocks) keeps() bool { return false }

// waitFree cannot wait: a lease ends by an UPDATE or by running out, neither of which
// wakes anyone.
func (l *leaseLocks) waitFree(context.Context, string) error { return ErrCannotWait }

// init makes sure the table can hold leases: the two lease columns (added when
// CreateTable is set) and a unique index on sess_id, which taking a lease relies on.
func (l *leaseLocks) init(ctx context.Context) error {
	s := l.s
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
	return l.releaseStale(ctx)
}

// releaseStale ends the leases an earlier run of the same owner left when it died, so
// that its sessions do not stay locked for a lease period after a restart.
func (l *leaseLocks) releaseStale(ctx context.Context) error {
	s := l.s
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

// lock takes the session's lease under token and reads the row, in one statement. A
// missing session gets its row there, empty; an expired one is handled as KeepExpired
// says, under the lease.
func (l *leaseLocks) lock(ctx context.Context, id, name, addr, token string) (*Session, error) {
	s := l.s
	now := s.now().Unix()
	sess, err := l.lockRead(ctx, id, name, now, addr, token)
	if err != nil || sess == nil {
		if err == nil {
			err = ErrLocked
		}
		return nil, err
	}
	l.held.put(token, id)
	return s.unexpired(sess, now, func() (*Session, error) {
		// Under the lease, running it twice sets the same values.
		if err := s.exec(ctx, ifLost, s.sql.resetExpired, id, token, now, s.lifetime(), addr); err != nil {
			return nil, s.wrap(err)
		}
		return s.fresh(id, name, addr, now), nil
	})
}

// lockRead runs the lockRead statement through the lease batcher, whose transactions
// commit without waiting for the disk. Taking a lease the token may hold already is
// safe to repeat.
func (l *leaseLocks) lockRead(ctx context.Context, id, name string, now int64, addr, token string) (*Session, error) {
	s := l.s
	var sess *Session
	err := s.try(ctx, ifLost, func() error {
		return l.batch.do(ctx, s.sql.lockRead, func(br pgx.BatchResults) (err error) {
			sess, err = s.scan(id, br.QueryRow())
			return err
		}, id, name, now, s.lifetime(), addr, token, l.duration.Milliseconds())
	})
	return sess, s.wrap(err)
}

func (l *leaseLocks) write(ctx context.Context, token string, row *writeRow, keep bool) error {
	return l.under(ctx, token, l.s.sql.writeLocked, l.s.sql.writeLockedArgs(row, token)...)
}

func (l *leaseLocks) touch(ctx context.Context, id, name, addr, token string, now, expire int64) error {
	return l.under(ctx, token, l.s.sql.touchLocked, id, now, expire, addr, token)
}

// under runs a statement that writes only under the lease token holds and ends it
// (writeLocked, touchLocked), through the batcher; nothing written means the lease was
// lost.
func (l *leaseLocks) under(ctx context.Context, token, sql string, args ...any) error {
	s := l.s
	l.held.drop(token)
	var n int64
	err := s.try(ctx, ifUnsent, func() error { return s.statements.do(ctx, sql, rowsAffected(&n), args...) })
	if err == nil && n == 0 {
		return ErrLeaseLost
	}
	return s.wrap(err)
}

// release ends the lease token holds on the session, if it still does.
func (l *leaseLocks) release(ctx context.Context, id, token string) error {
	l.held.drop(token)
	return l.s.wrap(l.s.exec(ctx, ifLost, l.s.sql.release, id, token))
}

// renew extends every held lease three times per lease period, in one statement, until
// the Store closes.
func (l *leaseLocks) renew() {
	s := l.s
	t := time.NewTicker(l.duration / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		var ids, tokens []string
		l.held.each(func(token, id string) { ids, tokens = append(ids, id), append(tokens, token) })
		if len(ids) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.duration/3)
		var tag pgconn.CommandTag
		err := s.try(ctx, ifLost, func() (err error) {
			tag, err = s.pool.Exec(ctx, s.sql.renew, ids, tokens, l.duration.Milliseconds())
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
