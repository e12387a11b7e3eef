package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// sharedLoad sends 16 concurrent clients, spread over the sites (one per daemon), to 4
// sessions they all share, and checks that the counters add up to the requests that
// succeeded: no lost update.
func sharedLoad(t *testing.T, sites []*site) {
	t.Helper()
	const clients, rounds, sessions = 16, 10, 4
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("sharedsession%02d0123456789abcdef", i)
	}
	var mu sync.Mutex
	made := map[string]int{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				s := sites[(c+r)%len(sites)]
				id := ids[(c*7+r)%sessions]
				b := s.web.Browser()
				b.SetCookie("PHPSESSID", id)
				if p := s.get(b, "do=count"); p.ok() && p.warnings() == "" {
					mu.Lock()
					made[id]++
					mu.Unlock()
				} else {
					t.Errorf("request failed: ok=%v %s", p["ok"], p.warnings())
				}
			}
		}()
	}
	wg.Wait()
	lost := 0
	for _, id := range ids {
		r, _ := sites[0].row(id)
		if want := fmt.Sprintf("n|i:%d;", made[id]); r.Data != want {
			t.Errorf("session %s: %q after %d successful increments", id, r.Data, made[id])
			lost += made[id]
		}
	}
	t.Logf("%d requests over %d daemons on %d sessions, lost updates: %d", clients*rounds, len(sites), sessions, lost)
}

// secondSite starts another daemon on s's database (through dsn), as on another host.
func (s *site) secondSite(dsn, ini string) *site {
	s.t.Helper()
	return startSite(s.t, s.pg, dsn, s.dsn, ini)
}

func TestTwoDaemonsOnOneDatabaseLoseNoUpdate(t *testing.T) {
	a := newSite(t, "")
	b := a.secondSite(a.dsn, "")
	sharedLoad(t, []*site{a, b})
}

func TestTwoDaemonsWithLeasesLoseNoUpdate(t *testing.T) {
	a := newSite(t, "session_pgsql.lock_method = lease\n")
	b := a.secondSite(a.dsn, "session_pgsql.lock_method = lease\n")
	sharedLoad(t, []*site{a, b})
}

func TestTwoDaemonsThroughPgBouncerInTransactionModeLoseNoUpdate(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	bouncer := testenv.StartPgBouncer(t, pg)
	ini := "session_pgsql.prepared_statements = off\nsession_pgsql.lock_method = lease\n"
	a := startSite(t, pg, bouncer.DSN(dsn), dsn, ini)
	b := a.secondSite(bouncer.DSN(dsn), ini)
	sharedLoad(t, []*site{a, b})
}

func TestAdvisoryLocksThroughPgBouncerAreAWarningNamingLockMethod(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	bouncer := testenv.StartPgBouncer(t, pg)
	s := startSite(t, pg, bouncer.DSN(dsn), dsn, "session_pgsql.prepared_statements = off\n")
	b := s.web.Browser()
	b.SetCookie("PHPSESSID", "pooledsession0123456789abcdef")
	p := s.get(b, "do=count")
	if p.ok() || !strings.Contains(p.warnings(), "session_pgsql.lock_method = lease") {
		t.Fatalf("session_start through PgBouncer with advisory locks: ok=%v warnings %q", p["ok"], p.warnings())
	}
	if _, found := s.row("pooledsession0123456789abcdef"); found {
		t.Fatal("a row was written without a lock")
	}
}
