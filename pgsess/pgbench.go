package pgsess

import (
	"fmt"
	"regexp"
	"strings"
)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// PgbenchScript renders the statements the store runs for one session request with
// advisory locks (the default of session_pgsql.lock_scope = cluster) as a pgbench custom
// script, so that pgbench can run exactly the SQL of the daemon for comparison, in the
// same two round trips (pipelines): READ takes the lock and reads the row; WRITE writes
// in a transaction and releases the lock. Each transaction picks one of sessions ids
// ("bench-N") and writes data (plain text) to it, expiring lifetime seconds later.
func PgbenchScript(table string, sessions int, data string, lifetime int) string {
	sql := newStatements(tableIdent(table), false, false)
	const now = "extract(epoch FROM now())::integer"
	id, lock := "'bench-' || :n::text", quoteLiteral(table+"/bench-")+" || :n::text"
	var writeArgs []string // one-element arrays
	for _, a := range []string{id, "'PHPSESSID'", quoteLiteral(data), now, fmt.Sprintf("%s + %d", now, lifetime),
		"'127.0.0.1'", "0", "0", "0", "''", "''"} {
		writeArgs = append(writeArgs, "ARRAY["+a+"]")
	}
	render := func(stmt string, args ...string) string {
		stmt = placeholder.ReplaceAllStringFunc(stmt, func(p string) string {
			var i int
			fmt.Sscan(p[1:], &i)
			return args[i-1]
		})
		return strings.Join(strings.Fields(stmt), " ") + ";\n" // pgbench reads one statement per line
	}
	return fmt.Sprintf("\\set n random(1, %d)\n", sessions) +
		"\\startpipeline\n" + render(sql.advisoryLockMany, "ARRAY["+lock+"]") + render(sql.readMany, "ARRAY["+id+"]") +
		"\\endpipeline\n" +
		"\\startpipeline\n" + render(sql.begin) + render(sql.write, writeArgs...) + render(sql.commit) +
		render(sql.advisoryUnlock, "ARRAY["+lock+"]") + "\\endpipeline\n"
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
