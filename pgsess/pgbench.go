package pgsess

import (
	"fmt"
	"regexp"
	"strings"
)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// PgbenchScript renders the statements the store runs for one session request with
// session_pgsql.lock_scope = cluster (READ: lease and read; WRITE: write and end the
// lease) as a pgbench custom script, so that pgbench can run exactly the SQL of the
// daemon for comparison. Each transaction picks one of sessions ids ("bench-N") and
// writes data (plain text) to it, expiring lifetime seconds later.
func PgbenchScript(table string, sessions int, data string, lifetime int) string {
	sql := newStatements(tableIdent(table), true)
	const now = "extract(epoch FROM now())::integer"
	id, token := "'bench-' || :n", "'pgbench-' || :client_id"
	lockArgs := []string{id, "'PHPSESSID'", now, fmt.Sprint(lifetime), "'127.0.0.1'", token, "15000"}
	writeArgs := []string{id, "'PHPSESSID'", quoteLiteral(data), now, fmt.Sprintf("%s + %d", now, lifetime),
		"'127.0.0.1'", "0", "0", "0", "''", "''", token}
	render := func(stmt string, args []string) string {
		stmt = placeholder.ReplaceAllStringFunc(stmt, func(p string) string {
			var i int
			fmt.Sscan(p[1:], &i)
			return args[i-1]
		})
		return strings.Join(strings.Fields(stmt), " ") + ";\n" // pgbench reads one statement per line
	}
	return fmt.Sprintf("\\set n random(1, %d)\n", sessions) + render(sql.lockRead, lockArgs) + render(sql.writeLocked, writeArgs)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
