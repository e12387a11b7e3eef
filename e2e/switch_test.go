package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

// The password a site's session_pgsql.db holds in these tests (the test cluster trusts
// local connections, so it is never checked); it must never reach PHP.
const dbPassword = "Hunter2-e2e-secret"

// extensionSite is a site switching from the extension: PHP-FPM's php.ini is the
// daemon's plus poolINI (PHP reads session_pgsql.* there too), and its
// session_pgsql.db holds a password.
func extensionSite(t *testing.T, poolINI, daemonINI string) *site {
	t.Helper()
	testenv.RequirePHP(t)
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	dir := testenv.ShortTempDir(t)
	ini := testenv.DaemonINI(dir, dsn+" password="+dbPassword) + daemonINI
	d := testenv.StartDaemon(t, dir, ini)
	eventually(t, "the daemon to reach the database", func() bool { return containsReady(d.Log()) })
	fpm, err := testenv.StartFPM(testenv.FPMOptions{Workers: 2, INI: ini + poolINI})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fpm.Stop)
	return &site{t: t, pg: pg, dsn: dsn, daemon: d, web: fpm.Web(t, nil), db: pgsesstest.Conn(t, dsn)}
}

// typed is a value of t.php?do=extension: [PHP type, value].
type typed [2]any

func (v typed) is(typ string, value any) bool { return v[0] == typ && v[1] == value }

// typedMap decodes one of t.php?do=extension's arrays; nil when PHP returned false.
func typedMap(t *testing.T, p page, key string) map[string]typed {
	t.Helper()
	raw, _ := json.Marshal(p[key])
	var m map[string]typed
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	return m
}

func TestSaveHandlerPgsqlLeftInPhpIniStillStoresSessionsInPhpSession(t *testing.T) {
	s := extensionSite(t, "session.save_handler = pgsql\n", "")
	b := s.web.Browser()
	// More visits than workers: each worker's first request and its later ones.
	for i := 1; i <= 5; i++ {
		p := s.mustGet(b, "do=extension")
		// PHP reports sessions disabled until session_start(), having no module "pgsql".
		if p.int("status_before") != 0 || p.str("module") != "user" || typedMap(t, p, "get_error") == nil {
			t.Fatalf("visit %d: status before start %v, module %q, get_error %v", i, p["status_before"], p.str("module"), p["get_error"])
		}
	}
	r, ok := s.row(b.Cookie("PHPSESSID"))
	if !ok || r.Data != "n|i:5;" || r.Counter != 5 {
		t.Fatalf("row %+v (found %v): expected the session in php_session", r, ok)
	}
}

func TestDisableOnRegistersNothingAndTheFunctionsWarnAsTheExtensionDid(t *testing.T) {
	s := extensionSite(t, "session_pgsql.disable = on\nsession.save_handler = files\n", "")
	b := s.web.Browser()
	p := s.get(b, "do=extension&field=x&error=2")
	if !p.ok() || p.str("module") != "files" {
		t.Fatalf("ok %v, module %q: PHP's own files handler must keep the session", p["ok"], p.str("module"))
	}
	for _, key := range []string{"status", "info", "get_error", "get_field", "reset"} {
		if v, _ := p[key].([]any); len(v) != 2 || v[0] != "bool" || v[1] != false {
			t.Errorf("%s = %v: expected false", key, p[key])
		}
	}
	if p["set_field"] != false || p["add_error"] != false {
		t.Errorf("set_field %v add_error %v: expected false", p["set_field"], p["add_error"])
	}
	if n := strings.Count(p.warnings(), "session_pgsql is disabled"); n != 7 {
		t.Errorf("%d warnings \"session_pgsql is disabled\", expected one per function:\n%s", n, p.warnings())
	}
	if _, ok := s.row(b.Cookie("PHPSESSID")); ok {
		t.Fatal("a row in php_session: the PHP client registered itself")
	}
}

func TestSessionPgsqlFunctionsReturnTheExtensionsKeysAndTypes(t *testing.T) {
	s := extensionSite(t, "session.save_handler = pgsql\n", "session_pgsql.keep_expired = on\n")
	b := s.web.Browser()
	s.mustGet(b, "do=extension&field=first")
	_, body := b.Get(t, "/t.php?do=extension&field=user%3D42&error=2&msg=disk+full")
	if strings.Contains(body, dbPassword) {
		t.Fatalf("the database password reached PHP:\n%s", body)
	}
	p := decode(body)
	if !p.ok() || p.warnings() != "" {
		t.Fatalf("ok %v, warnings %q", p["ok"], p.warnings())
	}
	id := b.Cookie("PHPSESSID")
	r, _ := s.row(id)

	redacted := s.dsn + " password=xxxxx"
	status := typedMap(t, p, "status")
	for key, want := range map[string]typed{
		"Servers":           {"string", redacted},
		"Number of Servers": {"int", 1.0},
		"Failover Mode":     {"int", 0.0},
		"Short Circuit":     {"int", 0.0},
		"Keep Expired":      {"int", 1.0},
		"Server String #0":  {"string", redacted},
		"Server Status #0":  {"int", 1.0},
		"connected":         {"bool", true},
	} {
		if !status[key].is(want[0].(string), want[1]) {
			t.Errorf("status[%q] = %v, want %v", key, status[key], want)
		}
	}

	info := typedMap(t, p, "info")
	for key, want := range map[string]typed{
		"Session ID":       {"string", id},
		"Server ID":        {"int", 0.0},
		"Connection":       {"string", redacted},
		"Accesses":         {"int", 2.0}, // this request's, counted at read as the extension did
		"Errors":           {"int", 0.0},
		"Warnings":         {"int", 1.0},
		"Notices":          {"int", 0.0},
		"Created":          {"int", float64(r.Created)},
		"Address Created":  {"string", "127.0.0.1"},
		"Address Modified": {"string", "127.0.0.1"},
		"Custom":           {"string", "user=42"},
		"counter":          {"int", 1.0}, // the stored row, before this request's write
		"custom":           {"string", "first"},
	} {
		if !info[key].is(want[0].(string), want[1]) {
			t.Errorf("info[%q] = %v, want %v", key, info[key], want)
		}
	}
	for _, key := range []string{"Modified", "Expires"} {
		if info[key][0] != "int" {
			t.Errorf("info[%q] = %v: expected an int", key, info[key])
		}
	}

	errs := typedMap(t, p, "get_error")
	for key, want := range map[string]typed{
		"Errors": {"int", 0.0}, "Warnings": {"int", 1.0}, "Notices": {"int", 0.0},
		"Error Message": {"string", "disk full"}, "warning": {"int", 1.0},
	} {
		if !errs[key].is(want[0].(string), want[1]) {
			t.Errorf("get_error[%q] = %v, want %v", key, errs[key], want)
		}
	}
	if r.Counter != 2 || r.Warning != 1 || r.Custom != "user=42" {
		t.Fatalf("row %+v after two visits", r)
	}
}
