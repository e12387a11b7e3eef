package pgsess

import (
	"fmt"
	"regexp"
	"strings"
)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// PgbenchScript renders the statements the store runs for one session request (READ
// then WRITE) as a pgbench custom script, so that pgbench can run exactly the SQL of
// the daemon for comparison. Each transaction picks one of sessions ids ("bench-N")
// and writes data (plain text) to it, expiring lifetime seconds later.
func PgbenchScript(table string, sessions int, data string, lifetime int) string {
	sql := newStatements(tableIdent(table))
	args := map[string]string{
		"1": "'bench-' || :n", "2": "'PHPSESSID'", "3": quoteLiteral(data),
		"4": "extract(epoch FROM now())::integer", "5": fmt.Sprintf("extract(epoch FROM now())::integer + %d", lifetime),
		"6": "'127.0.0.1'", "7": "0", "8": "0", "9": "0", "10": "''", "11": "''",
	}
	render := func(stmt string) string {
		return placeholder.ReplaceAllStringFunc(stmt, func(p string) string { return args[p[1:]] }) + ";\n"
	}
	// pgbench reads one statement per line.
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	return fmt.Sprintf("\\set n random(1, %d)\n", sessions) +
		oneLine(render(sql.read)) + "\n" + oneLine(render(sql.write)) + "\n"
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
