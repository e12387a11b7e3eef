// Package pgsesstest holds test helpers that look at the session table directly,
// beside the store rather than through it.
package pgsesstest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Conn opens a connection to dsn, closed when the test ends.
func Conn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// AdvisoryLocks returns how many advisory locks the backends connected to conn's
// database hold (other databases of the cluster, other tests, do not count).
func AdvisoryLocks(tb testing.TB, conn *pgx.Conn) int {
	tb.Helper()
	var held int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&held); err != nil {
		tb.Fatalf("counting advisory locks: %v", err)
	}
	return held
}

// TerminateBackends ends every other backend connected to conn's database, as a restart
// of PostgreSQL or an operator's pg_terminate_backend would, and waits until they are
// gone.
func TerminateBackends(tb testing.TB, conn *pgx.Conn) {
	tb.Helper()
	if _, err := conn.Exec(context.Background(), `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		tb.Fatalf("terminating backends: %v", err)
	}
}
