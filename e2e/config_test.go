package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// expire makes a session's row expired a while ago.
func (s *site) expire(id string) {
	s.t.Helper()
	s.exec("UPDATE php_session SET sess_expire = $2 WHERE sess_id = $1", id, time.Now().Unix()-60)
}

func TestExpiredSessionStartsFreshWhenKeepExpiredOff(t *testing.T) {
	s := newSite(t, "session_pgsql.keep_expired = off\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	s.mustGet(b, "do=count")
	id := b.Cookie("PHPSESSID")
	s.exec("UPDATE php_session SET sess_created = 1000, sess_addr_created = '10.9.9.9' WHERE sess_id = $1", id)
	s.expire(id)
	if n := s.mustGet(b, "do=count").int("n"); n != 1 {
		t.Fatalf("counter %d: an expired session's data must be gone", n)
	}
	r, _ := s.row(id)
	if r.Counter != 1 || r.Created == 1000 || r.AddrCreated != "127.0.0.1" {
		t.Fatalf("row %+v: expected a fresh row", r)
	}
}

func TestExpiredSessionKeepsMetadataWhenKeepExpiredOn(t *testing.T) {
	s := newSite(t, "session_pgsql.keep_expired = on\n")
	b := s.web.Browser()
	s.mustGet(b, "do=functions&field=kept")
	s.mustGet(b, "do=count")
	id := b.Cookie("PHPSESSID")
	s.exec("UPDATE php_session SET sess_created = 1000, sess_addr_created = '10.9.9.9' WHERE sess_id = $1", id)
	s.expire(id)
	if n := s.mustGet(b, "do=count").int("n"); n != 1 {
		t.Fatalf("counter %d: an expired session's data must be gone", n)
	}
	r, _ := s.row(id)
	if r.Counter != 3 || r.Created != 1000 || r.AddrCreated != "10.9.9.9" || r.Custom != "kept" {
		t.Fatalf("row %+v: expected counter 3, created 1000, address and custom field kept", r)
	}
	// GC empties expired rows but keeps them.
	s.expire(id)
	if p := s.mustGet(s.web.Browser(), "do=gc"); p.int("deleted") != 1 {
		t.Fatalf("gc touched %v rows", p["deleted"])
	}
	if r, ok := s.row(id); !ok || r.Data != "" || r.Counter != 3 {
		t.Fatalf("after gc: %+v %v", r, ok)
	}
}

func TestShortCircuit(t *testing.T) {
	for _, tc := range []struct {
		short, lazy bool
		bumps       bool // whether a request that changes nothing updates the row
	}{
		{short: false, lazy: false, bumps: true},
		{short: false, lazy: true, bumps: true},
		{short: true, lazy: false, bumps: false},
		{short: true, lazy: true, bumps: false},
	} {
		t.Run(fmt.Sprintf("short_circuit=%v,lazy_write=%v", tc.short, tc.lazy), func(t *testing.T) {
			s := newSite(t, fmt.Sprintf("session_pgsql.short_circuit = %v\n", tc.short))
			b := s.web.Browser()
			b.PHPValue = fmt.Sprintf("session.lazy_write=%d", map[bool]int{false: 0, true: 1}[tc.lazy])
			s.mustGet(b, "do=count")
			id := b.Cookie("PHPSESSID")
			s.exec("UPDATE php_session SET sess_modified = sess_modified - 100 WHERE sess_id = $1", id)
			before, _ := s.row(id)
			s.mustGet(b, "do=read")
			after, _ := s.row(id)
			if bumped := after.Counter != before.Counter; bumped != tc.bumps || (after.Modified != before.Modified) != tc.bumps {
				t.Fatalf("unchanged request: counter %d→%d, modified %d→%d; expected update=%v",
					before.Counter, after.Counter, before.Modified, after.Modified, tc.bumps)
			}
			s.mustGet(b, "do=count")
			if r, _ := s.row(id); r.Data != "n|i:2;" || r.Counter != after.Counter+1 {
				t.Fatalf("a change must always be written: %+v", r)
			}
		})
	}
}

func TestCreateTableOffWorksWithALeastPrivilegeRole(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	db := testenv.DBName(dsn)
	role := "sess_" + db
	pg.Exec(t, db, `CREATE TABLE php_session (
  sess_id text PRIMARY KEY, sess_name text, sess_data text,
  sess_created integer, sess_modified integer, sess_expire integer,
  sess_addr_created text, sess_addr_modified text, sess_counter integer,
  sess_error integer, sess_warning integer, sess_notice integer,
  sess_err_message text, sess_custom text);
-- The migration step README.md gives for lock_scope = cluster:
ALTER TABLE php_session ADD COLUMN sess_lock text, ADD COLUMN sess_lock_expire bigint`)
	pg.Exec(t, db, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN;
REVOKE ALL ON DATABASE %[2]s FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE %[2]s TO %[1]s;
GRANT USAGE ON SCHEMA public TO %[1]s;
GRANT SELECT, INSERT, UPDATE, DELETE ON php_session TO %[1]s`, role, db))
	t.Cleanup(func() {
		pg.Exec(t, "postgres", fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db))
		pg.Exec(t, "postgres", "DROP ROLE IF EXISTS "+role)
	})
	limited := strings.Replace(dsn, "user=postgres", "user="+role, 1)
	s := startSite(t, pg, limited, dsn, "session_pgsql.create_table = off\nsession_pgsql.gc_interval = -1\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	s.mustGet(b, "do=functions&field=x")
	s.mustGet(b, "do=gc")
	s.mustGet(b, "do=regenerate")
	s.mustGet(b, "do=destroy")
}

func TestMissingTableWithCreateTableOffIsReported(t *testing.T) {
	s := newSite(t, "session_pgsql.create_table = off\n")
	p := s.get(s.web.Browser(), "do=count")
	if p.ok() || !strings.Contains(p.warnings(), "does not exist") {
		t.Fatalf("ok=%v warnings=%q", p["ok"], p.warnings())
	}
}

func TestGCIntervalPositiveCollectsInTheBackground(t *testing.T) {
	s := newSite(t, "session_pgsql.gc_interval = 1\n")
	s.mustGet(s.web.Browser(), "do=count") // the table exists once the daemon is ready
	s.exec(`INSERT INTO php_session (sess_id, sess_data, sess_expire) VALUES ('old1', 'a|i:1;', 1)`)
	eventually(t, "background GC to delete the expired row", func() bool { _, ok := s.row("old1"); return !ok })
}

func TestGCIntervalNegativeCollectsOnEveryAccess(t *testing.T) {
	s := newSite(t, "session_pgsql.gc_interval = -1\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	s.exec(`INSERT INTO php_session (sess_id, sess_data, sess_expire) VALUES ('old1', 'a|i:1;', 1)`)
	s.mustGet(b, "do=count")
	if _, ok := s.row("old1"); ok {
		t.Fatal("expired row survived a session access with gc_interval < 0")
	}
}

func TestGCIntervalZeroLeavesGCToCron(t *testing.T) {
	s := newSite(t, "session_pgsql.gc_interval = 0\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	s.exec(`INSERT INTO php_session (sess_id, sess_data, sess_expire) VALUES ('old1', 'a|i:1;', 1)`)
	time.Sleep(1500 * time.Millisecond)
	s.mustGet(b, "do=count")
	if _, ok := s.row("old1"); !ok {
		t.Fatal("the daemon collected garbage with gc_interval = 0")
	}
	if code, out := testenv.Run(t, "gc", "-ini", s.daemon.INI, "-log-format", "json"); code != 0 || !strings.Contains(out, `"sessions":1`) {
		t.Fatalf("phpsessd gc: exit %d\n%s", code, out)
	}
	if _, ok := s.row("old1"); ok {
		t.Fatal("phpsessd gc left the expired row")
	}
}

func TestBadDirectiveExitsBeforeListeningNamingFileAndLine(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	ini := filepath.Join(dir, "php.ini")
	os.WriteFile(ini, []byte("[PHP]\nmemory_limit = 128M\n[session_pgsql]\nsession_pgsql.keep_expired = maybe\n"), 0o644)
	code, out := testenv.Run(t, "-ini", ini)
	if code == 0 || !strings.Contains(out, ini+":4") || !strings.Contains(out, "session_pgsql.keep_expired") || !strings.Contains(out, "maybe") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "phpsessd.sock")); err == nil {
		t.Fatal("the daemon listened despite a bad php.ini")
	}

	confd := filepath.Join(dir, "conf.d")
	os.Mkdir(confd, 0o755)
	os.WriteFile(ini, []byte("session_pgsql.listen = unix:"+filepath.Join(dir, "x.sock")+"\n"), 0o644)
	os.WriteFile(filepath.Join(confd, "20-sess.ini"), []byte("; comment\nsession_pgsql.bogus = 1\n"), 0o644)
	code, out = testenv.Run(t, "--ini", ini, "-ini-scan-dir", confd)
	if code == 0 || !strings.Contains(out, "20-sess.ini:2") || !strings.Contains(out, "session_pgsql.bogus") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// TestConfigurationErrorsNameFileLineAndDirective runs the daemon and phpsessd gc on
// php.ini files that the store, not the ini reader, refuses, and on broken quotes:
// each error names the file, the line and the directive, and never the password.
func TestConfigurationErrorsNameFileLineAndDirective(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	ini := filepath.Join(dir, "php.ini")
	head := "[PHP]\nmemory_limit = 128M\n[session_pgsql]\nsession_pgsql.listen = unix:" + filepath.Join(dir, "s.sock") + "\n"
	for _, tt := range []struct {
		name, line, directive, want string
	}{
		// pgconn printed this password verbatim: it only redacted "password=X".
		{"password with spaces, bad port", `session_pgsql.db = "host=db password = hunter2 port=notaport"`,
			"session_pgsql.db", "password=xxxxx"},
		{"password in a URL, bad port", `session_pgsql.db = "postgres://u:hunter2@db:notaport/x"`,
			"session_pgsql.db", "u:xxxxx@db"},
		{"second of two servers, bad port", `session_pgsql.db = "host=a password=hunter2;host=b password = hunter2 port=x"`,
			"session_pgsql.db", "password=xxxxx"},
		{"32 servers", `session_pgsql.db = "` + strings.Repeat("host=a password=hunter2;", 32) + `"`,
			"session_pgsql.db", "at most 31 servers"},
		{"missing password file", "session_pgsql.password_file = " + filepath.Join(dir, "nonexistent"),
			"session_pgsql.password_file", "cannot read " + filepath.Join(dir, "nonexistent")},
		{"unterminated double quote", `session_pgsql.db = "host=db password=hunter2`,
			"session_pgsql.db", "double quote is never closed"},
		{"unterminated single quote", `session_pgsql.db = 'host=db password=hunter2`,
			"session_pgsql.db", "single quote is never closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(ini, []byte(head+tt.line+"\nsession.name = SID\n"), 0o644)
			for _, args := range [][]string{{"-ini", ini}, {"gc", "-ini", ini}} {
				code, out := testenv.Run(t, args...)
				if code != 2 || !strings.Contains(out, ini+":5: "+tt.directive+": ") || !strings.Contains(out, tt.want) {
					t.Errorf("phpsessd %s: exit %d, want 2 and %q at %s:5, output:\n%s", args[0], code, tt.want, ini, out)
				}
				if strings.Contains(out, "hunter2") || strings.Contains(out, "secret file") {
					t.Errorf("phpsessd %s shows the password or calls it a secret file:\n%s", args[0], out)
				}
			}
		})
	}
}

func TestDatabaseDownAtStartIsRetriedNotACrash(t *testing.T) {
	pg := testenv.SharedPG(t)
	db := fmt.Sprintf("late%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	s := startSite(t, pg, pg.AdminDSN(db), "", "")
	d := s.daemon
	b := s.web.Browser()
	if p := s.get(b, "do=count"); p.ok() || p.warnings() == "" {
		t.Fatalf("session_start() with the database down: ok=%v warnings=%q", p["ok"], p.warnings())
	}
	pg.Exec(t, "postgres", "CREATE DATABASE "+db)
	t.Cleanup(func() { pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	eventually(t, "the daemon to serve once the database exists", func() bool { return s.get(b, "do=count").ok() })
	if !strings.Contains(d.Log(), "database not ready") {
		t.Fatalf("the retries were not logged:\n%s", d.Log())
	}
}

func TestUnixSocketIsNotWorldWritable(t *testing.T) {
	s := newSite(t, "session_pgsql.socket_group = nogroup\n")
	path := strings.TrimPrefix(s.daemon.Listen, "unix:")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, expected 0660", fi.Mode().Perm())
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != 65534 {
		t.Fatalf("socket group %d, expected nogroup (65534)", gid)
	}
}

func TestTCPNeedsASecretBeyondLoopback(t *testing.T) {
	pg := testenv.SharedPG(t)
	dir := testenv.ShortTempDir(t)
	os.WriteFile(filepath.Join(dir, "php.ini"), []byte(testenv.DaemonINI(dir, pg.AdminDSN("postgres"))+
		"session_pgsql.listen = tcp:0.0.0.0:9\n"), 0o644)
	code, out := testenv.Run(t, "-ini", filepath.Join(dir, "php.ini"), "-log-format", "json")
	if code == 0 || !strings.Contains(out, "secret") {
		t.Fatalf("exit %d: expected a refusal to listen without a secret:\n%s", code, out)
	}
}

func TestTCPWithSecretServesPHPAndRefusesAWrongSecret(t *testing.T) {
	fpm := testenv.SharedFPM(t)
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	port, _ := testenv.FreePort()
	dir := testenv.ShortTempDir(t)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("correct horse battery staple\n"), 0o600)
	d := testenv.StartDaemon(t, dir, testenv.DaemonINI(dir, dsn)+fmt.Sprintf(
		"session_pgsql.listen = tcp:0.0.0.0:%d\nsession_pgsql.secret_file = %s\n", port, filepath.Join(dir, "secret")))
	addr := fmt.Sprintf("tcp:127.0.0.1:%d", port)
	good := &site{t: t, web: fpm.Web(t, map[string]string{"PHPSESSD_LISTEN": addr, "PHPSESSD_SECRET": "correct horse battery staple"})}
	good.mustGet(good.web.Browser(), "do=count")
	bad := &site{t: t, web: fpm.Web(t, map[string]string{"PHPSESSD_LISTEN": addr, "PHPSESSD_SECRET": "wrong"})}
	if p := bad.get(bad.web.Browser(), "do=count"); p.ok() || !strings.Contains(p.warnings(), "secret") {
		t.Fatalf("wrong secret: ok=%v warnings=%q", p["ok"], p.warnings())
	}
	if strings.Contains(d.Log(), "correct horse") {
		t.Fatal("the secret appears in the daemon's log")
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
	}
}

func TestPasswordNeverAppearsInLogs(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	os.WriteFile(filepath.Join(dir, "pw"), []byte("hunter2-from-file\n"), 0o600)
	ini := testenv.DaemonINI(dir, "host=127.0.0.1 port=1 dbname=x user=u password=hunter2-in-dsn connect_timeout=1") +
		"session_pgsql.password_file = " + filepath.Join(dir, "pw") + "\n"
	d := testenv.StartDaemon(t, dir, ini)
	eventually(t, "a logged connection failure", func() bool { return strings.Contains(d.Log(), "database not ready") })
	if strings.Contains(d.Log(), "hunter2") {
		t.Fatalf("password in the log:\n%s", d.Log())
	}
}

func TestMetricsAndHealthz(t *testing.T) {
	port, _ := testenv.FreePort()
	s := newSite(t, fmt.Sprintf("session_pgsql.metrics_listen = 127.0.0.1:%d\n", port))
	s.mustGet(s.web.Browser(), "do=count")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var body string
	eventually(t, "the metrics listener", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body = string(b)
	for _, want := range []string{`phpsessd_requests_total{op="READ",status="OK"} 1`, `phpsessd_requests_total{op="WRITE",status="OK"} 1`,
		"phpsessd_request_duration_seconds_bucket", "phpsessd_connections", "phpsessd_db_connections", "phpsessd_lock_batches_total"} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`(?m)^phpsessd_lock_batches_total [1-9]`).MatchString(body) {
		t.Fatalf("/metrics counts no lock batch after a READ and a WRITE:\n%s", body)
	}
}

func TestPasswordFromPasswordFileOrPGPASSWORDAuthenticates(t *testing.T) {
	testenv.RequirePHP(t)
	pg := testenv.PrivatePG(t)
	// This cluster checks passwords (SCRAM) for every role but postgres.
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(pg.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, "postgres", "SELECT pg_reload_conf()")
	pg.Exec(t, "postgres", "CREATE ROLE web LOGIN PASSWORD 'hunter2'")
	pg.Exec(t, "postgres", "CREATE DATABASE sess OWNER web")
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d dbname=sess user=web sslmode=disable", pg.Port)
	fpm := testenv.SharedFPM(t)

	serve := func(t *testing.T, extraINI string) *site {
		dir := testenv.ShortTempDir(t)
		os.WriteFile(filepath.Join(dir, "pw"), []byte("hunter2\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "wrong"), []byte("letmein\n"), 0o600)
		d := testenv.StartDaemon(t, dir, testenv.DaemonINI(dir, dsn)+strings.ReplaceAll(extraINI, "DIR", dir))
		eventually(t, "the daemon to try the database", func() bool { return containsReady(d.Log()) })
		if strings.Contains(d.Log(), "hunter2") {
			t.Fatalf("the password is in the log:\n%s", d.Log())
		}
		return &site{t: t, daemon: d, web: fpm.Web(t, map[string]string{"PHPSESSD_LISTEN": d.Listen})}
	}
	t.Run("password_file", func(t *testing.T) {
		s := serve(t, "session_pgsql.password_file = DIR/pw\n")
		s.mustGet(s.web.Browser(), "do=count")
	})
	t.Run("PGPASSWORD", func(t *testing.T) {
		t.Setenv("PGPASSWORD", "hunter2")
		s := serve(t, "")
		s.mustGet(s.web.Browser(), "do=count")
	})
	t.Run("wrong password", func(t *testing.T) {
		s := serve(t, "session_pgsql.password_file = DIR/wrong\n")
		if p := s.get(s.web.Browser(), "do=count"); p.ok() || !strings.Contains(p.warnings(), "password authentication failed") {
			t.Fatalf("ok=%v warnings=%q", p["ok"], p.warnings())
		}
	})
}
