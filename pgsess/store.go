// Package pgsess keeps PHP sessions in PostgreSQL, in the php_session table of the
// session_pgsql extension. It is the only package of phpsessd that speaks SQL.
//
// The table layout is the extension's (extra columns and indexes are allowed, the
// original columns must exist):
//
//	CREATE TABLE php_session (
//	  sess_id text PRIMARY KEY, sess_name text, sess_data text,
//	  sess_created integer, sess_modified integer, sess_expire integer,
//	  sess_addr_created text, sess_addr_modified text, sess_counter integer,
//	  sess_error integer, sess_warning integer, sess_notice integer,
//	  sess_err_message text, sess_custom text);
//
// Times are Unix seconds and sess_expire = sess_modified + the configured lifetime.
// sess_data, sess_custom and sess_err_message hold plain text as is and anything else
// (NUL bytes, invalid UTF-8) in a reversible base64 form; see binaryPrefix.
//
// The store needs only SELECT, INSERT, UPDATE and DELETE on the table (and CREATE on the
// schema when CreateTable is set); it never relies on a unique index, so tables created
// by old versions of the extension without a primary key keep working (except with the
// Lease lock method, which needs one on sess_id).
//
// How a session is locked across daemons is one value, Options.Locks (a LockMethod:
// HostOnly, Lease or Advisory); Store.LocksAcrossDaemons says which kind the store has,
// so that nothing else has to agree with it. The lock front (Lock, Release, NewToken,
// and Write and Touch with a token) is in locks.go; each method's locker, which owns
// the locks it holds, in lease.go and advisory.go.
package pgsess

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// Options configure a Store.
type Options struct {
	// DSN is the libpq connection string (keyword=value or URL) of the store's one
	// server; several servers are several stores.
	DSN string
	// Password is used when the connection string, PGPASSWORD and PGPASSFILE give
	// none. It is never logged.
	Password string
	// Table is the session table, optionally schema-qualified ("php_session").
	Table string
	// CreateTable creates the table (and an index on sess_expire) when it is missing.
	CreateTable bool
	// KeepExpired keeps an expired row's metadata (counter, creation time and address,
	// custom field, error counters) and drops only its data. Off: the expired row is
	// deleted and the next write inserts a fresh one.
	KeepExpired bool
	// MaxLifetime is session.gc_maxlifetime: sess_expire = sess_modified + MaxLifetime.
	MaxLifetime time.Duration
	// SynchronousCommit off sets synchronous_commit=off on the store's connections: a
	// crash of PostgreSQL may then lose the last writes acknowledged to PHP.
	SynchronousCommit bool
	// Locks is how sessions are locked across daemons (see LockMethod); nil is
	// HostOnly.
	Locks LockMethod
	// PreparedStatements uses named prepared statements; without, each statement is
	// sent unnamed, which PgBouncer before 1.21 supports in transaction pooling mode.
	PreparedStatements bool
	// MaxConns bounds the connection pool; 0 means pgxpool's default.
	MaxConns int32
	// Decode, when set, keeps the decoded session beside sess_data in an extra jsonb
	// column, sess_decoded, filled on every write from Decode(data) (NULL when Decode
	// fails: the data is stored as sent, and DecodeFailures counts it). With
	// CreateTable the column and a GIN index on it are added when missing; without,
	// a missing column is an error that names the statement to run. Nil: the table is
	// exactly the extension's.
	Decode func(data []byte) (json []byte, err error)
	// Logger receives connection and maintenance events, never session data.
	Logger zerolog.Logger
}

// Meta is what a session row holds besides its data that PHP code can change: the
// custom field and the error counters of session_pgsql_set_field and
// session_pgsql_add_error.
type Meta struct {
	Custom     string
	Error      int64
	Warning    int64
	Notice     int64
	ErrMessage string
}

// Session is one row of the session table.
type Session struct {
	ID           string
	Name         string
	Data         []byte
	Created      int64
	Modified     int64
	Expire       int64
	AddrCreated  string
	AddrModified string
	Counter      int64
	Meta
}

// Write is what WRITE stores: the data and meta of one session, from one client.
type Write struct {
	ID   string
	Name string
	Data []byte
	Meta
	// Addr is the client's REMOTE_ADDR; it becomes sess_addr_modified, and
	// sess_addr_created for a new row.
	Addr string
	// Token, when set, is the lock the writer holds (see Lock): the write happens only
	// under it, and ends it.
	Token string
	// Keep, with Token, keeps holding the lock after the write, for a next Lock or
	// Write with the same token, where the lock method allows it (KeepsLocks);
	// otherwise the write ends the lock as usual.
	Keep bool
}

// ErrLocked is returned by Lock when another daemon's lock (a live lease, an advisory
// lock) holds the session.
var ErrLocked = errors.New("session is locked by another daemon")

// ErrLeaseLost is returned by a write under a lock that is no longer the caller's: a
// lease expired and another owner took it, or the row was deleted; or the connection
// holding an advisory lock dropped. Nothing was written.
var ErrLeaseLost = errors.New("lost the session's lock before writing (its lease expired, or its database connection dropped); nothing was written")

// ErrUnavailable wraps errors that come from not reaching the database (as opposed to
// the database refusing a statement).
var ErrUnavailable = errors.New("database unavailable")

// Store reads and writes sessions. Its methods are safe for concurrent use. They take a
// context that bounds how long they may wait for a connection and for PostgreSQL.
type Store struct {
	opts Options
	log  zerolog.Logger
	sql  statements
	now  func() time.Time

	pool  *pgxpool.Pool
	desc  string // the server, without password, for logs and status
	table string // the quoted table identifier

	initMu sync.Mutex  // serialises init
	ready  atomic.Bool // init succeeded

	decodeFailures atomic.Uint64 // writes whose data Options.Decode refused

	keepExpired atomic.Bool  // Options.KeepExpired, as SetExpiry last set it
	lifetimeSec atomic.Int64 // Options.MaxLifetime in seconds, as SetExpiry last set it

	// statements batches the statements of session requests. See batcher.
	statements *batcher

	// locks is the lock method at work (nil: HostOnly); see locks.go.
	locks  locker
	owner  string        // lock tokens' first part (Lease.Owner)
	boot   string        // this run's part of lock tokens
	tokens atomic.Uint64 // lock tokens minted

	stop chan struct{} // closed by Close

	closeOnce sync.Once
}

// Open prepares a Store. It does not wait for the database: a server that is down
// makes the methods return ErrUnavailable until it is back. Call Ready to wait for it.
func Open(opts Options) (*Store, error) {
	if opts.Table == "" {
		opts.Table = "php_session"
	}
	lease, leased := opts.Locks.(Lease)
	owner := lease.Owner
	if owner == "" {
		owner = "anonymous-" + randomHex(6) // a stranger to every earlier run
	}
	cfg, err := parseDSN(opts.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.ConnConfig.Password == "" && opts.Password != "" {
		cfg.ConnConfig.Password = opts.Password
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "phpsessd"
	}
	if !opts.SynchronousCommit {
		rp["synchronous_commit"] = "off"
	}
	if !opts.PreparedStatements {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("pgsess: %w", err)
	}
	s := &Store{
		opts:  opts,
		log:   opts.Logger,
		sql:   newStatements(tableIdent(opts.Table), leased, opts.Decode != nil),
		table: tableIdent(opts.Table),
		now:   time.Now,
		pool:  pool,
		desc:  describe(cfg.ConnConfig),
		stop:  make(chan struct{}),
		owner: owner,
		boot:  randomHex(6),
	}
	s.SetExpiry(opts.KeepExpired, opts.MaxLifetime)
	// One batch in flight per kind: the requests arriving meanwhile make the next one.
	// More senders made smaller batches, more commits and less throughput (make bench).
	s.statements = newBatcher(pool, 1, maxBatch, nil, nil, s.stop)
	if s.locks, err = newLocker(s, opts.Locks); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections; later calls do nothing. The Store must not be used
// afterwards.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.pool.Close()
	})
}

// Ready waits until the database answers and the table is usable, retrying with
// exponential backoff (logged) until ctx ends.
func (s *Store) Ready(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := s.init(ctx)
		if err == nil {
			return nil
		}
		s.log.Warn().Err(err).Str("server", s.desc).Dur("retry_in", delay).Msg("database not ready")
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// init checks (and with CreateTable creates) the table once per Store.
func (s *Store) init(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if s.ready.Load() {
		return nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, s.sql.tableExists, s.table).Scan(&exists); err != nil {
		return s.wrap(err)
	}
	if !exists {
		if !s.opts.CreateTable {
			return fmt.Errorf("pgsess: table %s does not exist and session_pgsql.create_table is off", s.opts.Table)
		}
		if err := s.migrate(ctx, s.sql.createTable); err != nil {
			return err
		}
		s.log.Info().Str("table", s.opts.Table).Str("server", s.desc).Msg("created session table")
	}
	if s.sql.decoded {
		if err := s.initDecoded(ctx); err != nil {
			return err
		}
	}
	if s.locks != nil {
		if err := s.locks.init(ctx); err != nil {
			return err
		}
	}
	s.ready.Store(true)
	s.log.Info().Str("server", s.desc).Msg("database ready")
	return nil
}

// migrate runs a schema change that is idempotent (IF NOT EXISTS) under a lock that
// serialises it with the same change by other daemons starting at the same moment,
// which would otherwise collide in the catalog.
func (s *Store) migrate(ctx context.Context, ddl string) error {
	return s.wrap(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sql.migrateLock, s.table); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, ddl)
		return err
	}))
}

// Read returns the session with the given id, or nil when there is none.
//
// An expired session (sess_expire in the past) is handled as KeepExpired says: off, its
// row is deleted and Read returns nil; on, Read returns the row with Data nil, so the
// next Write keeps its metadata.
func (s *Store) Read(ctx context.Context, id string) (*Session, error) {
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	sess, err := s.get(ctx, id)
	if err != nil || sess == nil {
		return nil, err
	}
	return s.unexpired(sess, s.now().Unix(), func() (*Session, error) {
		return nil, s.wrap(s.exec(ctx, ifUnsent, s.sql.delete, id))
	})
}

// unexpired applies the expiry rule to sess, just read at now: a session whose
// sess_expire is in the past has expired (a missing or zero sess_expire never does;
// the rule's SQL is expiredBefore), and KeepExpired decides what becomes of it. A live
// session is returned as is; an expired one, with KeepExpired, as a copy without its
// data (the row, and the next write, keep its metadata); without, drop ends the row
// (deletes or resets it) and unexpired returns what drop does.
func (s *Store) unexpired(sess *Session, now int64, drop func() (*Session, error)) (*Session, error) {
	if sess.Expire == 0 || sess.Expire >= now {
		return sess, nil
	}
	if s.keepExpired.Load() {
		kept := *sess
		kept.Data = nil
		return &kept, nil
	}
	return drop()
}

// fresh is a new session as a lock's READ returns it, before its first write.
func (s *Store) fresh(id, name, addr string, now int64) *Session {
	return &Session{ID: id, Name: name, Created: now, Modified: now, Expire: now + s.lifetime(),
		AddrCreated: addr, AddrModified: addr}
}

// Info returns the session row as stored, expired or not, or nil when there is none.
func (s *Store) Info(ctx context.Context, id string) (*Session, error) {
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	return s.get(ctx, id)
}

func (s *Store) get(ctx context.Context, id string) (*Session, error) {
	var sess *Session
	err := s.try(ctx, ifLost, func() error {
		return s.statements.do(ctx, s.sql.read, func(br pgx.BatchResults) (err error) {
			sess, err = s.scan(id, br.QueryRow())
			return err
		}, id)
	})
	return sess, s.wrap(err)
}

// Write stores w, creating the row if it is missing: a new row gets sess_created and
// sess_addr_created and a counter of 1, an existing one has its counter incremented.
// sess_modified is now and sess_expire now + MaxLifetime.
//
// With w.Token, the row is written only if that lock still holds it, and the lock
// ends; otherwise Write returns ErrLeaseLost and writes nothing.
func (s *Store) Write(ctx context.Context, w Write) error {
	if err := s.init(ctx); err != nil {
		return err
	}
	now := s.now().Unix()
	row := &writeRow{id: w.ID, name: w.Name, data: encodeText(w.Data), modified: now, expire: now + s.lifetime(),
		addr: w.Addr, error: w.Error, warning: w.Warning, notice: w.Notice,
		errMessage: encodeText([]byte(w.ErrMessage)), custom: encodeText([]byte(w.Custom))}
	row.decoded = s.decode(w.Data)
	if w.Token != "" {
		if s.locks == nil {
			return ErrLeaseLost // the token holds no lock
		}
		return s.locks.write(ctx, w.Token, row, w.Keep)
	}
	var n int64
	args := s.sql.writeArgs([]*writeRow{row})
	return s.wrap(s.upsert(ctx, func() error { return s.statements.do(ctx, s.sql.write, rowsAffected(&n), args...) }))
}

// writeRow is one session's row for the write statement.
type writeRow struct {
	id, name, data         string
	modified, expire       int64
	addr                   string
	error, warning, notice int64
	errMessage, custom     string
	decoded                *string // the decoded column's JSON; nil: NULL
}

// writeArgs returns the write statement's arguments for rows: one array per column,
// the decoded column's last when the table has it.
func (st *statements) writeArgs(rows []*writeRow) []any {
	n := len(rows)
	ids, names, data, addrs, msgs, customs := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	modified, expire, errs, warnings, notices := make([]int64, n), make([]int64, n), make([]int64, n),
		make([]int64, n), make([]int64, n)
	for i, r := range rows {
		ids[i], names[i], data[i], addrs[i], msgs[i], customs[i] = r.id, r.name, r.data, r.addr, r.errMessage, r.custom
		modified[i], expire[i], errs[i], warnings[i], notices[i] = r.modified, r.expire, r.error, r.warning, r.notice
	}
	args := []any{ids, names, data, modified, expire, addrs, errs, warnings, notices, msgs, customs}
	if st.decoded {
		decoded := make([]*string, n)
		for i, r := range rows {
			decoded[i] = r.decoded
		}
		args = append(args, decoded)
	}
	return args
}

// importArgs returns importRow's arguments, the decoded column's last when the table
// has it.
func (st *statements) importArgs(id, name, data string, modified, expire, now int64, decoded *string) []any {
	args := []any{id, name, data, modified, expire, now}
	if st.decoded {
		args = append(args, decoded)
	}
	return args
}

// writeLockedArgs returns writeLocked's arguments for row under token.
func (st *statements) writeLockedArgs(row *writeRow, token string) []any {
	args := []any{row.id, row.name, row.data, row.modified, row.expire, row.addr, row.error, row.warning,
		row.notice, row.errMessage, row.custom, token}
	if st.decoded {
		args = append(args, row.decoded)
	}
	return args
}

// upsert runs op, a statement that updates a row or inserts it where there is none
// without relying on a unique index, through try (ifUnsent), and once more when another
// writer inserted the row between the statement's check and its INSERT (a
// unique_violation, possible only without locking): now the row is there to update.
func (s *Store) upsert(ctx context.Context, op func() error) error {
	err := s.try(ctx, ifUnsent, op)
	if isUniqueViolation(err) {
		err = s.try(ctx, ifUnsent, op)
	}
	return err
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Touch refreshes sess_modified, sess_expire, sess_addr_modified and the counter
// without changing data or meta (PHP's lazy_write). A missing row is created empty, as
// PHP's files handler creates the file, so that use_strict_mode accepts the id later.
//
// With a token, Touch works like Write with one: only under that lock, which ends.
func (s *Store) Touch(ctx context.Context, id, name, addr, token string) error {
	if err := s.init(ctx); err != nil {
		return err
	}
	now := s.now().Unix()
	if token != "" {
		if s.locks == nil {
			return ErrLeaseLost // the token holds no lock
		}
		return s.locks.touch(ctx, id, name, addr, token, now, now+s.lifetime())
	}
	return s.wrap(s.upsert(ctx, func() error {
		_, err := s.pool.Exec(ctx, s.sql.touch, id, now, now+s.lifetime(), addr, name)
		return err
	}))
}

// Destroy deletes the session. Deleting a missing session is not an error.
func (s *Store) Destroy(ctx context.Context, id string) error {
	if err := s.init(ctx); err != nil {
		return err
	}
	return s.wrap(s.exec(ctx, ifUnsent, s.sql.delete, id))
}

// Import stores a session moved from elsewhere (PHP's files handler) with the times it
// had there: sess_created and sess_modified are modified, sess_expire is expire (Unix
// seconds), the counter 1 and the addresses empty. A row with the id that has not
// expired wins and stays as it is; an expired one (kept by KeepExpired, or not yet
// collected) is no session and is replaced. Import reports whether it wrote the row.
func (s *Store) Import(ctx context.Context, id, name string, data []byte, modified, expire int64) (bool, error) {
	if err := s.init(ctx); err != nil {
		return false, err
	}
	var n int64
	err := s.upsert(ctx, func() error {
		return s.pool.QueryRow(ctx, s.sql.importRow, s.sql.importArgs(id, name, encodeText(data), modified, expire,
			s.now().Unix(), s.decode(data))...).Scan(&n)
	})
	return n > 0, s.wrap(err)
}

// Put stores sess as it is — its times, addresses, counter and meta — replacing the row
// of its id (a lease on that row stays): for a session moved from another server, which
// keeps what it had there. The caller holds the session's lock, or knows that no
// request does.
func (s *Store) Put(ctx context.Context, sess *Session) error {
	if err := s.init(ctx); err != nil {
		return err
	}
	args := []any{sess.ID, sess.Name, encodeText(sess.Data), sess.Created, sess.Modified, sess.Expire,
		sess.AddrCreated, sess.AddrModified, sess.Counter, sess.Error, sess.Warning, sess.Notice,
		encodeText([]byte(sess.ErrMessage)), encodeText([]byte(sess.Custom))}
	if s.sql.decoded {
		args = append(args, s.decode(sess.Data))
	}
	return s.wrap(s.upsert(ctx, func() error {
		_, err := s.pool.Exec(ctx, s.sql.put, args...)
		return err
	}))
}

// Exists reports whether a session with this id exists and has not expired (PHP's
// validateId for use_strict_mode).
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	if err := s.init(ctx); err != nil {
		return false, err
	}
	var ok bool
	err := s.try(ctx, ifLost, func() error { return s.pool.QueryRow(ctx, s.sql.exists, id, s.now().Unix()).Scan(&ok) })
	return ok, s.wrap(err)
}

// GC removes expired sessions and returns how many rows it touched: it deletes them, or
// with KeepExpired empties their data and keeps the rows.
func (s *Store) GC(ctx context.Context) (int64, error) {
	if err := s.init(ctx); err != nil {
		return 0, err
	}
	var tag pgconn.CommandTag
	err := s.try(ctx, ifLost, func() (err error) {
		tag, err = s.pool.Exec(ctx, s.gcStatement(), s.now().Unix())
		return err
	})
	if err != nil {
		return 0, s.wrap(err)
	}
	return tag.RowsAffected(), nil
}

// RunGC runs GC every interval until ctx ends, logging what it removed. Daemons
// sharing the database elect one collector per round: a daemon that finds another
// collecting skips its round.
func (s *Store) RunGC(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, elected, err := s.electedGC(ctx)
		switch {
		case err != nil:
			s.log.Warn().Err(err).Msg("garbage collection failed")
		case !elected:
			s.log.Debug().Msg("garbage collection skipped: another daemon is collecting")
		default:
			s.log.Info().Int64("sessions", n).Msg("garbage collection")
		}
	}
}

// electedGC runs GC inside a transaction holding the cluster-wide collector lock, or
// reports that another daemon holds it.
func (s *Store) electedGC(ctx context.Context) (n int64, elected bool, err error) {
	if err := s.init(ctx); err != nil {
		return 0, false, err
	}
	err = s.try(ctx, ifLost, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, s.sql.gcElect, s.table).Scan(&elected); err != nil || !elected {
				return err
			}
			tag, err := tx.Exec(ctx, s.gcStatement(), s.now().Unix())
			n = tag.RowsAffected()
			return err
		})
	})
	return n, elected, s.wrap(err)
}

func (s *Store) gcStatement() string {
	if s.keepExpired.Load() {
		return s.sql.gcKeep
	}
	return s.sql.gcDelete
}

// Reset closes every connection of the pool; the next operations open new ones
// (session_pgsql_reset).
func (s *Store) Reset() { s.pool.Reset() }

// Ping reports whether the database answers and the table is usable. Like every
// operation, it tries again on a new connection when its connection turns out dead
// (after a restart of PostgreSQL).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.init(ctx); err != nil {
		return err
	}
	return s.wrap(s.ping(ctx))
}

func (s *Store) ping(ctx context.Context) error {
	return s.try(ctx, ifLost, func() error { return s.pool.Ping(ctx) })
}

// PoolStat counts the connection pool's connections at one moment.
type PoolStat struct {
	// Conns is every connection of the pool, idle, in use or being opened.
	Conns int32
	// IdleConns is those of Conns that no operation uses.
	IdleConns int32
}

// PoolStat returns the connection pool's counts now.
func (s *Store) PoolStat() PoolStat {
	st := s.pool.Stat()
	return PoolStat{Conns: st.TotalConns(), IdleConns: st.IdleConns()}
}

// ServerStatus describes one database server for session_pgsql_status.
type ServerStatus struct {
	Server    string `json:"server"`
	Up        bool   `json:"up"`
	Ready     bool   `json:"ready"`
	Conns     int32  `json:"conns"`
	IdleConns int32  `json:"idle_conns"`
}

// Status reports the server's state, as the one entry of the list. It pings the
// server, bounded by ctx.
func (s *Store) Status(ctx context.Context) []ServerStatus {
	st := s.PoolStat()
	ready := s.ready.Load()
	return []ServerStatus{{
		Server:    s.desc,
		Up:        s.ping(ctx) == nil,
		Ready:     ready,
		Conns:     st.Conns,
		IdleConns: st.IdleConns,
	}}
}

// SetExpiry changes KeepExpired and MaxLifetime for the operations that start from
// now on (a configuration reload).
func (s *Store) SetExpiry(keepExpired bool, maxLifetime time.Duration) {
	s.keepExpired.Store(keepExpired)
	s.lifetimeSec.Store(int64(maxLifetime / time.Second))
}

func (s *Store) lifetime() int64 { return s.lifetimeSec.Load() }

// repeat says when try may run an operation again after its connection failed.
type repeat int

const (
	// ifUnsent: only when nothing was committed (uncommitted): pgx sent nothing, or
	// the server refused the statement as read-only. For writes: one that PostgreSQL
	// may have received and committed is never repeated.
	ifUnsent repeat = iota
	// ifLost: after any failure of the connection, since running the operation twice
	// does what running it once does (a read, a lock take, garbage collection).
	ifLost
)

// try runs op, and when it failed because its connection did (connLost), runs it once
// more where rep allows, on a new connection: the failure resets the pool, since after
// a restart of PostgreSQL every connection opened before it is dead, which pgx learns
// only on using it, and after a failover every connection opened before it reaches a
// server that is no longer the primary, while new ones, with
// target_session_attrs=read-write, reach the new one (a lock connection that failed
// reconnects by itself, see lockConn).
// It returns op's error as is; callers wrap it. This is the only place an operation is
// repeated after its connection failed.
func (s *Store) try(ctx context.Context, rep repeat, op func() error) error {
	err := op()
	if err == nil || ctx.Err() != nil || !connLost(err) {
		return err
	}
	s.pool.Reset()
	if rep == ifUnsent && !uncommitted(err) {
		return err
	}
	s.log.Debug().Err(s.wrap(err)).Msg("database connection lost; trying again on a new one")
	return op()
}

// exec runs a statement on a connection of the pool, through try.
func (s *Store) exec(ctx context.Context, rep repeat, sql string, args ...any) error {
	return s.try(ctx, rep, func() error {
		_, err := s.pool.Exec(ctx, sql, args...)
		return err
	})
}

// connLost reports whether err is a failure of the connection rather than PostgreSQL
// refusing a statement or the caller giving up: a network or connect error, a
// connection pgx closed or timed out, a server error that ends the connection
// (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, class 08
// connection_exception), or 25006 read_only_sql_transaction: the connection reaches a
// server that cannot write (a standby, or a primary demoted by a failover), on which
// it is of no use although it stays open.
func connLost(err error) bool {
	if err == nil {
		return false // before the targets of errors.As, which escape to the heap
	}
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", readOnlySQLTransaction:
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	case errors.As(err, &connectErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false // the caller's context (which is a net.Error too)
	}
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

// readOnlySQLTransaction is SQLSTATE 25006: a statement that writes, on a server
// or in a transaction that is read-only.
const readOnlySQLTransaction = "25006"

// uncommitted reports whether an operation that failed with err certainly committed
// nothing, so that it may run again: pgx sent nothing (pgconn.SafeToRetry), or the
// server refused a statement as read-only (25006), which PostgreSQL raises when the
// statement starts, before it changes a row, and which aborts its transaction —
// the whole batch it was sent in, whose statements share one transaction.
func uncommitted(err error) bool {
	var pgErr *pgconn.PgError
	return pgconn.SafeToRetry(err) || (errors.As(err, &pgErr) && pgErr.Code == readOnlySQLTransaction)
}

// wrap marks errors of reaching the database with ErrUnavailable and keeps PostgreSQL's
// own message (never its detail, which may quote row values). The store's own errors
// pass unchanged.
func (s *Store) wrap(err error) error {
	if err == nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrLocked) || errors.Is(err, ErrPooled) || errors.Is(err, errStopped) {
		return err
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && connLost(err):
		return fmt.Errorf("%w: %s: %s (SQLSTATE %s)", ErrUnavailable, s.desc, pgErr.Message, pgErr.Code)
	case errors.As(err, &pgErr):
		return fmt.Errorf("pgsess: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.desc, err)
}

// describe names a server for humans: user@host:port/dbname, without the password;
// for a multi-host string (an HA cluster), every host in the order they are tried,
// user@host1:port1,host2:port2/dbname.
func describe(c *pgx.ConnConfig) string {
	hosts := []string{net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))}
	for _, f := range c.Fallbacks {
		// pgx adds a fallback per TLS mode to try on the same host: named once.
		if h := net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port))); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return fmt.Sprintf("%s@%s/%s", c.User, strings.Join(hosts, ","), c.Database)
}

// maxBatch bounds the statements sent in one batch.
const maxBatch = 64

// rowsAffected reads an Exec result's row count into n.
func rowsAffected(n *int64) func(pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		*n = tag.RowsAffected()
		return err
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tableIdent quotes a possibly schema-qualified table name.
func tableIdent(table string) string {
	return pgx.Identifier(strings.Split(table, ".")).Sanitize()
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
