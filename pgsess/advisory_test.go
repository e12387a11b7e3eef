package pgsess

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

// twoAdvisoryDaemons opens two stores with advisory locks on one fresh database.
func twoAdvisoryDaemons(t *testing.T) (a, b *Store, dsn string) {
	t.Helper()
	dsn = testenv.SharedPG(t).NewDatabase(t)
	a = openStore(t, dsn, Options{CreateTable: true, AdvisoryLocks: true})
	b = openStore(t, dsn, Options{CreateTable: true, AdvisoryLocks: true})
	return a, b, dsn
}

func TestAdvisoryLockExcludesAnotherDaemonUntilTheWriteEndsIt(t *testing.T) {
	a, b, _ := twoAdvisoryDaemons(t)
	ctx := context.Background()
	sess, err := a.Lock(ctx, "s", "a1", "SID", "192.0.2.1")
	if err != nil || sess.Counter != 0 || len(sess.Data) != 0 || sess.AddrCreated != "192.0.2.1" {
		t.Fatalf("first lock of a new session: %+v %v", sess, err)
	}
	if r, err := b.Info(ctx, "s"); r != nil || err != nil {
		t.Fatalf("taking a lock wrote a row: %+v %v", r, err)
	}
	if _, err := a.Lock(ctx, "s", "a1", "SID", "192.0.2.1"); err != nil {
		t.Fatalf("the holder could not take its own lock again: %v", err)
	}
	if _, err := b.Lock(ctx, "s", "b1", "SID", ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("second daemon: %v, expected ErrLocked", err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:1;"), Token: "a1", Addr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	sess, err = b.Lock(ctx, "s", "b1", "SID", "")
	if err != nil || string(sess.Data) != "n|i:1;" || sess.Counter != 1 {
		t.Fatalf("after the write: %+v %v", sess, err)
	}
	// Taking it twice must not stack: one Release frees it.
	if err := b.Release(ctx, "s", "b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, "s", "a2", "SID", ""); err != nil {
		t.Fatalf("after the release: %v", err)
	}
}

func TestAdvisoryLocksOfAClosedStoreEndAtOnce(t *testing.T) {
	a, b, _ := twoAdvisoryDaemons(t)
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "a1", "", ""); err != nil {
		t.Fatal(err)
	}
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Lock(ctx, "s", "b1", "", "")
		if err == nil {
			break
		}
		// PostgreSQL ends a closed connection's backend (and its locks) asynchronously.
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("lock of a closed store: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWriteAfterTheLockConnectionDroppedWritesNothing(t *testing.T) {
	a, b, dsn := twoAdvisoryDaemons(t)
	ctx := context.Background()
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(ctx, "s", "a1", "", ""); err != nil {
		t.Fatal(err)
	}
	// a's connections drop (a network failure, a restart of the backend), its lock
	// with them, and b takes the session.
	conn := pgsesstest.Conn(t, dsn)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Lock(ctx, "s", "b1", "", "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b could not take the lock of a dropped connection: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	if _, err := a.Lock(ctx, "s", "a2", "", ""); err != nil {
		t.Fatalf("a after reconnecting: %v", err)
	}
}

func TestTouchUnderAnAdvisoryLockCreatesAMissingRowAndEndsTheLock(t *testing.T) {
	a, b, _ := twoAdvisoryDaemons(t)
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "a1", "SID", "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if err := a.Touch(ctx, "s", "SID", "192.0.2.7", "a1"); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Info(ctx, "s")
	if r == nil || r.Name != "SID" || r.Counter != 1 || r.AddrCreated != "192.0.2.7" {
		t.Fatalf("row after touch: %+v", r)
	}
	if _, err := b.Lock(ctx, "s", "b1", "", ""); err != nil {
		t.Fatalf("lock after touch: %v", err)
	}
}

func TestAdvisoryLocksThroughAPoolerAreRefused(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	bouncer := testenv.StartPgBouncer(t, pg)
	s := openStore(t, bouncer.DSN(dsn), Options{CreateTable: true, AdvisoryLocks: true, SynchronousCommit: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ready(ctx); !errors.Is(err, ErrPooled) {
		t.Fatalf("Ready through PgBouncer: %v, expected ErrPooled", err)
	}
}
