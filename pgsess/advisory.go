package pgsess

import (
	"context"
	"errors"
	"hash/maphash"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Advisory locks (Options.AdvisoryLocks): a session's lock across daemons is a
// session-level PostgreSQL advisory lock, named after the table and the session id and
// held on one of a few dedicated connections of the daemon (lockConn). Taking it writes
// nothing: a READ is the lock and a plain SELECT, in one round trip. A lock lives only
// as long as its connection, so everything a holder does under it — the write that
// ends it, or the release — runs on that same connection: if the connection dropped
// meanwhile (and the lock with it), the write is refused instead of overwriting what
// another daemon may have written since.
//
// PostgreSQL releases the locks of a connection that closes, so a daemon that dies
// leaves no lock behind. Behind a pooler in transaction mode (PgBouncer), statements of
// one connection reach different backends and session-level locks mean nothing. A
// pooler gives its clients a backend pid of its own, so a connection whose
// pg_backend_pid() differs from the pid it was given is refused (ErrPooled: use the
// lease, Options.Lease, there); and every statement on a lock connection reports its
// backend, which must not change.

// advisoryConns is the number of dedicated lock connections: one per two CPUs of the
// host, at most 8. Each has one batch in flight and queues the statements that arrive
// meanwhile for the next, so fewer connections make bigger batches, and fewer wakeups
// and commits per request. On 2 cores, make bench measured 1 connection ahead of 2, 3
// and 8 (7,400, 6,400, 5,600 and 5,000 protocol pairs/s).
var advisoryConns = min(8, max(1, runtime.NumCPU()/2))

// ErrPooled is returned by Lock when the database connection turns out to go through a
// pooler that hands statements of one connection to different backends.
var ErrPooled = errors.New("pgsess: session_pgsql.db reaches PostgreSQL through a pooler or proxy (PgBouncer?), " +
	"where advisory locks need not hold: set session_pgsql.lock_method = lease")

// errStopped is returned to callers still waiting when the Store closes.
var errStopped = errors.New("pgsess: store closed")

// hold is a lock a token holds: the session, and for an advisory lock its connection
// and that connection's generation when the lock was taken.
type hold struct {
	id  string
	lc  *lockConn
	gen uint64
}

// lockConn is one dedicated connection holding advisory locks, and the goroutine that
// owns it: it sends the statements of concurrent requests as one batch, reconnects when
// the connection drops (a new generation: the locks of the old one are gone), and on a
// reconnect ends the old backend, should it still be alive and holding locks after a
// silent network failure.
type lockConn struct {
	s    *Store
	jobs chan *lockJob

	// Owned by run.
	conn    *pgx.Conn
	gen     uint64
	pid     int32     // pg_backend_pid() of the connection
	started time.Time // its backend_start, so that a pid reused later is never ended
	pending []*lockJob
}

// lockJob is one request's work on a lock connection: take the lock (then run sql, the
// row's read), or run sql under a held lock of generation gen and then release it, or
// only release it.
type lockJob struct {
	name string // the lock: see lockName
	take bool
	gen  uint64
	sql  string
	args []any
	read func(pgx.BatchResults) error
	done chan lockResult
}

type lockResult struct {
	gen uint64 // the generation a taken lock belongs to
	got bool   // take: the lock was free and is now held
	err error
}

func newLockConn(s *Store) *lockConn {
	lc := &lockConn{s: s, jobs: make(chan *lockJob, 4*maxBatch)}
	go lc.run()
	return lc
}

// lockName names the advisory lock of a session ("php_session/ID"); the database hashes it into the
// lock's 64-bit key (hashtextextended), so every daemon derives the same key.
func (s *Store) lockName(id string) string { return s.opts.Table + "/" + id }

// lockConnFor returns the lock connection that serves id.
func (s *Store) lockConnFor(id string) *lockConn {
	return s.lockConns[maphash.String(s.lockSeed, id)%uint64(len(s.lockConns))]
}

// do queues j and waits for its result, or for ctx. A lock taken for a caller that
// stopped waiting is released, never left behind.
func (lc *lockConn) do(ctx context.Context, j *lockJob) lockResult {
	j.done = make(chan lockResult, 1)
	select {
	case lc.jobs <- j:
	case <-ctx.Done():
		return lockResult{err: ctx.Err()}
	case <-lc.s.stop:
		return lockResult{err: errStopped}
	}
	select {
	case r := <-j.done:
		return r
	case <-ctx.Done():
		if j.take {
			go func() {
				if r := <-j.done; r.got {
					lc.do(context.Background(), &lockJob{name: j.name, gen: r.gen})
				}
			}()
		}
		return lockResult{err: ctx.Err()}
	case <-lc.s.stop:
		return lockResult{err: errStopped}
	}
}

func (lc *lockConn) run() {
	defer func() {
		if lc.conn != nil {
			lc.conn.Close(context.Background())
		}
	}()
	for {
		jobs := lc.pending
		lc.pending = nil
		if len(jobs) == 0 {
			select {
			case j := <-lc.jobs:
				jobs = append(jobs, j)
			case <-lc.s.stop:
				return
			}
		}
	more:
		for len(jobs) < maxBatch {
			select {
			case j := <-lc.jobs:
				jobs = append(jobs, j)
			default:
				break more
			}
		}
		lc.send(jobs)
	}
}

// connect makes sure the connection is up, opening a new generation if it is not.
func (lc *lockConn) connect(ctx context.Context) error {
	if lc.conn != nil && !lc.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.ConnectConfig(ctx, lc.s.lockConfig)
	if err != nil {
		return err
	}
	var pid int32
	var started time.Time
	if err := conn.QueryRow(ctx, lc.s.sql.backend).Scan(&pid, &started); err != nil {
		conn.Close(ctx)
		return err
	}
	if uint32(pid) != conn.PgConn().PID() {
		conn.Close(ctx)
		return ErrPooled
	}
	if lc.pid != 0 {
		// The old backend may outlive a connection that failed silently, with its
		// locks; the same role may end its own backends.
		var ended bool
		if err := conn.QueryRow(ctx, lc.s.sql.endBackend, lc.pid, lc.started).Scan(&ended); err == nil && ended {
			lc.s.log.Warn().Int32("pid", lc.pid).Msg("ended the backend of a lost lock connection")
		}
	}
	lc.conn, lc.pid, lc.started = conn, pid, started
	lc.gen++
	return nil
}

// drop closes the connection, which releases every lock it holds.
func (lc *lockConn) drop() {
	if lc.conn != nil {
		lc.conn.Close(context.Background())
	}
}

// send runs jobs as one batch: the locks to take (each a lock statement, then its read,
// as two statements so that the read's snapshot comes after the lock), then the writes
// in one transaction, then one statement releasing every lock that ends. After an error
// only the failing job gets it; the jobs that did not run go into the next batch.
func (lc *lockConn) send(jobs []*lockJob) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := lc.connect(ctx); err != nil {
		if !errors.Is(err, ErrPooled) {
			err = lc.s.wrap(err)
		}
		for _, j := range jobs {
			j.done <- lockResult{err: err}
		}
		return
	}
	var takes, writes, releases []*lockJob
	for _, j := range jobs {
		switch {
		case j.take:
			takes = append(takes, j)
		case j.gen != lc.gen:
			// The connection that held this lock is gone, and the lock with it.
			if j.sql != "" {
				j.done <- lockResult{err: ErrLeaseLost}
			} else {
				j.done <- lockResult{}
			}
		case j.sql != "":
			writes = append(writes, j)
		default:
			releases = append(releases, j)
		}
	}
	ending := append(append([]*lockJob{}, writes...), releases...)
	if len(takes)+len(ending) == 0 {
		return
	}
	b := &pgx.Batch{}
	for _, j := range takes {
		b.Queue(lc.s.sql.advisoryLock, j.name)
		b.Queue(j.sql, j.args...)
	}
	if len(writes) > 0 {
		b.Queue(lc.s.sql.begin)
		for _, j := range writes {
			b.Queue(j.sql, j.args...)
		}
		b.Queue(lc.s.sql.commit)
	}
	names := make([]string, len(ending))
	for i, j := range ending {
		names[i] = j.name
	}
	if len(names) > 0 {
		b.Queue(lc.s.sql.advisoryUnlock, names)
	}

	br := lc.conn.SendBatch(ctx, b)
	got := make([]bool, 0, len(takes))
	step, err := lc.readBatch(br, takes, writes, len(names) > 0, &got)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		for i, j := range takes {
			j.done <- lockResult{gen: lc.gen, got: got[i]}
		}
		for _, j := range ending {
			j.done <- lockResult{}
		}
		return
	}
	lc.failed(err, step, takes, writes, releases, got)
}

// Where a batch failed: the take, write or release phase, and the job in it.
type batchStep struct {
	phase int // 0: takes, 1: writes (BEGIN … COMMIT), 2: release
	index int // the job in takes or writes; len(writes) for COMMIT, -1 for BEGIN
}

func (lc *lockConn) readBatch(br pgx.BatchResults, takes, writes []*lockJob, release bool, got *[]bool) (batchStep, error) {
	for i, j := range takes {
		var ok bool
		var pid int32
		if err := br.QueryRow().Scan(&ok, &pid); err != nil {
			return batchStep{0, i}, err
		}
		if pid != lc.pid {
			return batchStep{0, i}, ErrPooled
		}
		*got = append(*got, ok)
		if err := j.read(br); err != nil {
			return batchStep{0, i}, err
		}
	}
	if len(writes) > 0 {
		if _, err := br.Exec(); err != nil {
			return batchStep{1, -1}, err
		}
		for i, j := range writes {
			if err := j.read(br); err != nil {
				return batchStep{1, i}, err
			}
		}
		if _, err := br.Exec(); err != nil {
			return batchStep{1, len(writes)}, err
		}
	}
	if release {
		var all bool
		var pid int32
		if err := br.QueryRow().Scan(&all, &pid); err != nil {
			return batchStep{2, 0}, err
		}
		if pid != lc.pid {
			return batchStep{2, 0}, ErrPooled
		}
		if !all {
			lc.s.log.Warn().Msg("released a session lock that the lock connection did not hold")
		}
	}
	return batchStep{}, nil
}

// failed settles the jobs of a batch that failed at step. got holds the result of each
// take that ran.
func (lc *lockConn) failed(err error, step batchStep, takes, writes, releases []*lockJob, got []bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || errors.Is(err, ErrPooled) || step.phase == 2 || lc.conn.IsClosed() {
		// The connection is gone or cannot be trusted: drop it, and every lock with it.
		lc.drop()
		if errors.Is(err, ErrPooled) {
			lc.s.log.Error().Err(err).Msg("advisory locks cannot work on this connection")
		} else {
			err = lc.s.wrap(err)
		}
		for i, j := range takes {
			if i < len(got) && (step.phase > 0 || i < step.index) {
				j.done <- lockResult{gen: lc.gen, got: got[i]} // a lock of the dropped generation: its writes fail
			} else {
				j.done <- lockResult{err: err}
			}
		}
		for _, j := range writes {
			switch {
			case step.phase == 2: // committed before the release failed
				j.done <- lockResult{}
			case pgErr != nil:
				// The server refused a statement and closed: nothing was committed,
				// and the lock is gone.
				j.done <- lockResult{err: ErrLeaseLost}
			default:
				j.done <- lockResult{err: err} // the commit may or may not have happened
			}
		}
		for _, j := range releases {
			j.done <- lockResult{} // the locks end with the connection
		}
		return
	}
	// PostgreSQL refused one statement and skipped the rest of the batch; an open
	// transaction is rolled back.
	if lc.conn.PgConn().TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		_, rerr := lc.conn.Exec(ctx, lc.s.sql.rollback)
		cancel()
		if rerr != nil {
			lc.drop()
		}
	}
	err = lc.s.wrap(err)
	var retry []*lockJob
	for i, j := range takes {
		switch {
		case step.phase > 0 || i < step.index:
			j.done <- lockResult{gen: lc.gen, got: got[i]}
		case i == step.index:
			if i < len(got) && got[i] {
				// Its read failed after the lock was taken: release it.
				retry = append(retry, &lockJob{name: j.name, gen: lc.gen, done: make(chan lockResult, 1)})
			}
			j.done <- lockResult{err: err}
		default:
			retry = append(retry, j)
		}
	}
	for i, j := range writes {
		// A failed BEGIN or COMMIT fails every write; a failed write only itself, and
		// the others, rolled back or never run, go again.
		if step.phase == 1 && (i == step.index || step.index < 0 || step.index == len(writes)) {
			j.done <- lockResult{err: err}
		} else {
			retry = append(retry, j)
		}
	}
	lc.pending = append(append(retry, releases...), lc.pending...)
}

// lockAdvisory takes id's advisory lock for token and reads the session. A missing
// session is returned new and empty (its row is written by the Write that ends the
// lock); an expired one is handled as KeepExpired says.
func (s *Store) lockAdvisory(ctx context.Context, id, token, name, addr string) (*Session, error) {
	now := s.now().Unix()
	var sess *Session
	read := func(br pgx.BatchResults) (err error) {
		sess, err = s.scan(id, br.QueryRow())
		return err
	}
	if h, ok := s.holdOf(token); ok && h.id == id {
		// The token holds this lock already (a READ again within one request).
		if _, err := s.get(ctx, id); err != nil {
			return nil, err
		}
	} else {
		lc := s.lockConnFor(id)
		r := lc.do(ctx, &lockJob{name: s.lockName(id), take: true, sql: s.sql.read, args: []any{id}, read: read})
		if r.err != nil {
			return nil, r.err
		}
		if !r.got {
			return nil, ErrLocked
		}
		s.hold(token, hold{id: id, lc: lc, gen: r.gen})
	}
	fresh := &Session{ID: id, Name: name, Created: now, Modified: now, Expire: now + s.lifetime(),
		AddrCreated: addr, AddrModified: addr}
	switch {
	case sess == nil:
		return fresh, nil
	case sess.Expire == 0 || sess.Expire >= now:
		return sess, nil
	case s.keepExpired.Load():
		sess.Data = nil
		return sess, nil
	}
	if _, err := s.pool.Exec(ctx, s.sql.delete, id); err != nil {
		return nil, s.wrap(err)
	}
	return fresh, nil
}

// endAdvisory runs sql (args) under token's advisory lock on its connection and then
// releases the lock, or only releases it when sql is empty. A lock whose connection
// dropped gives ErrLeaseLost and runs nothing. The token holds nothing afterwards,
// unless sql failed otherwise: then Release still ends the lock.
func (s *Store) endAdvisory(ctx context.Context, token, sql string, read func(pgx.BatchResults) error, args ...any) error {
	h, ok := s.holdOf(token)
	if !ok {
		if sql == "" {
			return nil
		}
		return ErrLeaseLost
	}
	r := h.lc.do(ctx, &lockJob{name: s.lockName(h.id), gen: h.gen, sql: sql, args: args, read: read})
	if r.err == nil || errors.Is(r.err, ErrLeaseLost) || sql == "" {
		s.unhold(token)
	}
	return r.err
}

// checkDirect returns ErrPooled when the database's connections go through a pooler
// or proxy: the backend's own pid differs from the one the connection was given.
func (s *Store) checkDirect(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap(err)
	}
	defer conn.Release()
	var pid int32
	var started time.Time
	if err := conn.QueryRow(ctx, s.sql.backend).Scan(&pid, &started); err != nil {
		return s.wrap(err)
	}
	if uint32(pid) != conn.Conn().PgConn().PID() {
		return ErrPooled
	}
	return nil
}

// advisoryStatements are the statements of advisory locking. The lock statement and
// the release report their backend, which must not change on a lock connection.
func advisoryStatements(st *statements) {
	st.advisoryLock = `SELECT pg_try_advisory_lock(hashtextextended($1, 0)), pg_backend_pid()`
	st.advisoryUnlock = `SELECT coalesce(bool_and(pg_advisory_unlock(hashtextextended(n, 0))), true), pg_backend_pid()
FROM unnest($1::text[]) AS n`
	st.backend = `SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`
	st.endBackend = `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
WHERE pid = $1 AND backend_start = $2`
	st.begin, st.rollback = `BEGIN`, `ROLLBACK`
}
