package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

// One HA cluster, a pg_auto_failover formation (a monitor, a primary and a synchronous
// secondary), in session_pgsql.db through its multi-host connection string with
// target_session_attrs=read-write. Under load through PHP-FPM its primary stops
// (pg_autoctl stop), or dies (SIGKILL of its pg_autoctl and PostgreSQL); the monitor
// promotes the secondary, and the daemon follows without a restart: requests succeed
// again; those of the switch failed with a PHP warning (session_start or the write
// returned false), never a fatal error; and every acknowledged write is there
// afterwards, on the new primary.
func TestFailoverOfAPgAutoFailoverClusterUnderLoadLosesNoAcknowledgedWrite(t *testing.T) {
	testenv.RequirePHP(t)
	testenv.RequireAutoFailover(t)
	for _, end := range []struct {
		name string
		end  func(*testenv.AutoFailover, *testenv.AutoFailoverNode) error
	}{
		{"pg_autoctl stop", (*testenv.AutoFailover).Stop},
		{"SIGKILL", (*testenv.AutoFailover).Kill},
	} {
		t.Run(end.name, func(t *testing.T) {
			af := testenv.StartAutoFailover(t)
			primary, secondary := af.Nodes[0], af.Nodes[1]
			if sync, err := primary.PG.Query("postgres", "SHOW synchronous_standby_names"); err != nil || sync == "" {
				t.Fatalf("the primary's synchronous_standby_names: %q (%v); want the secondary in it", sync, err)
			}
			fpm := testenv.SharedFPM(t)
			errorLog := len(fpm.ErrorLog())
			s := startSite(t, nil, af.URI, af.URI, "")
			l := startLoad(s, 8)
			time.Sleep(time.Second)

			ended := time.Now()
			if err := end.end(af, primary); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for state := ""; state != "wait_primary" && state != "primary"; state = af.State(secondary.Name) {
				if time.Now().After(deadline) {
					t.Fatalf("the monitor did not promote %s: it is %q", secondary.Name, state)
				}
				time.Sleep(100 * time.Millisecond)
			}
			promoted := time.Now()
			failedBefore := l.failed.Load()
			l.back()
			took := l.recovery(promoted)
			time.Sleep(time.Second)
			s.db = pgsesstest.Conn(t, af.URI) // the test's own connection went with the old primary
			lost := l.finish()

			t.Logf("pg_auto_failover switch after %s: %d requests, %d failed (%d until the monitor promoted the secondary, %d that began after), "+
				"acknowledged writes lost: %d; promoted %s after the primary ended, first success %s after that",
				end.name, l.requests.Load(), l.failed.Load(), failedBefore, l.failedBack.Load(), lost,
				promoted.Sub(ended).Round(time.Millisecond), took.Round(time.Millisecond))
			if log := fpm.ErrorLog()[errorLog:]; strings.Contains(log, "Fatal error") {
				t.Errorf("PHP fatal errors during the switch:\n%s", log)
			}
		})
	}
}
