package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

// load runs one client per session, each incrementing its own counter in a loop, and
// keeps per session the highest counter whose write PHP saw acknowledged.
type load struct {
	s        *site
	browsers []*testenv.Browser
	mu       sync.Mutex
	acked    map[string]int // session id → highest acknowledged counter
	requests atomic.Int64
	failed   atomic.Int64
	// failedBack counts the failed requests that began after back, and firstBack is
	// the first one's warnings.
	failedBack atomic.Int64
	firstBack  string
	backAt     atomic.Int64 // unix nanoseconds of back, or 0
	lastOK     atomic.Int64 // unix nanoseconds of the latest acknowledged request
	stop       chan struct{}
	wg         sync.WaitGroup
}

// back marks the moment the part that failed is back: the requests that begin from
// now on and fail count in failedBack too.
func (l *load) back() { l.backAt.Store(time.Now().UnixNano()) }

func startLoad(s *site, sessions int) *load {
	l := &load{s: s, acked: map[string]int{}, stop: make(chan struct{})}
	for range sessions {
		b := s.web.Browser()
		s.mustGet(b, "do=count")
		l.acked[b.Cookie("PHPSESSID")] = 1
		l.browsers = append(l.browsers, b)
	}
	for _, b := range l.browsers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.requests.Add(1)
				began := time.Now().UnixNano()
				code, body := b.Get(s.t, "/t.php?do=count")
				if code != 200 || !strings.HasPrefix(body, "{") {
					s.t.Errorf("HTTP %d, not a PHP warning but: %s", code, body)
					return
				}
				p := decode(body)
				if p["closed"] != true || p.warnings() != "" {
					l.failed.Add(1)
					if back := l.backAt.Load(); back != 0 && began >= back && l.failedBack.Add(1) == 1 {
						l.mu.Lock()
						l.firstBack = p.warnings()
						l.mu.Unlock()
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.lastOK.Store(time.Now().UnixNano())
				l.mu.Lock()
				l.acked[b.Cookie("PHPSESSID")] = max(l.acked[b.Cookie("PHPSESSID")], p.int("n"))
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// recovery waits for the first acknowledged request after since and returns how long
// it took.
func (l *load) recovery(since time.Time) time.Duration {
	eventually(l.s.t, "requests to succeed again", func() bool { return l.lastOK.Load() > since.UnixNano() })
	return time.Duration(l.lastOK.Load() - since.UnixNano())
}

// finish stops the load and returns how many acknowledged writes the table lacks.
func (l *load) finish() (lost int) {
	close(l.stop)
	l.wg.Wait()
	for id, n := range l.acked {
		r, _ := l.s.row(id)
		var stored int
		fmt.Sscanf(r.Data, "n|i:%d;", &stored)
		if stored < n {
			l.s.t.Errorf("session %s: counter %d stored, %d acknowledged", id, stored, n)
			lost += n - stored
		}
	}
	return lost
}

func TestKillingTheDaemonUnderLoadLosesNoAcknowledgedWrite(t *testing.T) {
	s := newSite(t, "")
	l := startLoad(s, 8)
	time.Sleep(time.Second)
	s.daemon.Kill()
	killed := time.Now()
	time.Sleep(300 * time.Millisecond) // requests meanwhile get a warning, not a fatal error
	s.daemon = testenv.StartDaemon(t, s.daemon.Dir, mustRead(t, s.daemon.INI))
	restarted := time.Now()
	took := l.recovery(restarted)
	time.Sleep(500 * time.Millisecond)
	lost := l.finish()
	t.Logf("kill -9 of phpsessd: %d requests, %d failed while it was down, acknowledged writes lost: %d, down %s, first success %s after restart",
		l.requests.Load(), l.failed.Load(), lost, restarted.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))
}

// A fast restart of PostgreSQL under load, with 24 clients and one request holding its
// session (and the session's advisory lock) across the restart: the requests that
// arrive while PostgreSQL is down fail with a warning; once it is back none does (the
// connections that died with it are replaced and the operation retried), the held
// request's write is stored, and no acknowledged write is lost.
func TestPostgresRestartUnderLoadFailsNoRequestOnceBackAndLosesNoAcknowledgedWrite(t *testing.T) {
	testenv.RequirePHP(t)
	pg := testenv.PrivatePG(t)
	dsn := pg.NewDatabase(t)
	s := startSite(t, pg, dsn, "", "") // rows are read after the restart, on a new connection
	held := s.web.Browser()
	s.mustGet(held, "do=count")
	release := filepath.Join(testenv.ShortTempDir(t), "release")
	heldDone := make(chan page, 1)
	go func() {
		_, body := held.Get(t, "/t.php?do=count&until="+release)
		heldDone <- decode(body)
	}()
	eventually(t, "the held request to read its session", func() bool {
		_, err := os.Stat(release + ".started")
		return err == nil
	})
	l := startLoad(s, 24)
	time.Sleep(time.Second)
	began := time.Now()
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	l.back()
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hp := <-heldDone
	took := l.recovery(up)
	time.Sleep(500 * time.Millisecond)
	s.db = pgsesstest.Conn(t, dsn)
	lost := l.finish()
	t.Logf("PostgreSQL restart: %d requests, %d failed that began while it was down, %d that began after it was back; acknowledged writes lost: %d; restart took %s, first success %s after it was up",
		l.requests.Load(), l.failed.Load()-l.failedBack.Load(), l.failedBack.Load(), lost,
		up.Sub(began).Round(time.Millisecond), took.Round(time.Millisecond))
	if n := l.failedBack.Load(); n != 0 {
		t.Errorf("%d requests that began after PostgreSQL was back failed; the first: %s", n, l.firstBack)
	}
	if hp["closed"] != true || hp.warnings() != "" || hp.int("n") != 2 {
		t.Errorf("the request holding its session across the restart: %v", hp)
	}
	if r, _ := s.row(held.Cookie("PHPSESSID")); r.Data != "n|i:2;" {
		t.Errorf("the held session's row after the restart: %q, expected its write", r.Data)
	}
}

// A daemon that was idle while PostgreSQL restarted holds connections that died with it:
// its first /healthz and its first request after the restart still succeed.
func TestFirstHealthzAndRequestAfterAPostgresRestartSucceed(t *testing.T) {
	testenv.RequirePHP(t)
	pg := testenv.PrivatePG(t)
	dsn := pg.NewDatabase(t)
	port, _ := testenv.FreePort()
	s := startSite(t, pg, dsn, "", fmt.Sprintf("session_pgsql.metrics_listen = 127.0.0.1:%d\n", port))
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	healthz := func() int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, "the metrics listener", func() bool { return healthz() == 200 })
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	if code := healthz(); code != 200 {
		t.Errorf("the first /healthz after the restart: HTTP %d", code)
	}
	if p := s.get(b, "do=count"); p["closed"] != true || p.warnings() != "" || p.int("n") != 2 {
		t.Errorf("the first request after the restart: %v", p)
	}
}

func TestSIGTERMFinishesTheRequestInFlightAndExitsZero(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	done := make(chan page)
	go func() { done <- s.get(b, "do=count&sleep=1500") }()
	time.Sleep(500 * time.Millisecond)
	if code := s.daemon.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	p := <-done
	if p["closed"] != true || p.warnings() != "" || p.int("n") != 2 {
		t.Fatalf("the request in flight: %v", p)
	}
	if r, _ := s.row(b.Cookie("PHPSESSID")); r.Data != "n|i:2;" {
		t.Fatalf("row %q after the drain", r.Data)
	}
}

// A request that opens no session but calls session_pgsql_status() or _reset() sends
// HELLO, which starts a PHP request in the daemon; the client ends it in the same write,
// so its idle persistent socket does not hold up a drain until lock_timeout.
func TestSIGTERMDoesNotWaitForSocketsOfRequestsWithoutASession(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	if p := s.mustGet(b, "do=status"); p["status"] != true {
		t.Fatalf("session_pgsql_status(): %v", p)
	}
	if p := s.mustGet(b, "do=reset"); p["reset"] != true {
		t.Fatalf("session_pgsql_reset(): %v", p)
	}
	if code := s.daemon.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	log := s.daemon.Log()
	if strings.Contains(log, "cut off") || !strings.Contains(log, "stopped") {
		t.Fatalf("the drain did not end with every connection idle:\n%s", log)
	}
}

func TestThousandClientsConnectingAtOnceAreServed(t *testing.T) {
	s := newSite(t, "")
	addr := strings.TrimPrefix(s.daemon.Listen, "unix:")
	var wg sync.WaitGroup
	var ok atomic.Int64
	conns := make(chan net.Conn, 1000)
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", addr)
			if err != nil {
				t.Error(err)
				return
			}
			conns <- c
			c.Write(handler.AppendRequest(nil, handler.Request{Op: handler.OpHello, ID: 1,
				Fields: [][]byte{[]byte("1"), nil, []byte("PHPSESSID"), nil}}))
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			payload, err := handler.ReadFrame(bufio.NewReader(c), 1<<20)
			if err != nil {
				t.Error(err)
				return
			}
			if rep, err := handler.ParseReply(payload); err == nil && rep.Status == handler.StatusOK {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	close(conns)
	if ok.Load() != 1000 {
		t.Fatalf("%d of 1000 handshakes succeeded", ok.Load())
	}
	s.mustGet(s.web.Browser(), "do=count") // PHP is served meanwhile
	for c := range conns {
		c.Close()
	}
	s.mustGet(s.web.Browser(), "do=count")
}

func TestSIGHUPReloadsPHPIniAndKeepsTheOldOneWhenBad(t *testing.T) {
	s := newSite(t, "session_pgsql.short_circuit = off\n")
	base := testenv.DaemonINI(s.daemon.Dir, s.dsn)
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	counter := func() int64 { r, _ := s.row(b.Cookie("PHPSESSID")); return r.Counter }

	s.daemon.Reload(t, base+"session_pgsql.short_circuit = on\n")
	eventually(t, "the reload", func() bool { return strings.Contains(s.daemon.Log(), "configuration reloaded") })
	before := counter()
	s.mustGet(b, "do=read")
	if counter() != before {
		t.Fatal("short_circuit = on did not take effect after SIGHUP")
	}

	s.daemon.Reload(t, base+"session_pgsql.short_circuit = perhaps\n")
	eventually(t, "the refused reload", func() bool { return strings.Contains(s.daemon.Log(), "not reloaded") })
	if !strings.Contains(s.daemon.Log(), "php.ini:5: session_pgsql.short_circuit") {
		t.Fatalf("the error does not name the file, line and directive:\n%s", s.daemon.Log())
	}
	s.mustGet(b, "do=read")
	if counter() != before {
		t.Fatal("the old configuration was not kept after a bad php.ini")
	}
}

// TestSIGHUPNamesOnlyTheRestartDirectivesThatDifferFromWhatRuns reloads twice with a
// restart-only directive changed: both reloads name it, since the daemon runs with
// the old value until restarted, and a reload back to that value names nothing.
func TestSIGHUPNamesOnlyTheRestartDirectivesThatDifferFromWhatRuns(t *testing.T) {
	s := newSite(t, "")
	base := testenv.DaemonINI(s.daemon.Dir, s.dsn)
	reload := func(n int, ini string) string {
		s.daemon.Reload(t, base+ini)
		var line string
		eventually(t, "the reload", func() bool {
			lines := regexp.MustCompile(`(?m)^.*configuration reloaded.*$`).FindAllString(s.daemon.Log(), -1)
			if len(lines) < n {
				return false
			}
			line = lines[n-1]
			return true
		})
		return line
	}
	if l := reload(1, "session_pgsql.max_connections = 7\n"); !strings.Contains(l, `"need_restart":["session_pgsql.max_connections"]`) {
		t.Fatalf("first reload: %s", l)
	}
	if l := reload(2, "session_pgsql.max_connections = 7\nsession_pgsql.lock_timeout = 9\n"); !strings.Contains(l, `"need_restart":["session_pgsql.max_connections"]`) {
		t.Fatalf("second reload, max_connections still not applied: %s", l)
	}
	if l := reload(3, "session_pgsql.lock_timeout = 9\n"); strings.Contains(l, "need_restart") {
		t.Fatalf("third reload, back to what runs: %s", l)
	}
	s.mustGet(s.web.Browser(), "do=count")
}
