package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/serverset"
)

// serversSite starts n PostgreSQL servers of the test's own, each with a database, and
// a daemon storing sessions on all of them (session_pgsql.db lists them in order).
func serversSite(t *testing.T, n int, ini string) (*site, []*testenv.PG) {
	t.Helper()
	var pgs []*testenv.PG
	var dsns []string
	for range n {
		pg := testenv.PrivatePG(t)
		pgs = append(pgs, pg)
		dsns = append(dsns, pg.NewDatabase(t))
	}
	s := startSite(t, pgs[0], strings.Join(dsns, ";"), "", ini)
	s.servers = dsns
	return s, pgs
}

// outcome is one request of the load: when it began and whether it succeeded.
type outcome struct {
	began time.Time
	ok    bool
}

// serversLoad is one client per browser, incrementing its counter in a loop; it keeps
// every request's outcome and every browser's counters in order.
type serversLoad struct {
	mu       sync.Mutex
	outcomes []outcome
	counts   map[*testenv.Browser][]int
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startServersLoad(s *site, browsers []*testenv.Browser) *serversLoad {
	l := &serversLoad{counts: map[*testenv.Browser][]int{}, stop: make(chan struct{})}
	for _, b := range browsers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				began := time.Now()
				code, body := b.Get(s.t, "/t.php?do=count")
				p := decode(body)
				ok := code == 200 && p["closed"] == true && p.warnings() == ""
				l.mu.Lock()
				l.outcomes = append(l.outcomes, outcome{began, ok})
				if ok {
					l.counts[b] = append(l.counts[b], p.int("n"))
				}
				l.mu.Unlock()
				if !ok {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

func (l *serversLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// failed counts the requests that began in [from, to) and failed, and all of them.
func (l *serversLoad) failed(from, to time.Time) (failed, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.outcomes {
		if !o.began.Before(from) && o.began.Before(to) {
			all++
			if !o.ok {
				failed++
			}
		}
	}
	return failed, all
}

// sessionIDs returns n valid session ids per home among servers.
func sessionIDs(prefix string, servers, n int) [][]string {
	out := make([][]string, servers)
	for i := 0; ; i++ {
		done := true
		for _, l := range out {
			done = done && len(l) >= n
		}
		if done {
			return out
		}
		id := fmt.Sprintf("%s%024d", prefix, i)
		if h := serverset.Home(id, servers); len(out[h]) < n {
			out[h] = append(out[h], id)
		}
	}
}

// TestAFailedServersSessionsMoveToTheNextLiveServerAndBack runs PHP requests on two
// servers and stops the one that holds half the sessions (failover_mode off) or all of
// them (on), under load: its sessions start anew on the other server, the others'
// keep counting, and no request fails once the daemon saw the switch; after it is back
// its sessions are at home again, and one created during the outage is still there,
// moved home, as is one whose lock was taken before the failback, written where it was
// taken. The failed requests of each switch are logged.
func TestAFailedServersSessionsMoveToTheNextLiveServerAndBack(t *testing.T) {
	testenv.RequirePHP(t)
	for _, failover := range []bool{false, true} {
		t.Run(fmt.Sprintf("failover_mode=%v", failover), func(t *testing.T) {
			port, _ := testenv.FreePort()
			ini := fmt.Sprintf("session_pgsql.metrics_listen = 127.0.0.1:%d\n", port)
			down, other := 1, 0
			if failover {
				ini += "session_pgsql.failover_mode = on\n"
				down, other = 0, 1
			}
			s, pgs := serversSite(t, 2, ini)
			// where is the server that holds id while both are up.
			where := func(id string) int {
				if failover {
					return 0
				}
				return serverset.Home(id, 2)
			}
			ids := sessionIDs("move", 2, 4)
			var browsers []*testenv.Browser
			moving := map[*testenv.Browser]bool{}
			for _, list := range ids {
				for _, id := range list {
					b := s.web.Browser()
					b.SetCookie("PHPSESSID", id)
					s.mustGet(b, "do=count")
					if _, ok := s.rowOn(where(id), id); !ok {
						t.Fatalf("session %s is not on server %d", id, where(id))
					}
					if _, ok := s.rowOn(1-where(id), id); ok {
						t.Fatalf("session %s is on server %d too", id, 1-where(id))
					}
					browsers = append(browsers, b)
					moving[b] = where(id) == down
				}
			}
			l := startServersLoad(s, browsers)
			time.Sleep(500 * time.Millisecond)

			stopped := time.Now()
			if err := pgs[down].Halt(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the daemon to see the server down", func() bool { return strings.Contains(s.daemon.Log(), "database server down") })
			seen := time.Now()

			// session_pgsql_status() and _info() show the servers' states and where the
			// session is now.
			p := s.get(s.web.Browser(), "do=extension")
			status, info := typedMap(t, p, "status"), typedMap(t, p, "info")
			for key, want := range map[string]typed{
				"Number of Servers":                     {"int", 2.0},
				fmt.Sprintf("Server Status #%d", down):  {"int", 0.0},
				fmt.Sprintf("Server Status #%d", other): {"int", 1.0},
				fmt.Sprintf("Server String #%d", other): {"string", s.servers[other]},
			} {
				if !status[key].is(want[0].(string), want[1]) {
					t.Errorf("status[%q] = %v during the outage, want %v", key, status[key], want)
				}
			}
			if !info["Server ID"].is("int", float64(other)) {
				t.Errorf("info's Server ID = %v during the outage, want %d", info["Server ID"], other)
			}

			// A session created during the outage, and one whose lock is taken during
			// it and held until after the failback.
			createdID := sessionIDs("made", 2, 1)[down][0]
			created := s.web.Browser()
			created.SetCookie("PHPSESSID", createdID)
			if p := s.mustGet(created, "do=count"); p.int("n") != 1 {
				t.Fatalf("new session during the outage: n = %d", p.int("n"))
			}
			// What it moves home with, beside its data: its row's times, addresses and counter.
			s.execOn(other, `UPDATE php_session SET sess_created = 1000, sess_addr_created = '192.0.2.9', sess_counter = 7
WHERE sess_id = $1`, createdID)
			heldID := sessionIDs("held", 2, 1)[down][0]
			held := s.web.Browser()
			held.SetCookie("PHPSESSID", heldID)
			until := filepath.Join(testenv.ShortTempDir(t), "go")
			heldDone := make(chan page, 1)
			go func() {
				_, body := held.Get(t, "/t.php?do=count&until="+url.QueryEscape(until))
				heldDone <- decode(body)
			}()
			eventually(t, "the held request to take its lock", func() bool {
				_, err := os.Stat(until + ".started")
				return err == nil
			})
			time.Sleep(time.Second)

			started := time.Now()
			if err := pgs[down].Start(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the daemon to see the server up", func() bool { return strings.Contains(s.daemon.Log(), "database server up again") })
			back := time.Now()
			os.WriteFile(until, nil, 0o644)
			if p := <-heldDone; !p.ok() || p.warnings() != "" || p.int("n") != 1 {
				t.Errorf("the request holding its lock across the failback: ok %v n %d warnings %q", p["ok"], p.int("n"), p.warnings())
			}
			if r, ok := s.rowOn(other, heldID); !ok || r.Data != "n|i:1;" {
				t.Errorf("the held request's write is not on the server that granted its lock: %+v, %v", r, ok)
			}
			time.Sleep(time.Second)
			l.finish()

			f1, n1 := l.failed(stopped, seen)
			f2, n2 := l.failed(seen, started)
			f3, n3 := l.failed(started, back)
			f4, n4 := l.failed(back, time.Now())
			t.Logf("stop → switch seen (%s): %d of %d requests failed; outage after: %d of %d; start → failback seen (%s): %d of %d; after: %d of %d",
				seen.Sub(stopped).Round(time.Millisecond), f1, n1, f2, n2, back.Sub(started).Round(time.Millisecond), f3, n3, f4, n4)
			if f2 != 0 || f4 != 0 {
				t.Errorf("requests failed after a switch was seen: %d during the outage, %d after the failback", f2, f4)
			}

			for b, counts := range l.counts {
				id := b.Cookie("PHPSESSID")
				resets := 0
				for i := 1; i < len(counts); i++ {
					if counts[i] != counts[i-1]+1 {
						resets++
					}
				}
				switch {
				case !moving[b] && resets != 0:
					t.Errorf("session %s of the live server changed other than by one: %v", id, counts)
				case moving[b] && resets == 0:
					t.Errorf("session %s of the failed server never moved: %v", id, counts)
				}
				if r, ok := s.rowOn(where(id), id); !ok || r.Data != fmt.Sprintf("n|i:%d;", counts[len(counts)-1]) {
					t.Errorf("session %s: row at its server %+v, %v; last count %d", id, r, ok, counts[len(counts)-1])
				}
			}
			for _, c := range []struct {
				b    *testenv.Browser
				id   string
				want int
			}{{created, createdID, 2}, {held, heldID, 2}} {
				if p := s.mustGet(c.b, "do=count"); p.int("n") != c.want {
					t.Errorf("session %s made during the outage, after the failback: n = %d, want %d", c.id, p.int("n"), c.want)
				}
				r, ok := s.rowOn(where(c.id), c.id)
				if !ok {
					t.Errorf("session %s made during the outage is not at its server after the failback", c.id)
				} else if c.id == createdID && (r.Created != 1000 || r.AddrCreated != "192.0.2.9" || r.Counter != 8) {
					t.Errorf("session %s moved home without what its row had: created %d, address created %q, counter %d; want 1000, 192.0.2.9, 8 (7 + this request's write)",
						c.id, r.Created, r.AddrCreated, r.Counter)
				}
				if _, ok := s.rowOn(other, c.id); ok {
					t.Errorf("session %s made during the outage is still on the server it moved from", c.id)
				}
			}

			metrics := scrape(t, port)
			for _, want := range []string{
				fmt.Sprintf(`phpsessd_server_switches_total{server=%q,to="down"} 1`, s.servers[down]),
				fmt.Sprintf(`phpsessd_server_switches_total{server=%q,to="up"} 1`, s.servers[down]),
				fmt.Sprintf(`phpsessd_server_switches_total{server=%q,to="down"} 0`, s.servers[other]),
				fmt.Sprintf(`phpsessd_server_up{server=%q} 1`, s.servers[down]),
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

func TestTwoDaemonsOnTwoServersLoseNoUpdate(t *testing.T) {
	testenv.RequirePHP(t)
	a, _ := serversSite(t, 2, "")
	b := startSite(t, a.pg, strings.Join(a.servers, ";"), "", "")
	b.servers = a.servers
	sharedLoad(t, []*site{a, b})
}
