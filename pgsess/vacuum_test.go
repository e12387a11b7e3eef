package pgsess

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
	"github.com/rs/zerolog"
)

// vacuumCounts returns how often the table was vacuumed and analyzed by hand (not by
// autovacuum).
func vacuumCounts(t *testing.T, dsn string) (vacuums, analyzes int64) {
	t.Helper()
	err := pgsesstest.Conn(t, dsn).QueryRow(context.Background(),
		`SELECT vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relid = 'php_session'::regclass`).Scan(&vacuums, &analyzes)
	if err != nil {
		t.Fatal(err)
	}
	return vacuums, analyzes
}

func TestVacuumByTheTableOwnerVacuumsAndAnalyzes(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true})
	ctx := context.Background()
	if err := s.Write(ctx, Write{ID: "a", Data: []byte("x|i:1;")}); err != nil {
		t.Fatal(err)
	}
	v0, a0 := vacuumCounts(t, dsn)
	if vacuumed, err := s.Vacuum(ctx); !vacuumed || err != nil {
		t.Fatalf("Vacuum = %v, %v; expected a vacuum", vacuumed, err)
	}
	if v, a := vacuumCounts(t, dsn); v != v0+1 || a != a0+1 {
		t.Fatalf("vacuum_count %d→%d, analyze_count %d→%d: expected one more of each", v0, v, a0, a)
	}
}

func TestVacuumSkipsATableAnotherSessionIsVacuuming(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true})
	ctx := context.Background()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// The lock a running VACUUM (another daemon's, or autovacuum) holds.
	other := pgsesstest.Conn(t, dsn)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE php_session IN SHARE UPDATE EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	v0, _ := vacuumCounts(t, dsn)
	// Were it to wait for the lock instead of skipping, it would never return.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if vacuumed, err := s.Vacuum(wait); vacuumed || err != nil {
		t.Fatalf("Vacuum = %v, %v; expected a skipped round", vacuumed, err)
	}
	if v, _ := vacuumCounts(t, dsn); v != v0 {
		t.Fatalf("vacuum_count %d→%d while another session held the table", v0, v)
	}
}

// waitLog waits until log holds at least n lines containing s.
func waitLog(t *testing.T, log *testenv.SyncBuffer, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for strings.Count(log.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("expected %d log lines with %q:\n%s", n, s, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestVacuumByARoleNotOwningTheTableIsReportedOnceThenWorksOnceGranted(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	db := testenv.DBName(dsn)
	role := "vac_" + db
	owner := openStore(t, dsn, Options{CreateTable: true})
	if err := owner.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, db, fmt.Sprintf("CREATE ROLE %[1]s LOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON php_session TO %[1]s", role))
	t.Cleanup(func() {
		pg.ExecSQL("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		pg.ExecSQL("postgres", "DROP ROLE IF EXISTS "+role)
	})
	limited := strings.Replace(dsn, "user=postgres", "user="+role, 1)

	s := openStore(t, limited, Options{})
	var notOwner *NotOwnerError
	if _, err := s.Vacuum(context.Background()); !errors.As(err, &notOwner) || notOwner.Role != role || notOwner.Owner != "postgres" ||
		!strings.Contains(err.Error(), "session_pgsql.vacuum_interval = 0") {
		t.Fatalf("Vacuum as %s = %v; expected a NotOwnerError naming the role, the owner and the way out", role, err)
	}

	log := &testenv.SyncBuffer{}
	s.log = zerolog.New(log).Level(zerolog.DebugLevel)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunVacuum(ctx, 50*time.Millisecond); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	waitLog(t, log, "still not the table's owner", 3) // four rounds at least
	if n := strings.Count(log.String(), "cannot vacuum: role "+role+" does not own table php_session"); n != 1 {
		t.Fatalf("%d warnings about the owner over four rounds; expected exactly one:\n%s", n, log)
	}

	v0, _ := vacuumCounts(t, dsn)
	pg.Exec(t, db, "ALTER TABLE php_session OWNER TO "+role)
	waitLog(t, log, `"permitted_again":true`, 1)
	if v, _ := vacuumCounts(t, dsn); v <= v0 {
		t.Fatalf("vacuum_count %d→%d after ownership was granted", v0, v)
	}
}

func TestVacuumWorksThroughPgBouncerInTransactionMode(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	bouncer := testenv.StartPgBouncer(t, pg)
	s := openStore(t, bouncer.DSN(dsn), Options{CreateTable: true, Locks: Lease{Duration: 15 * time.Second}, SynchronousCommit: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	v0, _ := vacuumCounts(t, dsn)
	if vacuumed, err := s.Vacuum(ctx); !vacuumed || err != nil {
		t.Fatalf("Vacuum through PgBouncer = %v, %v; expected a vacuum", vacuumed, err)
	}
	if v, _ := vacuumCounts(t, dsn); v != v0+1 {
		t.Fatalf("vacuum_count %d→%d: expected one more", v0, v)
	}
}
