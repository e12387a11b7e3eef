package iniconf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeIni writes content to a php.ini in a new temporary directory and
// returns its path.
func writeIni(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "php.ini")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testdata returns the absolute path of a file under testdata.
func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	p := testdata(t, "empty.ini")
	c, err := Load(p, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Files = []string{p}
	if !reflect.DeepEqual(values(c), values(want)) {
		t.Errorf("Load(empty) = %+v\nwant %+v", c, want)
	}
}

// TestDirectiveDefaults checks that each documented default, written in a
// php.ini, gives the value Defaults returns.
func TestDirectiveDefaults(t *testing.T) {
	var b strings.Builder
	seen := map[string]bool{}
	for _, d := range Directives() {
		if !strings.HasPrefix(d.Name, "session_pgsql.") || seen[d.Name] || d.Description == "" {
			t.Errorf("bad directive entry %+v", d)
		}
		seen[d.Name] = true
		b.WriteString(d.Name + ` = "` + d.Default + "\"\n")
	}
	p := writeIni(t, b.String())
	c, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Files = []string{p}
	want.Ignored = []string{"session_pgsql.sem_file_name", "session_pgsql.use_app_vars", "session_pgsql.serializable"}
	if !reflect.DeepEqual(values(c), values(want)) {
		t.Errorf("Load(documented defaults) = %+v\nwant %+v", c, want)
	}
}

func TestAllDirectives(t *testing.T) {
	t.Setenv("PHPSESSD_TESTDATA", testdata(t, ""))
	p := testdata(t, "all.ini")
	c, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Files:              []string{p},
		DB:                 []string{"host=a dbname=s user=u", "host=b dbname=s user=u"},
		KeepExpired:        true,
		CreateTable:        false,
		ShortCircuit:       true,
		FailoverMode:       true,
		GCInterval:         600 * time.Second,
		VacuumInterval:     3600 * time.Second,
		Disable:            true,
		Ignored:            []string{"session_pgsql.sem_file_name", "session_pgsql.use_app_vars", "session_pgsql.serializable"},
		Table:              "my_sessions",
		Locking:            false,
		LockScope:          "host",
		LockMethod:         "lease",
		LockLease:          60 * time.Second,
		PreparedStatements: false,
		MaxConnections:     8,
		MaxClients:         500,
		LockTimeout:        5 * time.Second,
		Listen:             Listen{Network: "tcp", Address: "[::1]:9300"},
		SocketGroup:        "www-data",
		Secret:             "top-secret",
		PasswordFile:       "/etc/phpsessd/pgpassword",
		MaxFrameSize:       1 << 30,
		ClientTimeout:      2500 * time.Millisecond,
		MetricsListen:      ":9301",
		LogLevel:           "debug",
		Synchronous:        false,
		GCMaxLifetime:      86400,
		SessionName:        "laravel_session",
		SerializeHandler:   "php_binary",
		SaveHandler:        "pgsql",
	}
	if !reflect.DeepEqual(values(c), values(want)) {
		t.Errorf("Load(all.ini) = %+v\nwant %+v", c, want)
	}
}

// TestRealistic reads a production-like php.ini with a conf.d directory:
// sections are headings only, quoted values keep ';', inline comments go,
// PATH and HOST sections are skipped and later files override earlier ones.
func TestRealistic(t *testing.T) {
	p, dir := testdata(t, "php.ini"), testdata(t, "conf.d")
	c, err := Load(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Files = []string{p, filepath.Join(dir, "10-phpsessd.ini"), filepath.Join(dir, "20-local.ini")}
	want.DB = []string{"host=db1.example dbname=php_session user=www", "host=db2.example dbname=php_session user=www"}
	want.KeepExpired = true
	want.CreateTable = false
	want.GCInterval = -time.Second
	want.ShortCircuit = true
	want.Table = "sessions.php_session" // not legacy_session from [PATH=...]
	want.Listen = Listen{Network: "tcp", Address: "127.0.0.1:9300"}
	want.Secret = "s3cret;with;semicolons"
	want.LockTimeout = 10 * time.Second   // 10-phpsessd.ini
	want.LogLevel = "error"               // 20-local.ini over 10-phpsessd.ini
	want.MaxFrameSize = 16 << 20          // 20-local.ini over 10-phpsessd.ini
	want.MetricsListen = "127.0.0.1:9301" // 20-local.ini
	want.GCMaxLifetime = 7200             // inline comment dropped
	want.SessionName = "SITESESSID"       // not LEGACYSESS from [PATH=...]
	want.SerializeHandler = "php_serialize"
	want.SaveHandler = "pgsql"
	if !reflect.DeepEqual(values(c), values(want)) {
		t.Errorf("Load = %+v\nwant %+v", c, want)
	}
}

func TestSyntax(t *testing.T) {
	t.Setenv("PHPSESSD_TEST_HOST", "db.example")
	t.Setenv("PHPSESSD_TEST_GROUP", "www-data")
	tests := []struct {
		name, ini string
		get       func(*Config) any
		want      any
	}{
		{"quoted semicolons", `session_pgsql.db = "host=a;host=b" ; comment`,
			func(c *Config) any { return c.DB }, []string{"host=a", "host=b"}},
		{"31 servers", `session_pgsql.db = "` + strings.Repeat("host=a;", 31) + `"`,
			func(c *Config) any { return len(c.DB) }, 31},
		{"inline comment", "session_pgsql.table = t1 ; the table\n",
			func(c *Config) any { return c.Table }, "t1"},
		{"inline comment no space", "session_pgsql.table = t1;x\n",
			func(c *Config) any { return c.Table }, "t1"},
		{"hash in double quotes", `session_pgsql.secret = "a#b;c"`,
			func(c *Config) any { return c.Secret }, "a#b;c"},
		{"escaped quote", `session_pgsql.secret = "a\"b"`,
			func(c *Config) any { return c.Secret }, `a"b`},
		{"secret keeps spaces", `session_pgsql.secret = " s "`,
			func(c *Config) any { return c.Secret }, " s "},
		{"single quotes", `session_pgsql.socket_group = 'www'`,
			func(c *Config) any { return c.SocketGroup }, "www"},
		{"env", `session_pgsql.db = "host=${PHPSESSD_TEST_HOST} dbname=x"`,
			func(c *Config) any { return c.DB }, []string{"host=db.example dbname=x"}},
		{"env unquoted", `session_pgsql.socket_group = ${PHPSESSD_TEST_GROUP}`,
			func(c *Config) any { return c.SocketGroup }, "www-data"},
		{"env unset is empty", `session_pgsql.secret = "x${PHPSESSD_TEST_UNSET}y"`,
			func(c *Config) any { return c.Secret }, "xy"},
		{"no env in single quotes", `session_pgsql.secret = '${PHPSESSD_TEST_HOST}'`,
			func(c *Config) any { return c.Secret }, "${PHPSESSD_TEST_HOST}"},
		{"last definition wins", "[PHP]\nsession_pgsql.table = a\n[Session]\nsession_pgsql.table = b\n[PHP]\nsession_pgsql.table = c\n",
			func(c *Config) any { return c.Table }, "c"},
		{"path section skipped", "session_pgsql.table = a\n[path=/x]\nsession_pgsql.table = b\nsession_pgsql.bogus = 1\n",
			func(c *Config) any { return c.Table }, "a"},
		{"host section skipped", "[HOST=www.example]\nsession_pgsql.table = b\n[PHP]\n",
			func(c *Config) any { return c.Table }, "php_session"},
		{"colon is not a delimiter", "session_pgsql.table : b\n",
			func(c *Config) any { return c.Table }, "php_session"},
		{"hash comment line", "# session_pgsql.table = b\n",
			func(c *Config) any { return c.Table }, "php_session"},
		{"CRLF", "session_pgsql.table = b\r\nsession_pgsql.locking = off\r\n",
			func(c *Config) any { return [2]any{c.Table, c.Locking} }, [2]any{"b", false}},
		{"negative gc_interval", "session_pgsql.gc_interval = -1",
			func(c *Config) any { return c.GCInterval }, -time.Second},
		{"gc_interval 0", "session_pgsql.gc_interval = 0",
			func(c *Config) any { return c.GCInterval }, time.Duration(0)},
		{"gc_interval off", "session_pgsql.gc_interval = off",
			func(c *Config) any { return c.GCInterval }, time.Duration(0)},
		{"size K", "session_pgsql.max_frame_size = 64k",
			func(c *Config) any { return c.MaxFrameSize }, 64 << 10},
		{"size bytes", "session_pgsql.max_frame_size = 100000",
			func(c *Config) any { return c.MaxFrameSize }, 100000},
		{"max_clients auto in any case", "session_pgsql.max_clients = AUTO",
			func(c *Config) any { return c.MaxClients }, MaxClientsAuto},
		{"max_clients 0 is no bound", "session_pgsql.max_clients = 0",
			func(c *Config) any { return c.MaxClients }, 0},
		{"fraction", "session_pgsql.client_timeout = .25",
			func(c *Config) any { return c.ClientTimeout }, 250 * time.Millisecond},
		{"unix listen", "session_pgsql.listen = unix:/tmp/s.sock",
			func(c *Config) any { return c.Listen }, Listen{"unix", "/tmp/s.sock"}},
		{"other directives ignored", "memory_limit = 128M\nsession.cookie_secure = maybe\nSession_Pgsql = 1\n",
			func(c *Config) any { return c.Table }, "php_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeIni(t, tt.ini), "")
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestBooleans(t *testing.T) {
	for _, s := range []string{"1", "on", "On", "ON", "yes", "YES", "true", "True", `"on"`} {
		c, err := Load(writeIni(t, "session_pgsql.keep_expired = "+s), "")
		if err != nil || !c.KeepExpired {
			t.Errorf("keep_expired = %s: got %v, %v; want true", s, c, err)
		}
	}
	for _, s := range []string{"0", "off", "Off", "no", "NO", "false", "FALSE", "none", "None", "", `""`} {
		c, err := Load(writeIni(t, "session_pgsql.locking = "+s), "")
		if err != nil || c.Locking {
			t.Errorf("locking = %s: got %v, %v; want false", s, c, err)
		}
	}
}

func TestVacuumInterval(t *testing.T) {
	for v, want := range map[string]time.Duration{"0": 0, "off": 0, "": 0, "none": 0, "1": time.Second, "21600": 6 * time.Hour, `"600"`: 10 * time.Minute} {
		c, err := Load(writeIni(t, "session_pgsql.vacuum_interval = "+v), "")
		if err != nil || c.VacuumInterval != want {
			t.Errorf("vacuum_interval = %s: got %v, %v; want %v", v, c, err, want)
		}
	}
}

func TestDisable(t *testing.T) {
	for v, want := range map[string]bool{"on": true, "1": true, "off": false, "": false} {
		c, err := Load(writeIni(t, "session_pgsql.disable = "+v), "")
		if err != nil || c.Disable != want {
			t.Errorf("disable = %s: got %v, %v; want %v", v, c, err, want)
		}
	}
}

// TestIgnoredExtensionDirectivesAcceptAnyValue: the extension read sem_file_name as any
// string and use_app_vars and serializable as PHP booleans, which take any value; a php.ini
// that worked with it must not stop the daemon. Each one set is listed once, whatever its
// value, and only those set.
func TestIgnoredExtensionDirectivesAcceptAnyValue(t *testing.T) {
	for _, v := range []string{"", "on", "off", "maybe", "2", "/var/run/php_session_pgsql", `"a;b"`} {
		c, err := Load(writeIni(t, "session_pgsql.serializable = "+v+"\nsession_pgsql.sem_file_name = "+v+
			"\nsession_pgsql.serializable = "+v+"\n"), "")
		want := []string{"session_pgsql.sem_file_name", "session_pgsql.serializable"}
		if err != nil || !reflect.DeepEqual(c.Ignored, want) {
			t.Errorf("value %s: got %v, %v; want Ignored %v", v, c, err, want)
		}
	}
	c, err := Load(writeIni(t, "session_pgsql.use_app_vars = off\n"), "")
	if err != nil || !reflect.DeepEqual(c.Ignored, []string{"session_pgsql.use_app_vars"}) {
		t.Errorf("use_app_vars: got %v, %v", c, err)
	}
	for _, d := range Directives() {
		if slices.Contains(c.Ignored, d.Name) && !strings.HasPrefix(d.Description, "Ignored: ") {
			t.Errorf("%s: its description must say why it is ignored: %q", d.Name, d.Description)
		}
	}
}

func TestBadValues(t *testing.T) {
	abs := testdata(t, "secret.txt")
	tests := []struct {
		ini       string
		directive string
		line      int
		msg       string // a part of Msg
	}{
		{"session_pgsql.keep_expired = maybe", "session_pgsql.keep_expired", 1, `invalid boolean "maybe" (allowed: on, off`},
		{"\n\nsession_pgsql.locking = 2", "session_pgsql.locking", 3, "invalid boolean"},
		{"session_pgsql.synchronous_commit = null", "session_pgsql.synchronous_commit", 1, "invalid boolean"},
		{"session_pgsql.db = \" ; \"", "session_pgsql.db", 1, "no connection string"},
		{"session_pgsql.db =", "session_pgsql.db", 1, "no connection string"},
		{"\nsession_pgsql.db = \"" + strings.Repeat("host=a;", 32) + "\"", "session_pgsql.db", 2, "32 connection strings; at most 31 servers"},
		{"session_pgsql.gc_interval = 1h", "session_pgsql.gc_interval", 1, "invalid number of seconds"},
		{"session_pgsql.gc_interval = 99999999999", "session_pgsql.gc_interval", 1, "invalid number of seconds"},
		{"session_pgsql.vacuum_interval = 6h", "session_pgsql.vacuum_interval", 1, `invalid number of seconds "6h" (allowed: a whole number from 0`},
		{"session_pgsql.vacuum_interval = -1", "session_pgsql.vacuum_interval", 1, "negative value"},
		{"session_pgsql.vacuum_interval = 99999999999", "session_pgsql.vacuum_interval", 1, "invalid number of seconds"},
		{"\nsession_pgsql.disable = maybe", "session_pgsql.disable", 2, `invalid boolean "maybe"`},
		{"session_pgsql.table = 1abc", "session_pgsql.table", 1, "invalid table name"},
		{"session_pgsql.table = a.b.c", "session_pgsql.table", 1, "invalid table name"},
		{"session_pgsql.table = \"a b\"", "session_pgsql.table", 1, "invalid table name"},
		{"session_pgsql.table = " + strings.Repeat("x", 64), "session_pgsql.table", 1, "at most 63 bytes"},
		{"session_pgsql.table = s." + strings.Repeat("x", 64), "session_pgsql.table", 1, "at most 63 bytes"},
		{"session_pgsql.lock_timeout = 0", "session_pgsql.lock_timeout", 1, "above 0"},
		{"session_pgsql.lock_timeout = -5", "session_pgsql.lock_timeout", 1, "above 0"},
		{"session_pgsql.lock_timeout = 1.5", "session_pgsql.lock_timeout", 1, "whole number"},
		{"session_pgsql.listen = /run/x.sock", "session_pgsql.listen", 1, "allowed: unix:/path/to/socket or tcp:host:port"},
		{"session_pgsql.listen = unix:x.sock", "session_pgsql.listen", 1, "absolute"},
		{"session_pgsql.listen = tcp:127.0.0.1", "session_pgsql.listen", 1, "not host:port"},
		{"session_pgsql.listen = tcp::9300", "session_pgsql.listen", 1, "missing host"},
		{"session_pgsql.listen = tcp:localhost:http", "session_pgsql.listen", 1, "1 to 65535"},
		{"session_pgsql.listen =", "session_pgsql.listen", 1, "invalid listen address"},
		{"session_pgsql.max_frame_size = 4MB", "session_pgsql.max_frame_size", 1, "invalid size \"4MB\" (allowed: bytes from 64K to 1G"},
		{"session_pgsql.max_frame_size = 1000", "session_pgsql.max_frame_size", 1, "invalid size"},
		{"session_pgsql.max_frame_size = 2G", "session_pgsql.max_frame_size", 1, "invalid size"},
		{"session_pgsql.max_frame_size = 99999999999999999999G", "session_pgsql.max_frame_size", 1, "invalid size"},
		{"session_pgsql.max_clients = -1", "session_pgsql.max_clients", 1, "allowed: auto, or a whole number"},
		{"session_pgsql.max_clients = many", "session_pgsql.max_clients", 1, "allowed: auto"},
		{"session_pgsql.max_clients = 1000001", "session_pgsql.max_clients", 1, "to 1000000"},
		{"session_pgsql.client_timeout = 0", "session_pgsql.client_timeout", 1, "above 0"},
		{"session_pgsql.client_timeout = -1", "session_pgsql.client_timeout", 1, "above 0"},
		{"session_pgsql.client_timeout = 1e3", "session_pgsql.client_timeout", 1, "above 0"},
		{"session_pgsql.client_timeout = 0.0000000001", "session_pgsql.client_timeout", 1, "above 0"},
		{"session_pgsql.metrics_listen = 9301", "session_pgsql.metrics_listen", 1, "host:port"},
		{"session_pgsql.log_level = verbose", "session_pgsql.log_level", 1, "allowed: debug, info, warn, error"},
		{"session_pgsql.password_file = pw.txt", "session_pgsql.password_file", 1, "absolute path"},
		{"session_pgsql.secret_file = secret.txt", "session_pgsql.secret_file", 1, "absolute path"},
		{"session_pgsql.secret_file = /nonexistent/secret", "session_pgsql.secret_file", 1, "cannot read /nonexistent/secret"},
		{"session_pgsql.secret_file = /dev/null", "session_pgsql.secret_file", 1, "not a regular file"},
		{"session_pgsql.secret = x\n\nsession_pgsql.secret_file = " + abs, "session_pgsql.secret_file", 3, "cannot be combined with session_pgsql.secret"},
		{"session.gc_maxlifetime = 0", "session.gc_maxlifetime", 1, "above 0"},
		{"session.gc_maxlifetime = 24m", "session.gc_maxlifetime", 1, "whole number"},
		{"session.name = 12345", "session.name", 1, "invalid session name"},
		{`session.name = "my sess"`, "session.name", 1, "invalid session name"},
		{"session.name =", "session.name", 1, "invalid session name"},
		{"session.serialize_handler = igbinary", "session.serialize_handler", 1, "allowed: php, php_serialize, php_binary"},
		// What ini.v1 would read differently from PHP.
		{"session_pgsql.secret = abc#def", "session_pgsql.secret", 1, "unquoted '#'"},
		{"session_pgsql.secret = 'abc;def'", "session_pgsql.secret", 1, "inside single quotes"},
		{`session_pgsql.secret = "abc"def`, "session_pgsql.secret", 1, "after the closing quote"},
		{`session_pgsql.secret = "abc" ; a "quoted" comment`, "session_pgsql.secret", 1, "after the closing quote"},
		{`session_pgsql.secret = "a\\b"`, "session_pgsql.secret", 1, "inside double quotes"},
		{`session_pgsql.secret = "${X:-y}"`, "session_pgsql.secret", 1, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.ini, func(t *testing.T) {
			p := writeIni(t, "[PHP]\n"+tt.ini+"\n")
			c, err := Load(p, "")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load = %+v, %v; want an *Error", c, err)
			}
			if e.File != p || e.Line != tt.line+1 || e.Directive != tt.directive || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got %s:%d %s %q, want %s:%d %s with %q", e.File, e.Line, e.Directive, e.Msg, p, tt.line+1, tt.directive, tt.msg)
			}
		})
	}
}

func TestBadValueInScanDir(t *testing.T) {
	main, dir := testdata(t, "bad/main.ini"), testdata(t, "bad/conf.d")
	// main.ini's bad keep_expired alone is an error ...
	_, err := Load(main, "")
	var e *Error
	if !errors.As(err, &e) || e.File != main || e.Line != 3 || e.Directive != "session_pgsql.keep_expired" {
		t.Errorf("Load(main.ini) = %v, want an error at main.ini:3 for keep_expired", err)
	}
	// ... but 10-ok.ini overrides it; the error that remains is in 20-bad.ini.
	_, err = Load(main, dir)
	bad := filepath.Join(dir, "20-bad.ini")
	if !errors.As(err, &e) || e.File != bad || e.Line != 4 || e.Directive != "session_pgsql.lock_timeout" {
		t.Fatalf("Load = %v, want an error at %s:4 for lock_timeout", err, bad)
	}
	want := bad + `:4: session_pgsql.lock_timeout: invalid number of seconds "soon" (allowed: a whole number above 0)`
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant %q", err, want)
	}
}

func TestUnknownDirective(t *testing.T) {
	p := testdata(t, "bad/unknown.ini")
	_, err := Load(p, "")
	var e *Error
	if !errors.As(err, &e) || e.File != p || e.Line != 4 || e.Directive != "session_pgsql.keep_expird" ||
		!strings.HasPrefix(e.Msg, "unknown directive; known: session_pgsql.db, ") || !strings.Contains(e.Msg, "session_pgsql.keep_expired") {
		t.Errorf("Load = %#v", err)
	}
	// The prefix is matched in any case, so a wrongly cased name is reported.
	_, err = Load(writeIni(t, "Session_PgSQL.DB = x"), "")
	if !errors.As(err, &e) || e.Directive != "Session_PgSQL.DB" {
		t.Errorf("Load(Session_PgSQL.DB) = %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.ini")
	_, err := Load(missing, "")
	var e *Error
	if !errors.As(err, &e) || e.File != missing || !errors.Is(err, fs.ErrNotExist) ||
		!strings.HasPrefix(err.Error(), missing+": cannot read file: ") {
		t.Errorf("Load(missing) = %v", err)
	}

	ok := writeIni(t, "")
	_, err = Load(ok, missing)
	if !errors.As(err, &e) || e.File != missing || !strings.Contains(e.Msg, "scan directory") {
		t.Errorf("Load(missing scan dir) = %v", err)
	}

	unreadable := filepath.Join(dir, "sub.ini")
	if err := os.Mkdir(unreadable, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(unreadable, ""); !errors.As(err, &e) || e.File != unreadable {
		t.Errorf("Load(directory) = %v", err)
	}
	// A directory named *.ini in the scan dir is skipped, like PHP does.
	c, err := Load(ok, dir)
	if err != nil || len(c.Files) != 1 {
		t.Errorf("Load(scan dir with a directory) = %v, %v", c, err)
	}

	for _, bad := range []string{"[PHP\nsession.name = x\n", "session_pgsql.secret = \"unterminated-secret\n", "\"key = x\n"} {
		p := writeIni(t, bad)
		if _, err := Load(p, ""); !errors.As(err, &e) || e.File != p || !strings.Contains(e.Msg, "syntax error") ||
			strings.Contains(err.Error(), "unterminated") {
			t.Errorf("Load(%q) = %v, want a syntax error without the value", bad, err)
		}
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct{ content, want, err string }{
		{"abc\n", "abc", ""},
		{"abc", "abc", ""},
		{"abc\r\nnext\n", "abc", ""},
		{" a b \n", " a b ", ""},
		{"", "", "empty first line"},
		{"\nabc\n", "", "empty first line"},
	}
	for i, tt := range tests {
		f := write(string(rune('a'+i))+".txt", tt.content)
		c, err := Load(writeIni(t, "session_pgsql.secret_file = "+f), "")
		switch {
		case tt.err == "" && (err != nil || c.Secret != tt.want):
			t.Errorf("secret file %q: got %v, %v; want %q", tt.content, c, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("secret file %q: got %v, want an error with %q", tt.content, err, tt.err)
		}
	}
	// An empty secret with a secret file is not a conflict.
	f := write("ok.txt", "xyz\n")
	c, err := Load(writeIni(t, "session_pgsql.secret =\nsession_pgsql.secret_file = "+f), "")
	if err != nil || c.Secret != "xyz" {
		t.Errorf("empty secret and secret_file: %v, %v", c, err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "/etc/php/8.2/fpm/php.ini", Line: 42, Directive: "session_pgsql.keep_expired",
			Msg: `invalid boolean "maybe" (allowed: on, off, yes, no, true, false, 1, 0, none or empty)`},
			`/etc/php/8.2/fpm/php.ini:42: session_pgsql.keep_expired: invalid boolean "maybe" (allowed: on, off, yes, no, true, false, 1, 0, none or empty)`},
		{Error{File: "/x.ini", Directive: "session.name", Msg: "m"}, "/x.ini: session.name: m"},
		{Error{File: "/x.ini", Msg: "cannot read file: EACCES"}, "/x.ini: cannot read file: EACCES"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// values returns c's settings without the record of where they were set, which
// DirectiveError reads and TestDirectiveErrorNamesWhereTheDirectiveWasSet checks.
func values(c *Config) Config {
	v := *c
	v.origins = nil
	return v
}

func TestDirectiveErrorNamesWhereTheDirectiveWasSet(t *testing.T) {
	p, dir := testdata(t, "php.ini"), testdata(t, "conf.d")
	c, err := Load(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("refused")
	for _, tt := range []struct {
		directive string
		want      string
	}{
		{"session_pgsql.db", p + ":51: session_pgsql.db: refused"},
		{"session_pgsql.log_level", filepath.Join(dir, "20-local.ini") + ":2: session_pgsql.log_level: refused"},
		{"session_pgsql.password_file", p + ": session_pgsql.password_file: refused (the default)"},
	} {
		e := c.DirectiveError(tt.directive, cause)
		if e.Error() != tt.want || !errors.Is(e, cause) {
			t.Errorf("DirectiveError(%s) = %q, want %q wrapping the cause", tt.directive, e, tt.want)
		}
	}
}

func TestUnclosedQuotesNameTheirLineAndDirective(t *testing.T) {
	for _, tt := range []struct {
		ini       string
		line      int
		directive string
		msg       string
	}{
		{"a = 1\nsession_pgsql.db = \"host=x password=hunter2\nsession.name = s\n", 2, "session_pgsql.db", "double quote is never closed"},
		{"\"session_pgsql.db = 1\n", 1, "", "double quote is never closed"},
		{"session_pgsql.db = 'host=x password=hunter2\n", 1, "session_pgsql.db", "single quote is never closed"},
	} {
		_, err := Load(writeIni(t, tt.ini), "")
		var e *Error
		if !errors.As(err, &e) || e.Line != tt.line || e.Directive != tt.directive || !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("Load(%q) = %v; want line %d, directive %q, %q", tt.ini, err, tt.line, tt.directive, tt.msg)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Load(%q) = %v: shows the value", tt.ini, err)
		}
	}
}
