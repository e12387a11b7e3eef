package pgsess

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Advisory locks (Advisory): a session's lock across daemons is a
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
// Lease, there); and every statement on a lock connection reports its
// backend, which must not change.

// advisoryConns is the number of dedicated lock connections: one per two CPUs of the
// host, at most 8. Each has one batch in flight and queues the statements that arrive
// meanwhile for the next, so fewer connections make bigger batches, and fewer wakeups
// and commits per request. On 2 cores, make bench measured 1 connection ahead of 2, 3
// and 8 (7,400, 6,400, 5,600 and 5,000 protocol pairs/s, with one statement per job).
var advisoryConns = min(8, max(1, runtime.NumCPU()/2))

// ErrPooled is returned by Lock when the database connection turns out to go through a
// pooler that hands statements of one connection to different backends.
var ErrPooled = errors.New("pgsess: session_pgsql.db reaches PostgreSQL through a pooler or proxy (PgBouncer?), " +
	"where advisory locks need not hold: set session_pgsql.lock_method = lease")

// errStopped is returned to callers still waiting when the Store closes.
var errStopped = errors.New("pgsess: store closed")

// hold is an advisory lock a token holds: the session, its connection and that
// connection's generation when the lock was taken.
type hold struct {
	id  string
	lc  *lockConn
	gen uint64
	// read, when known, is the row as the holder last read it under the lock (nil:
	// there was none). Should the lock's connection drop, the holder's write may still
	// go ahead under the lock taken again if the row is still the same (see retake).
	read  *Session
	known bool
}

// advisoryLocks is the locker of Advisory: its dedicated connections, how a session
// picks one, how they connect, and the locks it holds.
type advisoryLocks struct {
	s      *Store
	conns  []*lockConn
	seed   maphash.Seed
	config *pgx.ConnConfig
	stat   lockStat
	held   holds[hold]
	// waiters holds a slot for each waitFree in progress, each on a connection of
	// the pool: at most half of them, so that the pool serves on.
	waiters chan struct{}
}

// newAdvisoryLocks returns the advisory locker of s, with its connections (which
// connect when first used).
func newAdvisoryLocks(s *Store) *advisoryLocks {
	a := &advisoryLocks{s: s, seed: maphash.MakeSeed(), config: s.pool.Config().ConnConfig.Copy(),
		waiters: make(chan struct{}, max(1, s.pool.Config().MaxConns/2))}
	// Each statement's snapshot must come after the lock taken before it.
	a.config.RuntimeParams["default_transaction_isolation"] = "read committed"
	// The batch statements take arrays: planned for the arrays' sizes, PostgreSQL
	// would plan each execution anew (a generic plan looks dearer than a custom one
	// for a few rows); the generic plan is the same index lookups.
	a.config.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	// Every statement here finds its rows by sess_id, which the primary key indexes.
	// A generic plan made while the table was (nearly) empty — just created, or
	// just altered, which invalidates the plans — is a sequential scan, and it would
	// stay one as the table grows, until an ANALYZE of the table replaced it; so
	// the planner is told to prefer the index whatever the statistics say.
	a.config.RuntimeParams["enable_seqscan"] = "off"
	for range advisoryConns {
		a.conns = append(a.conns, newLockConn(a))
	}
	return a
}

func (a *advisoryLocks) keeps() bool { return true }

// waitFree asks for id's lock in shared mode, in a transaction of its own on a
// connection of the pool, which PostgreSQL grants once no daemon holds it (exclusive)
// and releases as the statement ends, whatever happens. While it waits PostgreSQL
// refuses the lock to another daemon's pg_try_advisory_lock too (a request conflicting
// with a waiting one waits its turn), so the daemon that released the lock does not
// take it back at once.
func (a *advisoryLocks) waitFree(ctx context.Context, id string) error {
	select {
	case a.waiters <- struct{}{}:
		defer func() { <-a.waiters }()
	default:
		return ErrCannotWait
	}
	if _, err := a.s.pool.Exec(ctx, a.s.sql.advisoryWait, a.lockName(id)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// lockConn is one dedicated connection holding advisory locks, and the goroutine that
// owns it: it sends the statements of concurrent requests as one batch, reconnects when
// the connection drops (a new generation: the locks of the old one are gone), and on a
// reconnect ends the old backend, should it still be alive and holding locks after a
// silent network failure.
type lockConn struct {
	a    *advisoryLocks
	s    *Store
	jobs chan *lockJob

	// Owned by run.
	conn    *pgx.Conn
	gen     uint64
	pid     int32     // pg_backend_pid() of the connection
	started time.Time // its backend_start, so that a pid reused later is never ended
	pending []*lockJob
}

// lockJob is one request's work on a lock connection: take the lock of session id, or,
// under a held lock of generation gen, write (one row of the batch's write statement)
// or run sql, and then release the lock; or only release it.
type lockJob struct {
	name  string // the lock: see lockName
	id    string
	take  bool
	gen   uint64
	write *writeRow
	keep  bool // after the write, keep holding the lock
	sql   string
	args  []any
	// solo makes the write run without others in its transaction, after the write of
	// a batch it was part of failed: one bad row must not fail the others.
	solo bool
	done chan lockResult
}

type lockResult struct {
	gen  uint64   // the generation a taken lock belongs to
	got  bool     // take: the lock was free and is now held
	sess *Session // take: the row, or nil when there is none
	err  error
}

func newLockConn(a *advisoryLocks) *lockConn {
	lc := &lockConn{a: a, s: a.s, jobs: make(chan *lockJob, 4*maxBatch)}
	go lc.run()
	return lc
}

// lockName names the advisory lock of a session ("php_session/ID"); the database
// hashes it into the lock's 64-bit key (hashtextextended), so every daemon derives
// the same key.
func (a *advisoryLocks) lockName(id string) string { return a.s.opts.Table + "/" + id }

// lockConnFor returns the lock connection that serves id.
func (a *advisoryLocks) lockConnFor(id string) *lockConn {
	return a.conns[maphash.String(a.seed, id)%uint64(len(a.conns))]
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
	defer lc.drop()
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
		// Let the goroutines that are ready to run (requests whose frames just
		// arrived) queue their jobs first: a bigger batch costs PostgreSQL and the
		// daemon less per request than another round trip.
		runtime.Gosched()
		jobs = drain(lc.jobs, jobs, maxBatch)
		lc.a.stat.batches.Add(1)
		lc.a.stat.jobs.Add(uint64(len(jobs)))
		lc.send(jobs)
	}
}

// connect makes sure the connection is up, opening a new generation if it is not.
func (lc *lockConn) connect(ctx context.Context) error {
	if lc.conn != nil && !lc.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.ConnectConfig(ctx, lc.a.config)
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
	if lc.gen > 0 {
		lc.a.stat.reconnects.Add(1)
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

// A lockBatch is the jobs of one round trip, by phase: the locks to take (one
// statement taking them all, then one reading their rows, so that each read's snapshot
// comes after its lock); the work under held locks, in one transaction (one statement
// for all the writes, one per other statement); then one statement releasing every
// lock that ends.
type lockBatch struct {
	takes    []*lockJob
	writes   []*lockJob // rows of the write statement
	others   []*lockJob // statements of their own
	releases []*lockJob // only a release
	queued   int        // statements in the transaction: writes (0 or 1) + others
}

// ending returns the jobs whose lock the batch releases.
func (b *lockBatch) ending() []*lockJob {
	var jobs []*lockJob
	for _, j := range b.writes {
		if !j.keep {
			jobs = append(jobs, j)
		}
	}
	return append(append(jobs, b.others...), b.releases...)
}

// Where a batch failed.
const (
	phaseTakes = iota
	phaseWork  // BEGIN … COMMIT
	phaseRelease
)

type batchStep struct {
	phase int
	index int // in phaseWork: -1 BEGIN, 0 the writes (when any), then others; queued: COMMIT
}

// send runs jobs as one batch. After an error only the failing job gets it where that
// can be told; the jobs that did not run go into the next batch.
func (lc *lockConn) send(jobs []*lockJob) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := lc.connect(ctx); err != nil {
		for _, j := range jobs {
			j.done <- lockResult{err: err}
		}
		return
	}
	var b lockBatch
	for _, j := range jobs {
		switch {
		case j.take:
			b.takes = append(b.takes, j)
		case j.gen != lc.gen:
			// The connection that held this lock is gone, and the lock with it.
			if j.write != nil || j.sql != "" {
				j.done <- lockResult{err: ErrLeaseLost}
			} else {
				j.done <- lockResult{}
			}
		case j.write != nil && j.solo && len(b.writes) == 0:
			b.writes = append(b.writes, j)
		case j.write != nil && !j.solo && (len(b.writes) == 0 || !b.writes[0].solo):
			b.writes = append(b.writes, j)
		case j.write != nil:
			lc.pending = append(lc.pending, j) // waits for a batch where it can run alone
		case j.sql != "":
			b.others = append(b.others, j)
		default:
			b.releases = append(b.releases, j)
		}
	}
	if len(b.writes) > 1 && b.writes[0].solo {
		lc.pending = append(lc.pending, b.writes[1:]...)
		b.writes = b.writes[:1]
	}
	if len(b.takes)+len(b.writes)+len(b.others)+len(b.releases) == 0 {
		return
	}
	ending := b.ending()
	st := &lc.s.sql
	batch := &pgx.Batch{}
	if len(b.takes) > 0 {
		names, ids := make([]string, len(b.takes)), make([]string, len(b.takes))
		for i, j := range b.takes {
			names[i], ids[i] = j.name, j.id
		}
		batch.Queue(st.advisoryLockMany, names)
		batch.Queue(st.readMany, ids)
	}
	if len(b.writes)+len(b.others) > 0 {
		batch.Queue(st.begin)
		if len(b.writes) > 0 {
			rows := make([]*writeRow, len(b.writes))
			for i, j := range b.writes {
				rows[i] = j.write
			}
			batch.Queue(st.write, st.writeArgs(rows)...)
			b.queued++
		}
		for _, j := range b.others {
			batch.Queue(j.sql, j.args...)
			b.queued++
		}
		batch.Queue(st.commit)
	}
	if len(ending) > 0 {
		names := make([]string, len(ending))
		for i, j := range ending {
			names[i] = j.name
		}
		batch.Queue(st.advisoryUnlock, names)
	}

	br := lc.conn.SendBatch(ctx, batch)
	taken, step, err := lc.readBatch(br, &b, len(ending) > 0)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		for _, j := range ending {
			j.done <- lockResult{}
		}
		for _, j := range b.writes {
			if j.keep {
				j.done <- lockResult{}
			}
		}
		return
	}
	lc.failed(err, step, &b, taken)
}

// readBatch reads the results of a batch. As soon as the takes' results are in, they
// are delivered, before PostgreSQL's commit of the batch's writes (and its wait for the
// disk): taken is then what each take got, else nil.
func (lc *lockConn) readBatch(br pgx.BatchResults, b *lockBatch, release bool) ([]lockResult, batchStep, error) {
	var taken []lockResult
	if len(b.takes) > 0 {
		taken = make([]lockResult, len(b.takes))
		if err := lc.readTakes(br, b.takes, taken); err != nil {
			return nil, batchStep{phase: phaseTakes}, err
		}
		for i, j := range b.takes {
			j.done <- taken[i] // should the batch fail later, their locks' generation tells
		}
	}
	if len(b.writes)+len(b.others) > 0 {
		for i := -1; i <= b.queued; i++ { // BEGIN, the statements, COMMIT
			if _, err := br.Exec(); err != nil {
				return taken, batchStep{phaseWork, i}, err
			}
		}
	}
	if release {
		var all bool
		var pid int32
		if err := br.QueryRow().Scan(&all, &pid); err != nil {
			return taken, batchStep{phase: phaseRelease}, err
		}
		if pid != lc.pid {
			return taken, batchStep{phase: phaseRelease}, ErrPooled
		}
		if !all {
			lc.s.log.Warn().Msg("released a session lock that the lock connection did not hold")
		}
	}
	return taken, batchStep{}, nil
}

// readTakes reads the results of the lock statement and of the rows' read into taken.
func (lc *lockConn) readTakes(br pgx.BatchResults, takes []*lockJob, taken []lockResult) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	i := 0
	for rows.Next() {
		var pid int32
		if i == len(taken) {
			break
		}
		if err := rows.Scan(&taken[i].got, &pid); err != nil {
			rows.Close()
			return err
		}
		if pid != lc.pid {
			rows.Close()
			return ErrPooled
		}
		taken[i].gen = lc.gen
		i++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if i != len(taken) {
		return fmt.Errorf("pgsess: %d lock results for %d locks", i, len(taken))
	}
	byID := make(map[string][]int, len(takes))
	for i, j := range takes {
		byID[j.id] = append(byID[j.id], i)
	}
	rows, err = br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		sess, err := lc.s.scanSession(rows, &id)
		if err != nil {
			return err
		}
		sess.ID = id
		for _, i := range byID[id] {
			if taken[i].sess == nil { // the first of duplicate rows, as the single read
				taken[i].sess = sess
			}
		}
	}
	return rows.Err()
}

// failed settles the jobs of a batch that failed at step; taken is non-nil when the
// takes succeeded (and got their results already). The errors are pgx's, unwrapped,
// so that the Store can tell a lost connection (Store.try).
func (lc *lockConn) failed(err error, step batchStep, b *lockBatch, taken []lockResult) {
	var pgErr *pgconn.PgError
	refused := errors.As(err, &pgErr)
	work := append(append([]*lockJob{}, b.writes...), b.others...)
	if !refused || connLost(err) || errors.Is(err, ErrPooled) || step.phase != phaseWork || lc.conn.IsClosed() {
		// The connection is gone, reaches a server that cannot write (connLost), or
		// cannot be trusted (a failed take may have taken some of its locks): drop
		// it, and every lock with it; the next batch connects anew.
		lc.drop()
		if errors.Is(err, ErrPooled) {
			lc.s.log.Error().Err(err).Msg("advisory locks cannot work on this connection")
		}
		if taken == nil {
			for _, j := range b.takes {
				j.done <- lockResult{err: err}
			}
		} // else they hold locks of the dropped generation: their writes fail
		for _, j := range work {
			switch {
			case step.phase == phaseRelease: // committed before the release failed
				j.done <- lockResult{}
			case refused:
				// The server refused a statement and closed, or refused it as
				// read-only: nothing was committed, and the lock is gone.
				j.done <- lockResult{err: ErrLeaseLost}
			default:
				j.done <- lockResult{err: err} // the commit may or may not have happened
			}
		}
		for _, j := range b.releases {
			j.done <- lockResult{} // the locks end with the connection
		}
		return
	}
	// PostgreSQL refused one statement of the transaction and skipped the rest of the
	// batch: roll the transaction back, fail the job that was refused and send the
	// others again.
	if lc.conn.PgConn().TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		_, rerr := lc.conn.Exec(ctx, lc.s.sql.rollback)
		cancel()
		if rerr != nil {
			lc.drop() // the next batch reconnects; the held locks are gone
		}
	}
	var retry []*lockJob
	firstOther := 0
	if len(b.writes) > 0 {
		firstOther = 1
	}
	switch {
	case step.index < 0 || step.index == b.queued: // BEGIN or COMMIT
		for _, j := range work {
			j.done <- lockResult{err: err}
		}
	case step.index < firstOther: // the writes' statement
		if len(b.writes) == 1 {
			b.writes[0].done <- lockResult{err: err}
		} else {
			for _, j := range b.writes {
				j.solo = true
			}
			retry = append(retry, b.writes...)
		}
		retry = append(retry, b.others...)
	default:
		failing := b.others[step.index-firstOther]
		failing.done <- lockResult{err: err}
		for _, j := range work {
			if j != failing {
				retry = append(retry, j)
			}
		}
	}
	lc.pending = append(append(retry, b.releases...), lc.pending...)
}

// lock takes id's advisory lock for token and reads the session. A missing
// session is returned new and empty (its row is written by the Write that ends the
// lock); an expired one is handled as KeepExpired says. A take that failed with its
// connection is tried once more on a new one: the locks of a lost connection are gone.
func (a *advisoryLocks) lock(ctx context.Context, id, name, addr, token string) (*Session, error) {
	s := a.s
	now := s.now().Unix()
	var sess *Session
	h, ok := a.held.get(token)
	if ok && h.id == id {
		// The token holds this lock already (a READ again within one request).
		var err error
		if sess, err = s.get(ctx, id); err != nil {
			return nil, err
		}
	} else {
		h = hold{id: id, lc: a.lockConnFor(id)}
		var r lockResult
		err := s.try(ctx, ifLost, func() error {
			r = h.lc.do(ctx, &lockJob{name: a.lockName(id), id: id, take: true})
			return r.err
		})
		if err != nil {
			return nil, s.wrap(err)
		}
		if !r.got {
			return nil, ErrLocked
		}
		h.gen, sess = r.gen, r.sess
	}
	h.read, h.known = sess, true
	a.held.put(token, h)
	if sess == nil {
		return s.fresh(id, name, addr, now), nil
	}
	return s.unexpired(sess, now, func() (*Session, error) {
		if err := s.exec(ctx, ifUnsent, s.sql.delete, id); err != nil {
			return nil, s.wrap(err)
		}
		h.read = nil
		a.held.put(token, h)
		return s.fresh(id, name, addr, now), nil
	})
}

func (a *advisoryLocks) write(ctx context.Context, token string, row *writeRow, keep bool) error {
	return a.end(ctx, token, &lockJob{write: row, keep: keep})
}

func (a *advisoryLocks) touch(ctx context.Context, id, name, addr, token string, now, expire int64) error {
	return a.end(ctx, token, &lockJob{sql: a.s.sql.touch, args: []any{id, now, expire, addr, name}})
}

func (a *advisoryLocks) release(ctx context.Context, id, token string) error {
	return a.end(ctx, token, &lockJob{})
}

// end runs j's work (a write row, or a statement) under token's advisory lock
// on its connection and then releases the lock, unless j keeps it; a job without work
// only releases it.
// A lock whose connection dropped gives ErrLeaseLost and runs nothing, unless retake
// can take it again and prove that the work loses nothing. The token holds nothing
// afterwards, unless the work failed otherwise: then Release still ends the lock.
func (a *advisoryLocks) end(ctx context.Context, token string, j *lockJob) error {
	s := a.s
	release := j.write == nil && j.sql == ""
	h, ok := a.held.get(token)
	if !ok {
		if release {
			return nil
		}
		return ErrLeaseLost
	}
	j.name, j.gen = a.lockName(h.id), h.gen
	r := h.lc.do(ctx, j)
	if !release && h.known && (errors.Is(r.err, ErrLeaseLost) || connLost(r.err)) {
		r = a.retake(ctx, token, h, j, r)
	}
	switch {
	case r.err == nil && j.keep:
		// The next holder inherits what was written, which is not read back: it has
		// no read to prove anything with.
		h, _ = a.held.get(token)
		h.read, h.known = nil, false
		a.held.put(token, h)
	case r.err == nil || errors.Is(r.err, ErrLeaseLost) || release:
		a.held.drop(token)
	}
	return s.wrap(r.err)
}

// retake takes h's lock again after the connection that held it dropped, and the lock
// with it, and runs j under the new lock if the row is still exactly what the holder
// read: then no other request wrote it meanwhile (every write and touch changes
// sess_counter), and j, which the holder made from that read, loses nothing — even if
// the first attempt of j itself had reached PostgreSQL, since a committed j would
// have changed the row. The lock is taken with pg_try_advisory_lock, so while another
// daemon, or the old backend of a connection that failed silently, holds it, nothing
// is taken. Otherwise it releases what it took and returns lost, the first attempt's
// result. A lock is taken again at most once: the new hold has no read.
func (a *advisoryLocks) retake(ctx context.Context, token string, h hold, j *lockJob, lost lockResult) lockResult {
	s := a.s
	var t lockResult
	err := s.try(ctx, ifLost, func() error {
		t = h.lc.do(ctx, &lockJob{name: j.name, id: h.id, take: true})
		return t.err
	})
	if err != nil || !t.got {
		return lost
	}
	if !sameRow(h.read, t.sess) {
		h.lc.do(ctx, &lockJob{name: j.name, gen: t.gen})
		return lost
	}
	a.held.put(token, hold{id: h.id, lc: h.lc, gen: t.gen})
	j.gen = t.gen
	s.log.Debug().Msg("took a session lock again after its connection dropped; the row was unchanged")
	return h.lc.do(ctx, j)
}

// sameRow reports whether a and b are the same row, column by column, or both none.
func sameRow(a, b *Session) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && bytes.Equal(a.Data, b.Data) && a.Created == b.Created && a.Modified == b.Modified &&
		a.Expire == b.Expire && a.AddrCreated == b.AddrCreated && a.AddrModified == b.AddrModified &&
		a.Counter == b.Counter && a.Meta == b.Meta
}

// LockStat counts the work of the advisory lock connections since Open.
type LockStat struct {
	// Batches is how many batches they sent, and Jobs the requests' operations in
	// them (locks taken, writes, releases): Jobs / Batches is the mean batch size.
	Batches, Jobs uint64
	// Reconnects is how many times a lock connection was opened again after it
	// dropped, with the loss of the locks it held.
	Reconnects uint64
}

// lockStat is what LockStat reads.
type lockStat struct{ batches, jobs, reconnects atomic.Uint64 }

// LockStat returns the advisory lock connections' counters (zero without
// Advisory).
func (s *Store) LockStat() LockStat {
	a, ok := s.locks.(*advisoryLocks)
	if !ok {
		return LockStat{}
	}
	return LockStat{Batches: a.stat.batches.Load(), Jobs: a.stat.jobs.Load(), Reconnects: a.stat.reconnects.Load()}
}

// init returns ErrPooled when the database's connections go through a pooler or
// proxy: the backend's own pid differs from the one the connection was given.
func (a *advisoryLocks) init(ctx context.Context) error {
	s := a.s
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
	st.advisoryLockMany = `SELECT pg_try_advisory_lock(hashtextextended(n, 0)), pg_backend_pid()
FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i`
	st.advisoryWait = `SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))`
	st.advisoryUnlock = `SELECT coalesce(bool_and(pg_advisory_unlock(hashtextextended(n, 0))), true), pg_backend_pid()
FROM unnest($1::text[]) AS n`
	st.backend = `SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`
	st.endBackend = `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
WHERE pid = $1 AND backend_start = $2`
	st.begin, st.rollback = `BEGIN`, `ROLLBACK`
}
