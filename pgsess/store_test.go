package pgsess

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func openStore(t *testing.T, dsn string, o Options) *Store {
	t.Helper()
	o.DSN = dsn
	o.Logger = zerolog.Nop()
	if o.MaxLifetime == 0 {
		o.MaxLifetime = time.Hour
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// everyLockMethod is each lock method, named, for tests that run under each: host-only
// locking (nil), Lease and Advisory.
var everyLockMethod = []struct {
	name  string
	locks LockMethod
}{{"host-only", nil}, {"lease", Lease{Duration: 15 * time.Second}}, {"advisory", Advisory{}}}

func TestWriteCreatesThenUpdatesTheRow(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true, MaxLifetime: 100 * time.Second})
	ctx := context.Background()
	s.now = func() time.Time { return time.Unix(1_000_000, 0) }
	if err := s.Write(ctx, Write{ID: "a", Name: "SID", Data: []byte("x|i:1;"), Addr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Unix(1_000_050, 0) }
	if err := s.Write(ctx, Write{ID: "a", Name: "SID", Data: []byte("x|i:2;"), Addr: "192.0.2.2", Meta: Meta{Custom: "c", Error: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, "a")
	if err != nil || got == nil {
		t.Fatalf("read: %v %v", got, err)
	}
	want := Session{ID: "a", Name: "SID", Data: []byte("x|i:2;"), Created: 1_000_000, Modified: 1_000_050, Expire: 1_000_150,
		AddrCreated: "192.0.2.1", AddrModified: "192.0.2.2", Counter: 2, Meta: Meta{Custom: "c", Error: 1}}
	if string(got.Data) != string(want.Data) || got.Meta != want.Meta || got.Created != want.Created || got.Modified != want.Modified ||
		got.Expire != want.Expire || got.AddrCreated != want.AddrCreated || got.AddrModified != want.AddrModified || got.Counter != want.Counter || got.Name != want.Name {
		t.Fatalf("got %+v: expected %+v", *got, want)
	}
}

func TestTableWithoutPrimaryKeyInAnotherSchemaWorks(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	// The 1.0.0 extension's table had no primary key.
	pg.Exec(t, testenv.DBName(dsn), `CREATE SCHEMA web; CREATE TABLE web."Sessions" (
  sess_id text, sess_name text, sess_data text, sess_created integer, sess_modified integer,
  sess_expire integer, sess_addr_created text, sess_addr_modified text, sess_counter integer,
  sess_error integer, sess_warning integer, sess_notice integer, sess_err_message text,
  sess_custom text, extra_column text DEFAULT 'kept')`)
	s := openStore(t, dsn, Options{Table: `web.Sessions`})
	ctx := context.Background()
	for i := range 3 {
		if err := s.Write(ctx, Write{ID: "a", Data: []byte{byte('0' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var n, counter int
	pgsesstest.Conn(t, dsn).QueryRow(ctx, `SELECT count(*), max(sess_counter) FROM web."Sessions"`).Scan(&n, &counter)
	if n != 1 || counter != 3 {
		t.Fatalf("%d rows, counter %d: expected one row written three times", n, counter)
	}
}

func TestExpiredSessionIsDeletedOnReadWhenKeepExpiredOff(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true})
	ctx := context.Background()
	s.Write(ctx, Write{ID: "a", Data: []byte("x")})
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if got, err := s.Read(ctx, "a"); got != nil || err != nil {
		t.Fatalf("read of an expired session: %+v %v", got, err)
	}
	if got, _ := s.Info(ctx, "a"); got != nil {
		t.Fatal("the expired row is still there")
	}
}

func TestExpiredSessionKeepsMetadataOnReadWhenKeepExpiredOn(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true, KeepExpired: true})
	ctx := context.Background()
	s.Write(ctx, Write{ID: "a", Data: []byte("x"), Meta: Meta{Custom: "c"}})
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	got, err := s.Read(ctx, "a")
	if err != nil || got == nil || got.Data != nil || got.Custom != "c" || got.Counter != 1 {
		t.Fatalf("read of an expired session: %+v %v", got, err)
	}
}

func TestTouchCreatesAMissingRowLikeTheFilesHandler(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true})
	ctx := context.Background()
	if err := s.Touch(ctx, "a", "SID", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(ctx, "a"); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if err := s.Touch(ctx, "a", "SID", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Info(ctx, "a"); got.Counter != 2 {
		t.Fatalf("counter %d after two touches", got.Counter)
	}
}

func TestMissingTableWithoutCreateTableIsAnError(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{})
	if _, err := s.Read(context.Background(), "a"); err == nil {
		t.Fatal("read succeeded without a table")
	}
}

func TestPgbenchScriptRunsTheStoresStatements(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true, Locks: Advisory{}})
	if err := s.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	script := PgbenchScript("php_session", 4, `n|s:3:"it's";`, 1440)
	conn := pgsesstest.Conn(t, dsn)
	for _, stmt := range strings.Split(strings.TrimSpace(script), "\n")[1:] {
		if strings.HasPrefix(stmt, `\`) {
			continue // \startpipeline, \endpipeline
		}
		if _, err := conn.Exec(context.Background(), strings.NewReplacer(":n", "1", ":client_id", "7").Replace(strings.TrimSuffix(stmt, ";"))); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if got, _ := s.Info(context.Background(), "bench-1"); got == nil || string(got.Data) != `n|s:3:"it's";` {
		t.Fatalf("row %+v", got)
	}
}

// After a restart of PostgreSQL (here: its backends terminated) every idle connection
// of the store is dead, which pgx learns only on using one: each operation that is safe
// to repeat is tried again on a new connection and succeeds.
func TestOperationsWhoseConnectionDiedSucceedOnANewOne(t *testing.T) {
	for _, method := range []struct {
		name string
		o    Options
	}{{"advisory", Options{Locks: Advisory{}}}, {"lease", Options{Locks: Lease{Duration: 15 * time.Second}}}} {
		t.Run(method.name, func(t *testing.T) {
			dsn := testenv.SharedPG(t).NewDatabase(t)
			o := method.o
			o.CreateTable = true
			s := openStore(t, dsn, o)
			conn := pgsesstest.Conn(t, dsn)
			ctx := context.Background()
			if err := s.Write(ctx, Write{ID: "s", Data: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			tokens := 0
			ops := []struct {
				name string
				op   func() error
			}{
				{"Ping", func() error { return s.Ping(ctx) }},
				{"Read", func() error { _, err := s.Read(ctx, "s"); return err }},
				{"Info", func() error { _, err := s.Info(ctx, "s"); return err }},
				{"Exists", func() error { _, err := s.Exists(ctx, "s"); return err }},
				{"GC", func() error { _, err := s.GC(ctx); return err }},
				{"Lock", func() error {
					tokens++
					token := fmt.Sprint("t", tokens)
					if _, err := s.Lock(ctx, "s", "", "", token); err != nil {
						return err
					}
					return s.Release(ctx, "s", token)
				}},
			}
			for _, op := range ops {
				if err := op.op(); err != nil {
					t.Fatalf("%s: %v", op.name, err)
				}
				pgsesstest.TerminateBackends(t, conn)
				if err := op.op(); err != nil {
					t.Errorf("%s after its connection died: %v", op.name, err)
				}
			}
		})
	}
}

// A write whose connection turns out dead is not repeated, since pgx cannot tell
// whether PostgreSQL received it; the failure makes the next write use a new
// connection.
func TestAWriteWhoseConnectionDiedIsNotRepeated(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true})
	ctx := context.Background()
	if err := s.Write(ctx, Write{ID: "s", Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	pgsesstest.TerminateBackends(t, pgsesstest.Conn(t, dsn))
	if err := s.Write(ctx, Write{ID: "s", Data: []byte("2")}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write on a dead connection: %v, expected its failure", err)
	}
	if err := s.Write(ctx, Write{ID: "s", Data: []byte("3")}); err != nil {
		t.Fatalf("the next write: %v", err)
	}
	if r, _ := s.Info(ctx, "s"); r == nil || string(r.Data) != "3" || r.Counter != 2 {
		t.Fatalf("row: %+v, expected the first and the third write", r)
	}
}

func TestTheLockMethodSaysWhetherTheStoreLocksAcrossDaemons(t *testing.T) {
	for _, tt := range []struct {
		locks LockMethod
		want  bool
	}{{nil, false}, {HostOnly{}, false}, {Lease{Duration: time.Second}, true}, {Advisory{}, true}} {
		s, err := Open(Options{DSN: "host=db.invalid", Locks: tt.locks})
		if err != nil {
			t.Fatalf("%#v: %v", tt.locks, err)
		}
		if got := s.LocksAcrossDaemons(); got != tt.want {
			t.Errorf("%#v: LocksAcrossDaemons() = %v", tt.locks, got)
		}
		if !tt.want {
			if _, err := s.Lock(context.Background(), "a", "", "", s.NewToken()); !errors.Is(err, errNoLocks) {
				t.Errorf("%#v: Lock gave %v", tt.locks, err)
			}
		}
		s.Close()
	}
	if _, err := Open(Options{DSN: "host=db.invalid", Locks: Lease{}}); err == nil {
		t.Error("a lease of no duration accepted")
	}
}

// A failover leaves the store's connections open on a server that can no longer write
// (a demoted primary, or a standby): here, connections opened while the database was
// read-only, which stay so after new ones are writable again. A write refused with
// SQLSTATE 25006 has committed nothing: the store leaves those connections (the pool's
// and a lock connection), repeats the write once on a new one, and it is stored once.
func TestAWriteRefusedAsReadOnlyIsRepeatedOnANewConnection(t *testing.T) {
	for _, method := range []struct {
		name string
		o    Options
	}{{"host", Options{}}, {"advisory", Options{Locks: Advisory{}}}, {"lease", Options{Locks: Lease{Duration: 15 * time.Second}}}} {
		t.Run(method.name, func(t *testing.T) {
			pg := testenv.SharedPG(t)
			dsn := pg.NewDatabase(t)
			db := testenv.DBName(dsn)
			o := method.o
			o.CreateTable = true
			s := openStore(t, dsn, o)
			ctx := context.Background()
			if err := s.Write(ctx, Write{ID: "s", Data: []byte("1")}); err != nil {
				t.Fatal(err)
			}
			pg.Exec(t, "postgres", "ALTER DATABASE "+db+" SET default_transaction_read_only = on")
			s.Reset()
			if _, err := s.Read(ctx, "s"); err != nil { // the pool's connection, read-only
				t.Fatal(err)
			}
			if method.name == "advisory" {
				if _, err := s.Lock(ctx, "s", "", "", "t1"); err != nil { // the lock connection's
					t.Fatal(err)
				}
			}
			pg.Exec(t, "postgres", "ALTER DATABASE "+db+" RESET default_transaction_read_only")
			w := Write{ID: "s", Data: []byte("2")}
			if method.name != "host" {
				w.Token = "t1"
				if method.name == "lease" {
					if _, err := s.Lock(ctx, "s", "", "", "t1"); err != nil {
						t.Fatalf("lock on a read-only connection: %v", err)
					}
				}
			}
			if err := s.Write(ctx, w); err != nil {
				t.Fatalf("write on a read-only connection: %v", err)
			}
			if r, _ := s.Info(ctx, "s"); r == nil || string(r.Data) != "2" || r.Counter != 2 {
				t.Fatalf("row: %+v, expected the second write, once", r)
			}
		})
	}
}
