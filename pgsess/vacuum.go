package pgsess

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// NotOwnerError is returned by Vacuum when the store's role may not vacuum the table:
// PostgreSQL then skips it with a warning and does nothing. Only the table's owner (or
// the database's owner, a superuser, or from PostgreSQL 17 a role with MAINTAIN) may.
type NotOwnerError struct {
	Role, Owner, Table string
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("cannot vacuum: role %s does not own table %s (%s does); grant ownership (ALTER TABLE %s OWNER TO %s) or set session_pgsql.vacuum_interval = 0",
		e.Role, e.Table, e.Owner, e.Table, e.Role)
}

// sqlstateLockNotAvailable is what VACUUM (SKIP_LOCKED) warns with when another session
// holds the table's vacuum lock.
const sqlstateLockNotAvailable = "55P03"

// Vacuum runs VACUUM (ANALYZE) of the session table once, unless another session is
// vacuuming it at the moment: then it returns false and a nil error at once, without
// waiting. VACUUM takes a lock on the table that two VACUUMs cannot both hold (and
// SKIP_LOCKED makes the second skip instead of wait), so daemons sharing the database
// never vacuum it at the same time, and neither do they while autovacuum does. That
// election needs no session state, so it works behind PgBouncer in transaction mode,
// where an advisory lock held across the VACUUM would not (VACUUM cannot run inside a
// transaction, which a transaction-scoped lock would need). It needs PostgreSQL 12.
//
// A role that may not vacuum the table gets a *NotOwnerError, from the catalog asked
// before the VACUUM (a non-owner's VACUUM only warns, in the server's language, and
// asking after it would take a grant made meanwhile for a vacuum done); other warnings
// of VACUUM are logged. Vacuum never reindexes: see README.md. It runs on a connection
// of its own, opened for the call, so that PostgreSQL's warnings reach it.
func (s *Store) Vacuum(ctx context.Context) (vacuumed bool, err error) {
	if err := s.init(ctx); err != nil {
		return false, err
	}
	var warnings []*pgconn.Notice
	cfg := s.pool.Config().ConnConfig
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if n.SeverityUnlocalized == "WARNING" {
			warnings = append(warnings, n)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, s.wrap(err)
	}
	defer conn.Close(context.Background())
	var role, owner string
	var may bool
	if err := conn.QueryRow(ctx, s.sql.vacuumOwner, s.table).Scan(&role, &owner, &may); err != nil {
		return false, s.wrap(err)
	}
	if !may {
		return false, &NotOwnerError{Role: role, Owner: owner, Table: s.opts.Table}
	}
	if _, err := conn.Exec(ctx, s.sql.vacuum); err != nil {
		return false, s.wrap(err)
	}
	for _, w := range warnings {
		if w.Code == sqlstateLockNotAvailable {
			return false, nil
		}
	}
	for _, w := range warnings {
		s.log.Warn().Str("table", s.opts.Table).Str("sqlstate", w.Code).Str("warning", w.Message).Msg("vacuum: PostgreSQL warned")
	}
	return true, nil
}

// RunVacuum runs Vacuum every interval until ctx ends, logging each run. A role that may
// not vacuum the table is reported in one warning, not at every interval; the runs go
// on quietly, so that granting ownership later needs no restart (logged too).
func (s *Store) RunVacuum(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	denied := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		vacuumed, err := s.Vacuum(ctx)
		var notOwner *NotOwnerError
		switch {
		case errors.As(err, &notOwner):
			if !denied {
				s.log.Warn().Str("table", s.opts.Table).Str("role", notOwner.Role).Str("owner", notOwner.Owner).Msg(err.Error())
			} else {
				s.log.Debug().Str("table", s.opts.Table).Msg("vacuum skipped: still not the table's owner")
			}
			denied = true
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn().Err(err).Str("table", s.opts.Table).Msg("vacuum failed")
		case !vacuumed:
			s.log.Debug().Str("table", s.opts.Table).Msg("vacuum skipped: another daemon or autovacuum is vacuuming the table")
		default:
			ev := s.log.Info()
			if denied {
				ev = ev.Bool("permitted_again", true)
			}
			ev.Str("table", s.opts.Table).Dur("took", time.Since(start)).Msg("vacuum (analyze)")
			denied = false
		}
	}
}
