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
