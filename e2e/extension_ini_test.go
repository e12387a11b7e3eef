package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// extensionINI is the php.ini of a site running the session_pgsql extension, with
// every directive the extension registered, as its README describes it.
func extensionINI(dsn string, vacuumInterval int) string {
	return fmt.Sprintf(`[PHP]
extension = session_pgsql.so

[Session]
session.save_handler = pgsql
session.save_path = "session_pgsql"
session.gc_maxlifetime = 1440

[session_pgsql]
session_pgsql.disable = off
session_pgsql.db = %q
session_pgsql.sem_file_name = /tmp/php_session_pgsql
session_pgsql.create_table = on
session_pgsql.failover_mode = off
session_pgsql.short_circuit = off
session_pgsql.keep_expired = off
session_pgsql.use_app_vars = off
session_pgsql.serializable = on
session_pgsql.gc_interval = 3600
session_pgsql.vacuum_interval = %d
`, dsn, vacuumInterval)
}

func TestTheExtensionsCompletePHPINIStartsTheDaemonWithOneWarning(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	// The listen address the PHP client finds comes first; the extension's lines follow.
	s := startSite(t, pg, dsn, dsn, extensionINI(dsn, 1))
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	if n := s.mustGet(b, "do=count").int("n"); n != 2 {
		t.Fatalf("counter %d after two requests", n)
	}
	log := s.daemon.Log()
	if n := strings.Count(log, `"level":"warn"`); n != 1 {
		t.Fatalf("%d warnings; expected exactly one, about the ignored directives:\n%s", n, log)
	}
	for _, want := range []string{"phpsessd ignores them and the lines can go", "session_pgsql.sem_file_name: ", "session_pgsql.use_app_vars: ",
		"session_pgsql.serializable: ", "session.save_handler = pgsql can stay or go"} {
		if !strings.Contains(log, want) {
			t.Fatalf("the log lacks %q:\n%s", want, log)
		}
	}
	// vacuum_interval = 1, and the role (the superuser) may vacuum.
	eventually(t, "a vacuum of the session table", func() bool {
		var n int64
		err := s.db.QueryRow(context.Background(),
			`SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'php_session'::regclass`).Scan(&n)
		return err == nil && n > 0
	})
	eventually(t, "the vacuum in the log", func() bool { return strings.Contains(s.daemon.Log(), `"message":"vacuum (analyze)"`) })
}

func TestDisableOnIsLoggedAndTheDaemonStillServes(t *testing.T) {
	s := newSite(t, "session_pgsql.disable = on\n")
	// The shared pool registers the client itself, as code that calls
	// session_set_save_handler() does.
	s.mustGet(s.web.Browser(), "do=count")
	if log := s.daemon.Log(); !strings.Contains(log, "session_pgsql.disable is on: PHP clients reading this php.ini do not register phpsessd") {
		t.Fatalf("the daemon did not say what disable = on does:\n%s", log)
	}
}

func TestVacuumIntervalOnReloadStartsVacuuming(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	s := startSite(t, pg, dsn, dsn, extensionINI(dsn, 0))
	s.mustGet(s.web.Browser(), "do=count")
	s.daemon.Reload(t, testenv.DaemonINI(s.daemon.Dir, dsn)+extensionINI(dsn, 1))
	eventually(t, "a vacuum after the reload", func() bool { return strings.Contains(s.daemon.Log(), `"message":"vacuum (analyze)"`) })
}
