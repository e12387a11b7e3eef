package pgsess

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

// twoDaemons opens two stores with o (and CreateTable) on one fresh database.
func twoDaemons(t *testing.T, o Options) (a, b *Store, dsn string) {
	t.Helper()
	dsn = testenv.SharedPG(t).NewDatabase(t)
	o.CreateTable = true
	a = openStore(t, dsn, o)
	b = openStore(t, dsn, o)
	return a, b, dsn
}

func TestLeaseExcludesAnotherDaemonUntilTheWriteEndsIt(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Lease{Duration: 15 * time.Second}})
	ctx := context.Background()
	sess, err := a.Lock(ctx, "s", "SID", "192.0.2.1", "a1")
	if err != nil || sess.Counter != 0 || len(sess.Data) != 0 {
		t.Fatalf("first lock of a new session: %+v %v", sess, err)
	}
	if _, err := a.Lock(ctx, "s", "SID", "192.0.2.1", "a1"); err != nil {
		t.Fatalf("the holder could not take its own lease again: %v", err)
	}
	if _, err := b.Lock(ctx, "s", "SID", "", "b1"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second daemon: %v, expected ErrLocked", err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("n|i:1;"), Token: "a1"}); err != nil {
		t.Fatal(err)
	}
	sess, err = b.Lock(ctx, "s", "SID", "", "b1")
	if err != nil || string(sess.Data) != "n|i:1;" || sess.Counter != 1 {
		t.Fatalf("after the write: %+v %v", sess, err)
	}
}

func TestLeaseOfADaemonThatStoppedEndsAfterTheLeaseTime(t *testing.T) {
	a, b, _ := twoDaemons(t, Options{Locks: Lease{Duration: 3 * time.Second}})
	ctx := context.Background()
	if _, err := a.Lock(ctx, "s", "", "", "a1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // a keeps renewing
	if _, err := b.Lock(ctx, "s", "", "", "b1"); !errors.Is(err, ErrLocked) {
		t.Fatalf("a renewed lease was broken: %v", err)
	}
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Lock(ctx, "s", "", "", "b1")
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("lease of a stopped daemon: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWriteUnderALostLeaseWritesNothing(t *testing.T) {
	a, b, dsn := twoDaemons(t, Options{Locks: Lease{Duration: 15 * time.Second}})
	ctx := context.Background()
	a.Lock(ctx, "s", "", "", "a1")
	// The lease expires (as if a's daemon had stalled) and b takes it.
	pgsesstest.Conn(t, dsn).Exec(ctx, "UPDATE php_session SET sess_lock_expire = 0")
	if _, err := b.Lock(ctx, "s", "", "", "b1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, Write{ID: "s", Data: []byte("stale"), Token: "a1"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("write under a lost lease: %v", err)
	}
	if err := a.Touch(ctx, "s", "", "", "a1"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("touch under a lost lease: %v", err)
	}
	if got, _ := b.Info(ctx, "s"); string(got.Data) != "" {
		t.Fatalf("data %q written under a lost lease", got.Data)
	}
}

func TestGCSparesLockedRows(t *testing.T) {
	a, _, dsn := twoDaemons(t, Options{Locks: Lease{Duration: 15 * time.Second}})
	ctx := context.Background()
	a.Lock(ctx, "locked", "", "", "a1")
	pgsesstest.Conn(t, dsn).Exec(ctx, "INSERT INTO php_session (sess_id, sess_expire) VALUES ('free', 1); UPDATE php_session SET sess_expire = 1")
	if n, err := a.GC(ctx); n != 1 || err != nil {
		t.Fatalf("GC removed %d rows (%v): expected only the unlocked one", n, err)
	}
	if n, elected, err := a.electedGC(ctx); !elected || err != nil || n != 0 {
		t.Fatalf("elected GC: %d %v %v", n, elected, err)
	}
}

func TestClusterLocksNeedTheLockColumnsWhenTheTableIsNotOurs(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	pg.Exec(t, testenv.DBName(dsn), `CREATE TABLE php_session (sess_id text PRIMARY KEY, sess_name text, sess_data text,
  sess_created integer, sess_modified integer, sess_expire integer, sess_addr_created text,
  sess_addr_modified text, sess_counter integer, sess_error integer, sess_warning integer,
  sess_notice integer, sess_err_message text, sess_custom text)`)
	s := openStore(t, dsn, Options{Locks: Lease{Duration: 15 * time.Second}})
	_, err := s.Lock(context.Background(), "s", "", "", "t")
	if err == nil || !strings.Contains(err.Error(), "ADD COLUMN sess_lock text") {
		t.Fatalf("got %v: expected the ALTER TABLE to run", err)
	}
}

func TestRestartedDaemonReleasesItsPreviousRunsLeasesOnly(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	ctx := context.Background()
	opts := Options{CreateTable: true, Locks: Lease{Duration: 15 * time.Second, Owner: "web_1:unix:/run/x.sock"}}
	first := openStore(t, dsn, opts)
	if _, err := first.Lock(ctx, "mine", "", "", first.NewToken()); err != nil {
		t.Fatal(err)
	}
	other := openStore(t, dsn, Options{Locks: Lease{Duration: 15 * time.Second, Owner: "web1:unix:/run/x.sock"}})
	if _, err := other.Lock(ctx, "theirs", "", "", other.NewToken()); err != nil {
		t.Fatal(err)
	}
	first.Close() // dies holding "mine"

	again := openStore(t, dsn, opts)
	if err := again.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	probe := openStore(t, dsn, Options{Locks: Lease{Duration: 15 * time.Second}})
	if _, err := probe.Lock(ctx, "mine", "", "", probe.NewToken()); err != nil {
		t.Fatalf("the lease of the previous run still holds: %v", err)
	}
	if _, err := probe.Lock(ctx, "theirs", "", "", probe.NewToken()); !errors.Is(err, ErrLocked) {
		t.Fatalf("another daemon's lease was released: %v", err)
	}
}

func TestOnlyOneDaemonCollectsGarbageAtATime(t *testing.T) {
	a, _, dsn := twoDaemons(t, Options{Locks: Lease{Duration: 15 * time.Second}})
	ctx := context.Background()
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// Another daemon is in the middle of its round: it holds the collector lock.
	other := pgsesstest.Conn(t, dsn)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var got bool
	if err := tx.QueryRow(ctx, a.sql.gcElect, a.table).Scan(&got); err != nil || !got {
		t.Fatalf("taking the collector lock: %v %v", got, err)
	}
	if _, elected, err := a.electedGC(ctx); elected || err != nil {
		t.Fatalf("collected while another daemon was collecting (elected %v, %v)", elected, err)
	}
	tx.Rollback(ctx)
	if _, elected, err := a.electedGC(ctx); !elected || err != nil {
		t.Fatalf("not elected once the other round ended (%v)", err)
	}
}
