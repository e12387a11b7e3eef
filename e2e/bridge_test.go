package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

func TestCounterRowFollowsSessionPgsqlLayout(t *testing.T) {
	s := newSite(t, "session.gc_maxlifetime = 1000\n")
	b := s.web.Browser()
	before := time.Now().Unix()
	for i := 1; i <= 3; i++ {
		if n := s.mustGet(b, "do=count").int("n"); n != i {
			t.Fatalf("visit %d: counter %d", i, n)
		}
	}
	id := b.Cookie("PHPSESSID")
	r, ok := s.row(id)
	if !ok {
		t.Fatalf("no row for session %q", id)
	}
	if r.Name != "PHPSESSID" || r.Data != "n|i:3;" || r.Counter != 3 {
		t.Fatalf("row %+v", r)
	}
	if r.Created < before || r.Modified < r.Created || r.Expire != r.Modified+1000 {
		t.Fatalf("times created %d modified %d expire %d (started %d): expire must be modified+1000", r.Created, r.Modified, r.Expire, before)
	}
	if r.AddrCreated != "127.0.0.1" || r.AddrModified != "127.0.0.1" {
		t.Fatalf("addresses %q %q", r.AddrCreated, r.AddrModified)
	}
}

func TestRowWrittenByTheOldExtensionReadsBack(t *testing.T) {
	s := newSite(t, "")
	id := "oldextensionrow0123456789abcdef"
	now := time.Now().Unix()
	s.exec(`INSERT INTO php_session VALUES ($1, 'PHPSESSID', 'n|i:41;user|s:3:"bob";', $2, $2, $3, '10.0.0.1', '10.0.0.1', 7, 0, 0, 0, NULL, NULL)`,
		id, now-100, now+1000)
	b := s.web.Browser()
	b.SetCookie("PHPSESSID", id)
	if n := s.mustGet(b, "do=count").int("n"); n != 42 {
		t.Fatalf("counter %d: expected 42", n)
	}
	r, _ := s.row(id)
	if r.Data != `n|i:42;user|s:3:"bob";` || r.Counter != 8 || r.Created != now-100 || r.AddrCreated != "10.0.0.1" {
		t.Fatalf("row %+v", r)
	}
}

func TestBinaryDataRoundTripsAndPlainTextStaysPlain(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	set := s.mustGet(b, "do=binary&set=1")
	got := s.mustGet(b, "do=binary")
	if got.str("raw_hex") != "000180ff20656e64" || got.str("secret_hex") != "00fffe" {
		t.Fatalf("read back raw %s secret %s", got.str("raw_hex"), got.str("secret_hex"))
	}
	if got.str("encoded_hex") != set.str("encoded_hex") {
		t.Fatalf("session_encode() differs after the round trip:\n%s\n%s", set.str("encoded_hex"), got.str("encoded_hex"))
	}
	r, _ := s.row(b.Cookie("PHPSESSID"))
	raw, _ := hex.DecodeString(got.str("encoded_hex"))
	if !strings.HasPrefix(r.Data, "phpsessd:base64:") || strings.Contains(r.Data, "\x00") {
		t.Fatalf("binary session stored as %q (session is %q)", r.Data, raw)
	}

	plain := s.web.Browser()
	s.mustGet(plain, "do=count")
	if r, _ := s.row(plain.Cookie("PHPSESSID")); r.Data != "n|i:1;" {
		t.Fatalf("plain session stored as %q", r.Data)
	}
}

func TestSixteenConcurrentRequestsOnOneSessionLoseNoIncrement(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p := s.get(b, "do=count&sleep=5"); !p.ok() || p.warnings() != "" {
				errs <- fmt.Sprintf("ok=%v warnings=%s", p["ok"], p.warnings())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if r, _ := s.row(b.Cookie("PHPSESSID")); r.Data != "n|i:17;" {
		t.Fatalf("data %q after 17 increments", r.Data)
	}
}

func TestLockingOffRestoresLockFreeBehaviour(t *testing.T) {
	s := newSite(t, "session_pgsql.locking = off\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	// Two overlapping requests both read n=1: without a lock one increment is lost,
	// which is how the original extension behaved.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); s.mustGet(b, "do=count&sleep=300") }()
	}
	wg.Wait()
	if r, _ := s.row(b.Cookie("PHPSESSID")); r.Data != "n|i:2;" {
		t.Fatalf("data %q: expected the lost update of lock-free mode", r.Data)
	}
}

func TestLockIsReleasedWhenTheRequestEndsWithoutClosing(t *testing.T) {
	s := newSite(t, "session_pgsql.lock_timeout = 60\n")
	for _, do := range []string{"fatal", "exit"} {
		t.Run(do, func(t *testing.T) {
			b := s.web.Browser()
			s.mustGet(b, "do=count")
			s.get(b, "do="+do)
			// Every worker of the pool must be able to take the lock at once.
			for range 8 {
				p := s.mustGet(b, "do=read")
				if p.warnings() != "" {
					t.Fatal(p.warnings())
				}
			}
		})
	}
}

func TestLockOfARequestThatNeverClosedIsReleasedAtItsEnd(t *testing.T) {
	s := newSite(t, "session_pgsql.lock_timeout = 10\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	s.mustGet(s.web.Browser(), "do=abandon&id="+b.Cookie("PHPSESSID"))
	// Whichever worker serves these, none may wait for the abandoned lock.
	for i := range 6 {
		if n := s.mustGet(b, "do=count").int("n"); n != 2+i {
			t.Fatalf("counter %d", n)
		}
	}
}

func TestLockWaitTimeoutIsAWarningNotAHang(t *testing.T) {
	s := newSite(t, "session_pgsql.lock_timeout = 1\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	done := make(chan struct{})
	go func() { defer close(done); s.get(b, "do=count&sleep=4000") }()
	time.Sleep(500 * time.Millisecond)
	p := s.get(b, "do=count")
	<-done
	if p.ok() || !strings.Contains(p.warnings(), "locked") {
		t.Fatalf("ok=%v warnings=%q: expected session_start() false with a lock warning", p["ok"], p.warnings())
	}
}

func TestStrictModeRejectsUnknownIDs(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	b.PHPValue = "session.use_strict_mode=1"
	b.SetCookie("PHPSESSID", "attackerchosenid0123456789abcdef")
	s.mustGet(b, "do=count")
	if id := b.Cookie("PHPSESSID"); id == "attackerchosenid0123456789abcdef" {
		t.Fatal("strict mode accepted an id that does not exist")
	}
	id := b.Cookie("PHPSESSID")
	if n := s.mustGet(b, "do=count").int("n"); n != 2 || b.Cookie("PHPSESSID") != id {
		t.Fatalf("strict mode rejected a live session: n=%d", n)
	}
}

func TestStrictModeReplacesAnIDOutsideTheAlphabetWithoutAWarning(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	b.PHPValue = "session.use_strict_mode=1"
	b.SetCookie("PHPSESSID", "not.an.id")
	if n := s.mustGet(b, "do=count").int("n"); n != 1 || b.Cookie("PHPSESSID") == "not.an.id" {
		t.Fatalf("n=%d, cookie %q: expected a new session under a new id", n, b.Cookie("PHPSESSID"))
	}
}

func TestRegenerateIDMovesTheSessionAndDeletesTheOldRow(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	p := s.mustGet(b, "do=regenerate")
	if _, ok := s.row(p.str("old")); ok {
		t.Fatal("old row still there after session_regenerate_id(true)")
	}
	if r, ok := s.row(p.str("new")); !ok || r.Data != "n|i:2;" {
		t.Fatalf("new row %+v %v", r, ok)
	}
	if n := s.mustGet(b, "do=count").int("n"); n != 3 {
		t.Fatalf("counter %d after regenerate", n)
	}
}

func TestDestroyDeletesTheRow(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	id := b.Cookie("PHPSESSID")
	s.mustGet(b, "do=destroy")
	if _, ok := s.row(id); ok {
		t.Fatal("row still there after session_destroy()")
	}
}

func TestSessionGCDeletesExpiredRows(t *testing.T) {
	s := newSite(t, "session_pgsql.gc_interval = 0\n")
	now := time.Now().Unix()
	s.exec(`INSERT INTO php_session (sess_id, sess_data, sess_modified, sess_expire) VALUES ('expired1', 'a|i:1;', $1, $2), ('live1', 'a|i:1;', $1, $3)`,
		now-2000, now-100, now+1000)
	p := s.mustGet(s.web.Browser(), "do=gc")
	if p.int("deleted") != 1 {
		t.Fatalf("session_gc() = %v", p["deleted"])
	}
	if _, ok := s.row("expired1"); ok {
		t.Fatal("expired row kept")
	}
	if _, ok := s.row("live1"); !ok {
		t.Fatal("live row deleted")
	}
}

func TestLazyWriteUpdatesTimestampWithoutRewritingData(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	b.PHPValue = "session.lazy_write=1"
	s.mustGet(b, "do=count")
	id := b.Cookie("PHPSESSID")
	s.exec("UPDATE php_session SET sess_modified = sess_modified - 100, sess_expire = sess_expire - 100 WHERE sess_id = $1", id)
	before, _ := s.row(id)
	s.mustGet(b, "do=read")
	after, _ := s.row(id)
	if after.Modified <= before.Modified || after.Expire <= before.Expire || after.Counter != before.Counter+1 || after.Data != before.Data {
		t.Fatalf("before %+v after %+v: updateTimestamp must refresh times and counter only", before, after)
	}
}

func TestSessionPgsqlFunctionsStoreCustomFieldAndErrors(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	p := s.mustGet(b, "do=functions&field=hello%00world&error=512&msg=disk+full")
	if p["set_field"] != true || p["add_error"] != true {
		t.Fatalf("set_field %v add_error %v", p["set_field"], p["add_error"])
	}
	s.mustGet(b, "do=functions&error=1024")
	p = s.mustGet(b, "do=functions")
	if p.str("get_field") != "hello\x00world" {
		t.Fatalf("get_field %q", p.str("get_field"))
	}
	errs, _ := p["get_error"].(map[string]any)
	if errs["warning"] != 1.0 || errs["notice"] != 1.0 || errs["error"] != 0.0 || errs["err_message"] != "disk full" {
		t.Fatalf("get_error %v", errs)
	}
	info, _ := p["info"].(map[string]any)
	if info["counter"] != 2.0 || info["name"] != "PHPSESSID" {
		t.Fatalf("info %v", info)
	}
	status, _ := p["status"].(map[string]any)
	if status["connected"] != true || status["locking"] != true {
		t.Fatalf("status %v", status)
	}
	r, _ := s.row(b.Cookie("PHPSESSID"))
	if r.Warning != 1 || r.Notice != 1 || r.ErrMessage != "disk full" || !strings.HasPrefix(r.Custom, "phpsessd:base64:") {
		t.Fatalf("row %+v", r)
	}
	if p := s.mustGet(b, "do=reset"); p["reset"] != true {
		t.Fatalf("session_pgsql_reset() = %v", p["reset"])
	}
	s.mustGet(b, "do=count")
}

func TestUnreachableDaemonIsAWarningAndSessionStartFalse(t *testing.T) {
	fpm := testenv.SharedFPM(t)
	dir := testenv.ShortTempDir(t)
	addr := "unix:" + filepath.Join(dir, "nobody-listens.sock")
	web := fpm.Web(t, map[string]string{"PHPSESSD_LISTEN": addr, "PHPSESSD_TIMEOUT": "1"})
	s := &site{t: t, web: web}
	p := s.get(web.Browser(), "do=count")
	if p.ok() || !strings.Contains(p.warnings(), addr) {
		t.Fatalf("ok=%v warnings=%q: expected false and a warning naming %s", p["ok"], p.warnings(), addr)
	}
}

func TestClientReconnectsAfterTheDaemonRestarts(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	for range 8 { // let every worker open its persistent socket
		s.mustGet(b, "do=count")
	}
	s.daemon.Kill()
	d := testenv.StartDaemon(t, s.daemon.Dir, mustRead(t, s.daemon.INI))
	s.daemon = d
	for i := range 8 {
		if n := s.mustGet(b, "do=count").int("n"); n != 9+i {
			t.Fatalf("counter %d after restart", n)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLockIsReleasedWhenTheWorkerHoldingItIsKilled(t *testing.T) {
	s := newSite(t, "session_pgsql.lock_timeout = 30\n")
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	pidfile := filepath.Join(testenv.ShortTempDir(t), "pid")
	go s.web.Browser().Get(t, "/t.php?do=hold&pidfile="+pidfile+"&PHPSESSID="+b.Cookie("PHPSESSID"))
	var pid int
	eventually(t, "the worker to hold the session", func() bool {
		data, err := os.ReadFile(pidfile)
		return err == nil && len(data) > 0 && func() bool { _, err := fmt.Sscan(string(data), &pid); return err == nil }()
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// With the lock leaked this would fail after lock_timeout with a warning. The
	// killed request never wrote, so the counter goes from 1 to 2.
	if n := s.mustGet(b, "do=count").int("n"); n != 2 {
		t.Fatalf("counter %d: expected 2", n)
	}
}

func TestClientReadsTheDaemonAddressFromPHPIni(t *testing.T) {
	testenv.RequirePHP(t)
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	dir := testenv.ShortTempDir(t)
	ini := testenv.DaemonINI(dir, dsn)
	// A pool whose php.ini is the daemon's, as on a real site: no environment override.
	fpm, err := testenv.StartFPM(testenv.FPMOptions{Workers: 2, INI: ini})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fpm.Stop)
	testenv.StartDaemon(t, dir, ini)
	s := &site{t: t, web: fpm.Web(t, nil)}
	b := s.web.Browser()
	s.mustGet(b, "do=count")
	if n := s.mustGet(b, "do=count").int("n"); n != 2 {
		t.Fatalf("counter %d", n)
	}

	// The demo page of make run shows the counter and the row it stored.
	b.Get(t, "/")
	_, html := b.Get(t, "/")
	for _, want := range []string{`<strong id="visits">2</strong>`, "visits|i:2;", "<th>sess_counter</th><td>4</td>", b.Cookie("PHPSESSID")} {
		if !strings.Contains(html, want) {
			t.Fatalf("demo page lacks %q:\n%s", want, html)
		}
	}
}

func TestLogsNeverContainSessionData(t *testing.T) {
	s := newSite(t, "session_pgsql.log_level = debug\nsession_pgsql.max_frame_size = 64K\n")
	b := s.web.Browser()
	s.mustGet(b, "do=functions&field=MARKER-custom&error=2&msg=MARKER-message")
	s.get(b, "do=count") // and a lock timeout, an oversize write, an invalid id:
	b.SetCookie("PHPSESSID", "MARKER-bad.id")
	s.get(b, "do=count")
	if strings.Contains(s.daemon.Log(), "MARKER") {
		t.Fatalf("session data in the log:\n%s", s.daemon.Log())
	}
}

func TestInspectPrintsASessionDecoded(t *testing.T) {
	s := newSite(t, "")
	b := s.web.Browser()
	s.mustGet(b, "do=binary&set=1")
	code, out := testenv.Run(t, "inspect", "-ini", s.daemon.INI, "-log-format", "json", b.Cookie("PHPSESSID"))
	i := strings.Index(out, "{\n")
	if code != 0 || i < 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var v struct {
		ID      string
		Handler string `json:"serialize_handler"`
		Data    json.RawMessage
	}
	if err := json.Unmarshal([]byte(out[i:]), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	for _, want := range []string{`"Account"`, `"ann"`, `"protected"`, `"private"`, `"raw"`} {
		if !strings.Contains(string(v.Data), want) {
			t.Fatalf("decoded data lacks %s:\n%s", want, v.Data)
		}
	}
	if v.ID != b.Cookie("PHPSESSID") || v.Handler != "php" {
		t.Fatalf("%+v", v)
	}
	if code, out := testenv.Run(t, "inspect", "-ini", s.daemon.INI, "nosuchsession"); code == 0 || !strings.Contains(out, "no session") {
		t.Fatalf("missing session: exit %d\n%s", code, out)
	}
}

// session_pgsql_start_read_only() reads a session another request holds the lock of,
// at once, and never writes it.
func TestReadOnlySessionNeitherWaitsForTheLockNorWrites(t *testing.T) {
	s := newSite(t, "session_pgsql.lock_timeout = 5\n")
	holder := s.web.Browser()
	s.mustGet(holder, "do=count")
	id := holder.Cookie("PHPSESSID")
	reader := s.web.Browser()
	reader.SetCookie("PHPSESSID", id)

	release := filepath.Join(t.TempDir(), "release")
	done := make(chan page)
	go func() { done <- s.get(holder, "do=count&until="+release) }()
	for {
		if _, err := os.Stat(release + ".started"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The holder has read n=1 and holds the lock until release exists: a read that
	// waited for the lock would fail after lock_timeout with a warning.
	p := s.mustGet(reader, "do=readonly")
	if !p.ok() || p["active"] != false || p.warnings() != "" {
		t.Fatalf("read-only start while the lock is held: %v", p)
	}
	if sess, _ := p["session"].(map[string]any); sess["n"] != float64(1) {
		t.Fatalf("read-only session %v, want n=1", p["session"])
	}
	p = s.get(reader, "do=readonly&set=1")
	if p["write"] != false || !strings.Contains(p.warnings(), "read-only") {
		t.Fatalf("a write of a read-only session: write=%v warnings=%q", p["write"], p.warnings())
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if h := <-done; !h.ok() || h.int("n") != 2 {
		t.Fatalf("the lock holder: %v", h)
	}
	if r, _ := s.row(id); r.Data != "n|i:2;" {
		t.Fatalf("row %q: the holder's write is the last", r.Data)
	}
	if sess, _ := s.mustGet(reader, "do=readonly")["session"].(map[string]any); sess["n"] != float64(2) {
		t.Fatalf("read-only session after the holder wrote: %v", sess)
	}
}

// session_pgsql_end_sessions('user.id', 42) logs user 42 out of every other browser,
// and nobody else.
func TestEndSessionsLogsAUserOutOfTheOtherBrowsersOnly(t *testing.T) {
	s := newSite(t, "")
	var browsers []*testenv.Browser
	for _, user := range []string{"42", "42", "42", "7"} {
		b := s.web.Browser()
		s.mustGet(b, "do=login&user="+user)
		s.mustGet(b, "do=login&user="+user) // n=2 in every session
		browsers = append(browsers, b)
	}
	if p := s.mustGet(browsers[0], "do=endothers&user=42"); p.int("ended") != 2 {
		t.Fatalf("ended %v, want the 2 other sessions of user 42", p["ended"])
	}
	for i, want := range []int{3, 1, 1, 3} { // 1: a new session
		if n := s.mustGet(browsers[i], "do=count").int("n"); n != want {
			t.Errorf("browser %d: counter %d after the log-out, want %d", i, n, want)
		}
	}
}

// phpsessd sessions lists what a filter selects; phpsessd end ends it through the
// daemon after a confirmation, and nothing without one.
func TestSessionsListsAndEndEndsWhatAFilterSelects(t *testing.T) {
	s := newSite(t, "")
	ini := s.daemon.INI
	var browsers []*testenv.Browser
	want := map[string]bool{}
	for _, user := range []string{"42", "42", "42", "7"} {
		b := s.web.Browser()
		s.mustGet(b, "do=login&user="+user)
		s.mustGet(b, "do=login&user="+user)
		browsers = append(browsers, b)
		if user == "42" {
			want[b.Cookie("PHPSESSID")] = true
		}
	}
	code, out := testenv.Run(t, "sessions", "-ini", ini, "-log-format", "json", "-path", "user.id", "-value", "42", "-json")
	if code != 0 {
		t.Fatalf("sessions: exit %d\n%s", code, out)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, `"level":`) {
			continue // a log line on stderr
		}
		var l struct {
			ID      string
			Counter int
			Size    int `json:"data_size"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		if l.Counter != 2 || l.Size == 0 {
			t.Errorf("listed %+v", l)
		}
		got[l.ID] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want user 42's %v", got, want)
	}
	if code, out := testenv.Run(t, "sessions", "-ini", ini, "-log-format", "json"); code != 0 || !strings.Contains(out, "4 sessions") ||
		!strings.Contains(out, "ADDR CREATED") {
		t.Fatalf("sessions table: exit %d\n%s", code, out)
	}

	if code, out := testenv.Run(t, "end", "-ini", ini, "-log-format", "json"); code == 0 || !strings.Contains(out, "-path and -value") {
		t.Fatalf("end without a filter: exit %d\n%s", code, out)
	}
	if code, out := testenv.Run(t, "end", "-ini", ini, "-log-format", "json", "-path", "user.id", "-value", "42"); code == 0 ||
		!strings.Contains(out, "3 live sessions match") || !strings.Contains(out, "not confirmed") {
		t.Fatalf("end without confirmation: exit %d\n%s", code, out)
	}
	code, out = testenv.RunInput(t, "y\n", "end", "-ini", ini, "-log-format", "json", "-path", "user.id", "-value", "42")
	if code != 0 || !strings.Contains(out, "ended 3 sessions") {
		t.Fatalf("end: exit %d\n%s", code, out)
	}
	for i, want := range []int{1, 1, 1, 3} {
		if n := s.mustGet(browsers[i], "do=count").int("n"); n != want {
			t.Errorf("browser %d: counter %d after phpsessd end, want %d", i, n, want)
		}
	}
}
