// Package e2e runs phpsessd end to end: a real PHP-FPM pool with the PHP client as its
// save handler, driven over FastCGI with gofast, a real phpsessd process, and a real
// PostgreSQL.
package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
	"github.com/phpsessd/phpsessd/serverset"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// site is one PHP site: the shared FPM pool pointed at its own daemon and database.
type site struct {
	t      *testing.T
	pg     *testenv.PG
	dsn    string
	daemon *testenv.Daemon
	web    *testenv.Web
	db     *pgx.Conn
	// servers, for a site of several servers (db nil), has a connection string per
	// server of session_pgsql.db: row reads a session on its home server.
	servers []string
}

// newSite starts a daemon with the given extra php.ini lines on a fresh database.
func newSite(t *testing.T, ini string) *site {
	t.Helper()
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	return startSite(t, pg, dsn, dsn, ini)
}

// startSite starts a daemon in a new directory that reaches the database through
// daemonDSN, with the given extra php.ini lines, waits until it reached the database
// (or failed to: tests write rows directly once it made the table), and points the
// shared PHP-FPM pool at it. dsn, when set, is the connection string the test reads
// and writes rows with.
func startSite(t *testing.T, pg *testenv.PG, daemonDSN, dsn, ini string) *site {
	t.Helper()
	fpm := testenv.SharedFPM(t)
	dir := testenv.ShortTempDir(t)
	d := testenv.StartDaemon(t, dir, testenv.DaemonINI(dir, daemonDSN)+ini)
	eventually(t, "the daemon to reach the database", func() bool { return containsReady(d.Log()) })
	s := &site{t: t, pg: pg, dsn: dsn, daemon: d, web: fpm.Web(t, map[string]string{"PHPSESSD_LISTEN": d.Listen})}
	if dsn != "" {
		s.db = pgsesstest.Conn(t, dsn)
	}
	return s
}

// containsReady reports whether a daemon's log shows it reached the database, or
// failed to.
func containsReady(log string) bool { return strings.Contains(log, "database") }

// page is the JSON answer of testdata/www/t.php.
type page map[string]any

func (p page) int(key string) int {
	f, _ := p[key].(float64)
	return int(f)
}

func (p page) str(key string) string {
	s, _ := p[key].(string)
	return s
}

func (p page) ok() bool { b, _ := p["ok"].(bool); return b }

func (p page) warnings() string {
	ws, _ := p["warnings"].([]any)
	var parts []string
	for _, w := range ws {
		parts = append(parts, w.(string))
	}
	return strings.Join(parts, "\n")
}

// get requests t.php?query as browser b and decodes its answer.
func (s *site) get(b *testenv.Browser, query string) page {
	s.t.Helper()
	code, body := b.Get(s.t, "/t.php?"+query)
	var p page
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		s.t.Fatalf("t.php?%s: HTTP %d, not JSON: %v\n%s", query, code, err, body)
	}
	return p
}

// decode parses an answer of t.php; a body that is not JSON gives an empty page.
func decode(body string) page {
	var p page
	json.Unmarshal([]byte(body), &p)
	return p
}

// mustGet is get that fails the test on a PHP warning or a failed session_start.
func (s *site) mustGet(b *testenv.Browser, query string) page {
	s.t.Helper()
	p := s.get(b, query)
	if w := p.warnings(); w != "" {
		s.t.Fatalf("t.php?%s warned: %s", query, w)
	}
	if v, present := p["ok"]; present && v != true {
		s.t.Fatalf("t.php?%s: ok = %v", query, v)
	}
	return p
}

// row is a php_session row.
type row struct {
	Name, Data                string
	Created, Modified, Expire int64
	AddrCreated, AddrModified string
	Counter                   int64
	Error, Warning, Notice    int64
	ErrMessage, Custom        string
}

func (s *site) row(id string) (row, bool) {
	s.t.Helper()
	if len(s.servers) > 0 {
		return s.rowOn(serverset.Home(id, len(s.servers)), id)
	}
	return s.scanRow(s.db, id)
}

// rowOn reads session id's row on server i of a site of several servers, on a
// connection of its own (the server may have restarted since the last read).
func (s *site) rowOn(i int, id string) (row, bool) {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.servers[i])
	if err != nil {
		s.t.Fatalf("server %d: %v", i, err)
	}
	defer conn.Close(context.Background())
	return s.scanRow(conn, id)
}

// execOn runs a statement on server i of a site of several servers, on a connection
// of its own.
func (s *site) execOn(i int, sql string, args ...any) {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.servers[i])
	if err != nil {
		s.t.Fatalf("server %d: %v", i, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatalf("server %d: %s: %v", i, sql, err)
	}
}

func (s *site) scanRow(db *pgx.Conn, id string) (row, bool) {
	s.t.Helper()
	var r row
	err := db.QueryRow(context.Background(), `SELECT coalesce(sess_name, ''), coalesce(sess_data, ''), coalesce(sess_created, 0), coalesce(sess_modified, 0),
  coalesce(sess_expire, 0), coalesce(sess_addr_created, ''), coalesce(sess_addr_modified, ''), coalesce(sess_counter, 0), coalesce(sess_error, 0), coalesce(sess_warning, 0),
  coalesce(sess_notice, 0), coalesce(sess_err_message, ''), coalesce(sess_custom, '')
FROM php_session WHERE sess_id = $1`, id).Scan(&r.Name, &r.Data, &r.Created, &r.Modified, &r.Expire,
		&r.AddrCreated, &r.AddrModified, &r.Counter, &r.Error, &r.Warning, &r.Notice, &r.ErrMessage, &r.Custom)
	if err == pgx.ErrNoRows {
		return r, false
	}
	if err != nil {
		s.t.Fatalf("reading row: %v", err)
	}
	return r, true
}

func (s *site) exec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// eventually polls cond every 50ms for up to 20s: for effects of background work.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
