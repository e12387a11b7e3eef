package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/internal/testenv"
)

// rawClient speaks the protocol to a daemon's Unix socket directly, as a client that
// misbehaves (or PHP, which the tests here do not need) would.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	pc *handler.Client
}

func dialDaemon(t *testing.T, d *testenv.Daemon) *rawClient {
	t.Helper()
	nc, err := net.Dial("unix", socketPath(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, pc: handler.NewClient(nc)}
}

func socketPath(d *testenv.Daemon) string { return strings.TrimPrefix(d.Listen, "unix:") }

func (c *rawClient) send(op handler.Op, fields ...string) {
	c.t.Helper()
	if _, err := c.pc.Send(op, fields...); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one reply; a daemon that does not answer within 30 s fails the test.
func (c *rawClient) recv() handler.Reply {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	rep, err := c.pc.Recv()
	if err != nil {
		c.t.Fatalf("reading a reply: %v", err)
	}
	return rep
}

func (c *rawClient) ok(op handler.Op, fields ...string) handler.Reply {
	c.t.Helper()
	c.send(op, fields...)
	rep := c.recv()
	if rep.Status != handler.StatusOK {
		c.t.Fatalf("%s: status %s", op, rep.Status)
	}
	return rep
}

// served checks that the daemon serves a PHP request on a new connection, and closes it.
func served(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	c := dialDaemon(t, d).hello()
	c.ok(handler.OpRead, "surroundings0123456789")
	c.ok(handler.OpClose)
	c.nc.Close()
}

func (c *rawClient) hello() *rawClient {
	c.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	return c
}

// closedByDaemon reports whether the daemon closed the connection (EOF or reset)
// within 30 s.
func (c *rawClient) closedByDaemon() bool {
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := c.pc.Reader().ReadByte()
	var ne net.Error
	return err == io.EOF || err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// badFrame sends half a frame header on a new connection, which the daemon logs (a
// warning) and answers BAD_FRAME; it fails the test if no answer comes.
func badFrame(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	c := dialDaemon(t, d)
	c.nc.Write([]byte{0, 0, 0, 2, 1, 0})
	if rep := c.recv(); rep.Status != handler.StatusBadFrame {
		t.Fatalf("status %s, want BAD_FRAME", rep.Status)
	}
	c.nc.Close()
}

// shortCircuit is the short_circuit the daemon's STATUS reports.
func shortCircuit(t *testing.T, d *testenv.Daemon) bool {
	t.Helper()
	var st struct {
		ShortCircuit bool `json:"short_circuit"`
	}
	c := dialDaemon(t, d).hello()
	if err := json.Unmarshal(c.ok(handler.OpStatus).Fields[0], &st); err != nil {
		t.Fatal(err)
	}
	c.nc.Close()
	return st.ShortCircuit
}

func socketGone(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	if _, err := os.Lstat(socketPath(d)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket %s is still there after the exit (%v)", socketPath(d), err)
	}
}

func TestDaemonSurvivesALogReaderThatWentAway(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	ini := testenv.DaemonINI(dir, testenv.SharedPG(t).NewDatabase(t))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // every log line is now a write to a broken pipe
	d := testenv.StartDaemonLoggingTo(t, dir, ini, w)
	w.Close()

	badFrame(t, d)
	d.Reload(t, ini+"session_pgsql.short_circuit = on\n") // which logs
	deadline := time.Now().Add(20 * time.Second)
	for !shortCircuit(t, d) {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload php.ini")
		}
		time.Sleep(50 * time.Millisecond)
	}
	served(t, d)
	// Exiting writes the lines still buffered: a SIGPIPE would show in the exit code.
	if code := d.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	socketGone(t, d)
}

func TestDaemonServesWhileItsLogReaderStalls(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	ini := testenv.DaemonINI(dir, testenv.SharedPG(t).NewDatabase(t))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()          // open, never read
	const setPipeSize = 1031 // F_SETPIPE_SZ: the smallest pipe fills after a few lines
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), setPipeSize, 4096); errno != 0 {
		t.Fatal(errno)
	}
	d := testenv.StartDaemonLoggingTo(t, dir, ini, w)
	w.Close()

	for range 200 { // some 30 KiB of warnings, each logged before its reply is sent
		badFrame(t, d)
	}
	served(t, d)
	if code := d.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	socketGone(t, d)
}

func TestUnixSocketIsRemovedOnEveryExitAndAStaleOneReplaced(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := testenv.ShortTempDir(t)
			d := testenv.StartDaemon(t, dir, testenv.DaemonINI(dir, dsn))
			served(t, d)
			if code := d.Exit(sig); code != 0 {
				t.Fatalf("exit code %d after %s", code, sig)
			}
			socketGone(t, d)
		})
	}

	dir := testenv.ShortTempDir(t)
	ini := testenv.DaemonINI(dir, dsn)
	d := testenv.StartDaemon(t, dir, ini)
	// A second daemon on the same socket refuses to start and leaves the socket alone.
	if code, out := testenv.Run(t, "-ini", d.INI, "-log-format", "json"); code != 1 || !strings.Contains(out, "another daemon is listening") {
		t.Fatalf("second daemon: exit %d:\n%s", code, out)
	}
	served(t, d)
	// Killed, the daemon cannot remove its socket; the next one replaces it.
	d.Kill()
	if _, err := os.Lstat(socketPath(d)); err != nil {
		t.Fatalf("no stale socket to replace after SIGKILL: %v", err)
	}
	d = testenv.StartDaemon(t, dir, ini)
	served(t, d)
	if code := d.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	socketGone(t, d)
}

func TestClientsOverMaxClientsAreRefusedLoggedOnceAndTheRestServed(t *testing.T) {
	port, _ := testenv.FreePort()
	s := newSite(t, fmt.Sprintf("session_pgsql.max_clients = 3\nsession_pgsql.metrics_listen = 127.0.0.1:%d\n", port))
	var held []*rawClient
	for range 3 {
		held = append(held, dialDaemon(t, s.daemon).hello())
	}
	b := s.web.Browser()
	for range 3 {
		if p := s.get(b, "do=count"); p.ok() || !strings.Contains(p.warnings(), "TOO_MANY_CLIENTS") ||
			!strings.Contains(p.warnings(), "max_clients (3)") {
			t.Fatalf("over max_clients: ok=%v warnings=%q", p["ok"], p.warnings())
		}
	}
	held[0].ok(handler.OpRead, "surroundings0123456789") // the connections open are served
	if n := strings.Count(s.daemon.Log(), "refusing connections"); n != 1 {
		t.Fatalf("%d log lines about refused connections, want 1:\n%s", n, s.daemon.Log())
	}
	metrics := scrape(t, port)
	if !strings.Contains(metrics, "phpsessd_connections_refused_total 3") {
		t.Fatalf("/metrics does not count 3 refused connections:\n%s", metrics)
	}
	held[0].nc.Close()
	eventually(t, "PHP to be served once a client left", func() bool { return s.get(b, "do=count").ok() })
}

func TestConnectionWithoutHelloIsClosedWhilePersistentSocketsIdleOn(t *testing.T) {
	s := newSite(t, "session_pgsql.client_timeout = 0.5\n")
	b := s.web.Browser()
	for range 12 { // every worker of the pool opens its persistent socket
		s.mustGet(b, "do=count")
	}
	if !dialDaemon(t, s.daemon).closedByDaemon() {
		t.Fatal("a connection that sent nothing was not closed")
	}
	time.Sleep(time.Second) // the persistent sockets idle past client_timeout
	for i := range 12 {
		if n := s.mustGet(b, "do=count").int("n"); n != 13+i {
			t.Fatalf("counter %d, want %d", n, 13+i)
		}
	}
}

// scrape returns the daemon's /metrics on port.
func scrape(t *testing.T, port int) string {
	t.Helper()
	var body string
	eventually(t, "the metrics listener", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == 200
	})
	return body
}
