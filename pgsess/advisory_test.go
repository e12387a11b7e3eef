package pgsess

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

func TestAdvisoryLockExcludesAnotherDaemonUntilTheWriteEndsIt(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	sess, err := a.Lock(ctx, "s", "SID", "192.0.2.1", "a1")
	if err != nil || sess.Counter != 0 || len(sess.Data) != 0 || sess.AddrCreated != "192.0.2.1" {
		t.Fatalf("first lock of a new session: %+v %v", sess, err)
	}
	if r, err := b.Info(ctx, "s"); r != nil || err != nil {
		t.Fatalf("taking a lock wrote a row: %+v %v", r, err)
	}
	if _, err := a.Lock(ctx, "s", "SID", "192.0.2.1", "a1"); err != nil {
		t.Fatalf("the holder could not take its own lock again: %v", err)
	}
	if _, err := b.Lock(ctx, "s", "SID", "", "b1"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second daemon: %v, expected ErrLocked", err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:1;"), Token: "a1", Addr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	sess, err = b.Lock(ctx, "s", "SID", "", "b1")
	if err != nil || string(sess.Data) != "n|i:1;" || sess.Counter != 1 {
		t.Fatalf("after the write: %+v %v", sess, err)
	}
	// Taking it twice must not stack: one Release frees it.
	if sess, err := b.Lock(ctx, "s", "SID", "", "b1"); err != nil || string(sess.Data) != "n|i:1;" {
		t.Fatalf("the holder taking its lock again: %+v %v", sess, err)
	}
	if err := b.Release(ctx, "s", "b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, "s", "SID", "", "a2"); err != nil {
		t.Fatalf("after the release: %v", err)
	}
}

func TestAdvisoryLocksOfAClosedStoreEndAtOnce(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "", "", "a1"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	// PostgreSQL ends a closed connection's backend (and its locks) asynchronously.
	lockWithin(t, b, "s", "b1", 5*time.Second)
}

// lockWithin takes id's lock through s for token, trying again for at most d while it
// is locked or the database cannot be reached (s reconnecting).
func lockWithin(t *testing.T, s *Store, id, token string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := s.Lock(context.Background(), id, "", "", token)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrLocked) && !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("no lock on %s within %s: %v", id, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWriteAfterTheLockConnectionDroppedAndAnotherWroteWritesNothing(t *testing.T) {
	a, b, dsn := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, "s", "", "", "a1"); err != nil {
		t.Fatal(err)
	}
	// a's connections drop (a network failure, a restart of the backend), its lock
	// with them, and b takes the session and writes it: a cannot take the lock again
	// and write, since the row changed since a read it.
	pgsesstest.TerminateBackends(t, pgsesstest.Conn(t, dsn))
	lockWithin(t, b, "s", "b1", 5*time.Second)
	if err := b.Write(ctx, Write{ID: "s", Data: []byte("new"), Token: "b1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("stale"), Token: "a1"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("write under a lock that dropped: %v, expected ErrLeaseLost", err)
	}
	if r, _ := b.Info(ctx, "s"); r == nil || string(r.Data) != "new" {
		t.Fatalf("row after the stale write: %+v", r)
	}
	// a serves again on a new connection.
	if _, err := a.Lock(ctx, "s", "", "", "a2"); err != nil {
		t.Fatalf("a after reconnecting: %v", err)
	}
	if st := a.LockStat(); st.Reconnects != 1 || st.Batches == 0 || st.Jobs < st.Batches {
		t.Fatalf("lock connection counters after one drop: %+v", st)
	}
}

func TestWriteAfterTheLockConnectionDroppedGoesAheadWhenTheRowIsUnchanged(t *testing.T) {
	a, b, dsn := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:1;")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, "s", "", "", "a1"); err != nil {
		t.Fatal(err)
	}
	conn := pgsesstest.Conn(t, dsn)
	pgsesstest.TerminateBackends(t, conn)
	// Meanwhile b reads the session without writing it.
	lockWithin(t, b, "s", "b1", 5*time.Second)
	if err := b.Release(ctx, "s", "b1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:2;"), Token: "a1"}); err != nil {
		t.Fatalf("write under a lock that dropped, the row unchanged: %v", err)
	}
	if r, _ := b.Info(ctx, "s"); r == nil || string(r.Data) != "n|i:2;" || r.Counter != 2 {
		t.Fatalf("row after the write: %+v", r)
	}
	if held := pgsesstest.AdvisoryLocks(t, conn); held != 0 {
		t.Fatalf("advisory locks held after the write ended the lock taken again: %d", held)
	}
	// A touch goes ahead the same way.
	if _, err := a.Lock(ctx, "s", "", "", "a2"); err != nil {
		t.Fatal(err)
	}
	pgsesstest.TerminateBackends(t, conn)
	if err := a.Touch(ctx, "s", "", "", "a2"); err != nil {
		t.Fatalf("touch under a lock that dropped, the row unchanged: %v", err)
	}
	if r, _ := b.Info(ctx, "s"); r == nil || string(r.Data) != "n|i:2;" || r.Counter != 3 {
		t.Fatalf("row after the touch: %+v", r)
	}
}

func TestTouchUnderAnAdvisoryLockCreatesAMissingRowAndEndsTheLock(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "SID", "192.0.2.7", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Touch(ctx, "s", "SID", "192.0.2.7", "a1"); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Info(ctx, "s")
	if r == nil || r.Name != "SID" || r.Counter != 1 || r.AddrCreated != "192.0.2.7" {
		t.Fatalf("row after touch: %+v", r)
	}
	if _, err := b.Lock(ctx, "s", "", "", "b1"); err != nil {
		t.Fatalf("lock after touch: %v", err)
	}
}

func TestAdvisoryLocksThroughAPoolerAreRefused(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	bouncer := testenv.StartPgBouncer(t, pg)
	s := openStore(t, bouncer.DSN(dsn), Options{CreateTable: true, Locks: Advisory{}, SynchronousCommit: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ready(ctx); !errors.Is(err, ErrPooled) {
		t.Fatalf("Ready through PgBouncer: %v, expected ErrPooled", err)
	}
}

// increment locks id through s (waiting while another holds it) and writes its
// counter, "n|i:N;", plus one.
func increment(ctx context.Context, s *Store, id, token, addr string) error {
	for {
		sess, err := s.Lock(ctx, id, "SID", addr, token)
		if errors.Is(err, ErrLocked) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		n := 0
		if d := string(sess.Data); d != "" {
			n, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(d, "n|i:"), ";"))
		}
		err = s.Write(ctx, Write{ID: id, Name: "SID", Data: []byte(fmt.Sprintf("n|i:%d;", n+1)), Addr: addr, Token: token})
		if err != nil {
			s.Release(ctx, id, token)
		}
		return err
	}
}

func TestConcurrentRequestsOfTwoDaemonsOnSharedSessionsLoseNoIncrement(t *testing.T) {
	a, b, dsn := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	const workers, rounds, sessions = 16, 25, 4
	// Within one daemon the handler's lock table keeps two requests of one session
	// apart; here each worker has sessions of its own per daemon: worker w uses
	// session w%sessions, through daemon a for even w and b for odd w, and the workers
	// of one daemon sharing a session take turns through a mutex.
	var turns [2][sessions]sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, d := a, 0
			if w%2 == 1 {
				s, d = b, 1
			}
			id := fmt.Sprintf("shared%d", w%sessions)
			for r := range rounds {
				turns[d][w%sessions].Lock()
				err := increment(ctx, s, id, fmt.Sprintf("w%d-%d", w, r), "192.0.2.1")
				turns[d][w%sessions].Unlock()
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if held := pgsesstest.AdvisoryLocks(t, pgsesstest.Conn(t, dsn)); held != 0 {
		t.Errorf("advisory locks still held after every request ended: %d", held)
	}
	for i := range sessions {
		sess, err := a.Info(ctx, fmt.Sprintf("shared%d", i))
		want := fmt.Sprintf("n|i:%d;", workers/sessions*rounds)
		if err != nil || sess == nil || string(sess.Data) != want || sess.Counter != int64(workers/sessions*rounds) {
			t.Errorf("session %d: %+v %v, want %s", i, sess, err, want)
		}
	}
}

func TestARefusedWriteFailsOnlyItselfAndItsLockCanStillBeReleased(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	// Writes of several sessions at once, so that they share batches; one carries an
	// address PostgreSQL refuses (a NUL byte in text).
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := "192.0.2.1"
			if i == 0 {
				addr = "bad\x00addr"
			}
			errs[i] = increment(ctx, a, fmt.Sprintf("s%d", i), fmt.Sprintf("t%d", i), addr)
		}()
	}
	wg.Wait()
	if errs[0] == nil {
		t.Fatal("a write with a NUL byte in the address succeeded")
	}
	for i := 1; i < n; i++ {
		if errs[i] != nil {
			t.Errorf("write %d failed beside the refused one: %v", i, errs[i])
		}
		if sess, _ := a.Info(ctx, fmt.Sprintf("s%d", i)); sess == nil || string(sess.Data) != "n|i:1;" {
			t.Errorf("session %d: %+v", i, sess)
		}
	}
	if sess, err := b.Lock(ctx, "s0", "", "", "b1"); err != nil || len(sess.Data) != 0 {
		t.Fatalf("the refused write's session after its release: %+v %v", sess, err)
	}
}

func TestWriteWithKeepHoldsTheAdvisoryLockForTheNextLockOfTheToken(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "SID", "", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:1;"), Token: "a1", Keep: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "s", "SID", "", "b1"); !errors.Is(err, ErrLocked) {
		t.Fatalf("another daemon while the lock is kept: %v, expected ErrLocked", err)
	}
	sess, err := a.Lock(ctx, "s", "SID", "", "a1")
	if err != nil || string(sess.Data) != "n|i:1;" || sess.Counter != 1 {
		t.Fatalf("the next holder of the kept lock: %+v %v", sess, err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:2;"), Token: "a1"}); err != nil {
		t.Fatal(err)
	}
	if sess, err := b.Lock(ctx, "s", "SID", "", "b1"); err != nil || string(sess.Data) != "n|i:2;" {
		t.Fatalf("after the write that ended the lock: %+v %v", sess, err)
	}
}

func TestWaitFreeReturnsAsAnotherDaemonReleasesTheLock(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Advisory{}, MaxConns: 2})
	ctx := context.Background()
	if err := b.WaitFree(ctx, "s"); err != nil {
		t.Fatalf("a free lock: %v", err)
	}
	if _, err := a.Lock(ctx, "s", "", "", "a1"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.WaitFree(ctx, "s") }()
	// b's request waits in PostgreSQL's lock queue, and holds off another daemon's
	// try meanwhile.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no waiting advisory lock request in pg_locks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Of b's two pool connections, one waits: another wait would take the last one.
	if err := b.WaitFree(ctx, "t"); !errors.Is(err, ErrCannotWait) {
		t.Fatalf("a second wait on a pool of two: %v, expected ErrCannotWait", err)
	}
	select {
	case err := <-done:
		t.Fatalf("WaitFree returned (%v) while the lock is held", err)
	default:
	}
	if err := a.Release(ctx, "s", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after the release: %v", err)
	}
	if _, err := b.Lock(ctx, "s", "", "", "b1"); err != nil {
		t.Fatalf("taking the lock after the wait: %v", err)
	}

	// A wait its context ends returns the context's error and leaves no lock behind.
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := a.WaitFree(wctx, "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait whose context ended: %v", err)
	}
	if err := b.Release(ctx, "s", "b1"); err != nil {
		t.Fatal(err)
	}
	lockWithin(t, a, "s", "a2", 5*time.Second)
}

func TestLeaseCannotWaitForALock(t *testing.T) {
	a, _, _ := twoDaemons(t, Options{Locks: Lease{Duration: 15 * time.Second}})
	if err := a.WaitFree(context.Background(), "s"); !errors.Is(err, ErrCannotWait) {
		t.Fatalf("WaitFree with a lease: %v, expected ErrCannotWait", err)
	}
}

func TestLockConnectionsFindRowsByTheIndexWhateverTheStatisticsSay(t *testing.T) {
	a, _, _ := twoDaemons(t, Options{Locks: Advisory{}})
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "", "", "a1"); err != nil { // the table exists
		t.Fatal(err)
	}
	if err := a.Release(ctx, "s", "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(ctx, "ANALYZE "+a.opts.Table); err != nil { // known to be empty
		t.Fatal(err)
	}
	// A connection as the lock connections are configured, and its generic plan of
	// the statement that reads the locked sessions' rows: made on an empty table,
	// it must still look the ids up in the primary key, since it serves on as the
	// table grows.
	conn, err := pgx.ConnectConfig(ctx, a.locks.(*advisoryLocks).config)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "PREPARE r(text[]) AS "+strings.Replace(a.sql.readMany, "$1::text[]", "$1", 1)); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE r('{s}')", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); strings.Contains(text, "Seq Scan") || !strings.Contains(text, "Index") {
		t.Errorf("the generic plan of the lock connections' read on an empty table:\n%s", text)
	}
}
