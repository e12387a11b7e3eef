package handler_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// *pgsess.Store has every optional ability of a handler.Store but Placer (it is one
// server).
var _ interface {
	handler.Store
	handler.Collector
	handler.StatusReporter
	handler.Resetter
	handler.Inspector
	handler.Lister
} = (*pgsess.Store)(nil)

// env is a server on a Unix socket in front of a store on a fresh database.
type env struct {
	t     *testing.T
	addr  string
	dsn   string
	store *pgsess.Store
	srv   *handler.Server
}

func newEnv(t *testing.T, cfg handler.Config) *env {
	t.Helper()
	return newEnvLocking(t, cfg, testenv.SharedPG(t).NewDatabase(t), nil)
}

// leases is the lock method of the tests of leases across daemons.
var leases = pgsess.Lease{Duration: 15 * time.Second}

// everyLockMethod is each lock method, named, for tests that run under each: host-only
// locking (nil), Lease and Advisory.
var everyLockMethod = []struct {
	name  string
	locks pgsess.LockMethod
}{{"host-only", nil}, {"lease", leases}, {"advisory", pgsess.Advisory{}}}

// newEnvLocking is newEnv on dsn (an existing database, as a second daemon sharing
// it), whose store locks across daemons with locks (nil: within the daemon only).
func newEnvLocking(t *testing.T, cfg handler.Config, dsn string, locks pgsess.LockMethod) *env {
	t.Helper()
	store, err := pgsess.Open(pgsess.Options{DSN: dsn, CreateTable: true, Locks: locks,
		MaxLifetime: 1440 * time.Second, SynchronousCommit: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if cfg.Version == "" {
		cfg.Version = "test"
	}
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv, addr := serve(t, cfg, store)
	return &env{t: t, addr: addr, dsn: dsn, store: store, srv: srv}
}

// serve starts a server of store on a Unix socket, shut down when tb ends, and returns
// it and the socket's path.
func serve(tb testing.TB, cfg handler.Config, store handler.Store) (*handler.Server, string) {
	tb.Helper()
	srv := handler.New(cfg, store)
	addr := filepath.Join(tb.TempDir(), "s.sock")
	ln, err := net.Listen("unix", addr)
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, addr
}

// client speaks the protocol like the PHP client does.
type client struct {
	t  *testing.T
	nc net.Conn
	pc *handler.Client
}

func (e *env) dial() *client {
	e.t.Helper()
	nc, err := net.Dial("unix", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &client{t: e.t, nc: nc, pc: handler.NewClient(nc)}
}

// hello opens a PHP request on a new connection.
func (e *env) hello() *client {
	c := e.dial()
	c.ok(handler.OpHello, "1", "", "PHPSESSID", "192.0.2.7")
	return c
}

func (c *client) send(op handler.Op, fields ...string) uint32 {
	c.t.Helper()
	id, err := c.pc.Send(op, fields...)
	if err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return id
}

func (c *client) recv() handler.Reply {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	rep, err := c.pc.Recv()
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return rep
}

func (c *client) do(op handler.Op, fields ...string) handler.Reply {
	c.t.Helper()
	id := c.send(op, fields...)
	rep := c.recv()
	if rep.ID != id {
		c.t.Fatalf("%s: reply id %d, want %d", op, rep.ID, id)
	}
	return rep
}

func (c *client) ok(op handler.Op, fields ...string) []string {
	c.t.Helper()
	rep := c.do(op, fields...)
	if rep.Status != handler.StatusOK {
		c.t.Fatalf("%s: status %s: %s", op, rep.Status, field(rep, 0))
	}
	var out []string
	for _, f := range rep.Fields {
		out = append(out, string(f))
	}
	return out
}

func (c *client) fails(want handler.Status, op handler.Op, fields ...string) string {
	c.t.Helper()
	rep := c.do(op, fields...)
	if rep.Status != want {
		c.t.Fatalf("%s: status %s, want %s (%s)", op, rep.Status, want, field(rep, 0))
	}
	return field(rep, 0)
}

// closed reports whether the daemon closed the connection (EOF, or a reset when it
// closed with our unread bytes in its buffer).
func (c *client) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.pc.Reader().ReadByte()
	var ne net.Error
	return err == io.EOF || err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func field(rep handler.Reply, i int) string {
	if i < len(rep.Fields) {
		return string(rep.Fields[i])
	}
	return ""
}

func write(c *client, id, data string) {
	c.t.Helper()
	c.ok(handler.OpWrite, id, data, "", "0", "0", "0", "")
}

func rowData(t *testing.T, dsn, id string) (string, bool) {
	t.Helper()
	var data string
	err := pgsesstest.Conn(t, dsn).QueryRow(context.Background(),
		"SELECT sess_data FROM php_session WHERE sess_id = $1", id).Scan(&data)
	if err != nil {
		return "", false
	}
	return data, true
}

const sid = "abcdefghijklmnopqrstuvwxyz012345"

func TestReadWriteRoundTripsBinaryData(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true})
	c := e.hello()
	if got := c.ok(handler.OpRead, sid); got[0] != "" || len(got) != 6 {
		t.Fatalf("new session read %q", got)
	}
	data := "a|O:1:\"A\":1:{s:4:\"\x00A\x00p\";s:2:\"\xff\xfe\";}"
	write(c, sid, data)
	c.ok(handler.OpClose)
	if got := c.ok(handler.OpRead, sid)[0]; got != data {
		t.Fatalf("got %q: expected %q", got, data)
	}
	stored, _ := rowData(t, e.dsn, sid)
	if !strings.HasPrefix(stored, "phpsessd:base64:") {
		t.Fatalf("binary data stored as %q", stored)
	}
}

func TestInvalidIDsAreRefusedAndTouchNothing(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true})
	c := e.hello()
	write(c, sid, "x|i:1;")
	for _, bad := range []string{"", "abc'; DROP TABLE php_session; --", "a b", strings.Repeat("a", 257), "é", "abc\x00"} {
		c.fails(handler.StatusInvalidID, handler.OpRead, bad)
		c.fails(handler.StatusInvalidID, handler.OpWrite, bad, "y|i:2;", "", "0", "0", "0", "")
		c.fails(handler.StatusInvalidID, handler.OpDestroy, bad)
		if got := c.ok(handler.OpValidateID, bad); got[0] != "0" {
			t.Fatalf("VALIDATE_ID(%q) = %q", bad, got[0])
		}
	}
	if got, _ := rowData(t, e.dsn, sid); got != "x|i:1;" {
		t.Fatalf("row changed to %q", got)
	}
}

func TestMalformedFramesGetAnErrorAndCloseTheConnection(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, MaxFrameSize: 1 << 16})
	cases := map[string]struct {
		frame []byte
		want  handler.Status
	}{
		"oversize":                {binary.BigEndian.AppendUint32(nil, 1<<16+1), handler.StatusFrameTooLarge},
		"short header":            {[]byte{0, 0, 0, 2, 1, 0}, handler.StatusBadFrame},
		"field overruns":          {[]byte{0, 0, 0, 9, 2, 0, 0, 0, 1, 0, 0, 0, 9}, handler.StatusBadFrame},
		"before hello":            {handler.AppendRequest(nil, handler.Request{Op: handler.OpRead, ID: 1, Fields: [][]byte{[]byte(sid)}}), handler.StatusNotAuthenticated},
		"unknown op before hello": {handler.AppendRequest(nil, handler.Request{Op: handler.Op(200), ID: 1}), handler.StatusNotAuthenticated},
		"bad version":             {handler.AppendRequest(nil, handler.Request{Op: handler.OpHello, ID: 1, Fields: [][]byte{[]byte("9"), nil, nil, nil}}), handler.StatusBadVersion},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := e.dial()
			c.t = t
			c.nc.Write(tc.frame)
			rep := c.recv()
			if rep.Status != tc.want {
				t.Fatalf("status %s, want %s (%s)", rep.Status, tc.want, field(rep, 0))
			}
			if !c.closed() {
				t.Fatal("connection left open")
			}
		})
	}
}

func TestOversizeWriteIsRefusedAndLeavesTheRow(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, MaxFrameSize: 1 << 16})
	c := e.hello()
	c.ok(handler.OpRead, sid)
	write(c, sid, "a|i:1;")
	c = e.hello()
	c.ok(handler.OpRead, sid)
	c.fails(handler.StatusFrameTooLarge, handler.OpWrite, sid, strings.Repeat("x", 1<<16), "", "0", "0", "0", "")
	if !c.closed() {
		t.Fatal("connection left open after an oversize frame")
	}
	if got, _ := rowData(t, e.dsn, sid); got != "a|i:1;" {
		t.Fatalf("row %q after an oversize write", got)
	}
	e.hello().ok(handler.OpRead, sid) // and its lock went with the connection
}

func TestTruncatedFrameTimesOutWithoutHarm(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, FrameTimeout: 200 * time.Millisecond})
	c := e.hello()
	c.nc.Write([]byte{0, 0, 0, 50, 2}) // half a frame, then silence
	rep := c.recv()
	if rep.Status != handler.StatusBadFrame || !c.closed() {
		t.Fatalf("status %s (%s), want BAD_FRAME and a closed connection", rep.Status, field(rep, 0))
	}
	e.hello().ok(handler.OpRead, sid) // the daemon still serves
}

func TestConnectionWithoutHelloIsClosedAfterTheClientTimeoutAndOneAfterHelloMayIdle(t *testing.T) {
	const timeout = 200 * time.Millisecond
	e := newEnv(t, handler.Config{Locking: true, FrameTimeout: timeout})
	idle := e.hello()
	silent := e.dial()
	if !silent.closed() {
		t.Fatal("a connection that never sent HELLO is still open")
	}
	slow := e.dial()
	slow.nc.Write([]byte{0, 0, 0, 40, 1}) // HELLO begun, never finished
	if rep := slow.recv(); rep.Status != handler.StatusBadFrame || !slow.closed() {
		t.Fatalf("status %s (%s), want BAD_FRAME and a closed connection", rep.Status, field(rep, 0))
	}
	time.Sleep(2 * timeout) // the persistent socket of a PHP-FPM worker between requests
	idle.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	idle.ok(handler.OpRead, sid)
}

func TestConnectionsOverMaxClientsAreRefusedWhileTheOthersAreServed(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, MaxClients: 2})
	authed := e.hello()
	waiting := e.dial() // not authenticated yet: counts all the same
	over := e.dial()
	rep := over.recv()
	if rep.Status != handler.StatusTooManyClients || rep.ID != 0 || !strings.Contains(field(rep, 0), "max_clients (2)") {
		t.Fatalf("status %s id %d (%s), want TOO_MANY_CLIENTS id 0 naming max_clients", rep.Status, rep.ID, field(rep, 0))
	}
	if !over.closed() {
		t.Fatal("refused connection left open")
	}
	authed.ok(handler.OpRead, sid)
	write(authed, sid, "a|i:1;")
	waiting.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	if got := waiting.ok(handler.OpRead, sid)[0]; got != "a|i:1;" {
		t.Fatalf("read %q", got)
	}
	if n := e.srv.Stats().Refused; n != 1 {
		t.Fatalf("%d refused connections counted, want 1", n)
	}
	waiting.nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for { // the daemon notices the close on its own time; until then it refuses
		c := e.dial()
		// A refused connection may be closed before the HELLO arrives: the write then
		// fails, or the close resets the connection and its TOO_MANY_CLIENTS is lost.
		c.pc.Send(handler.OpHello, "1", "", "PHPSESSID", "")
		c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		rep, err := c.pc.Recv()
		c.nc.Close()
		switch {
		case err == nil && rep.Status == handler.StatusOK:
			return
		case err == nil && rep.Status != handler.StatusTooManyClients:
			t.Fatalf("after a client left: status %s (%s)", rep.Status, field(rep, 0))
		case time.Now().After(deadline):
			t.Fatalf("no connection served after a client left: %v, last status %s", err, rep.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnknownOperationKeepsTheConnection(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true})
	c := e.hello()
	c.fails(handler.StatusUnknownOp, handler.Op(200))
	c.fails(handler.StatusBadRequest, handler.OpRead)
	c.ok(handler.OpRead, sid)
}

func TestSecretIsRequiredWhenConfigured(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, Secret: "s3cret"})
	c := e.dial()
	hello := c.send(handler.OpHello, "1", "wrong", "PHPSESSID", "")
	c.send(handler.OpRead, sid) // pipelined, as the PHP client does: never executed
	rep := c.recv()
	if rep.Status != handler.StatusAuthFailed || rep.ID != hello {
		t.Fatalf("status %s id %d, want AUTH_FAILED id %d", rep.Status, rep.ID, hello)
	}
	if msg := field(rep, 0); strings.Contains(msg, "s3cret") {
		t.Fatalf("error message leaks the secret: %q", msg)
	}
	if !c.closed() {
		t.Fatal("connection left open after a wrong secret")
	}
	e.dial().ok(handler.OpHello, "1", "s3cret", "PHPSESSID", "")
}

func TestLockSerialisesConcurrentIncrements(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true})
	increments(t, []*env{e}, 1)
}

func TestClusterLocksSerialiseIncrementsAcrossTwoDaemons(t *testing.T) {
	cfg := handler.Config{Locking: true}
	a := newEnvLocking(t, cfg, testenv.SharedPG(t).NewDatabase(t), leases)
	b := newEnvLocking(t, cfg, a.dsn, leases)
	increments(t, []*env{a, b}, 4)
}

func TestAdvisoryClusterLocksSerialiseIncrementsAcrossTwoDaemonsAndEndWithTheirRequests(t *testing.T) {
	// 8 clients per daemon on 4 sessions: requests of one host wait for each other, so
	// WRITEs pass the database lock on to the next request of the host.
	cfg := handler.Config{Locking: true}
	a := newEnvLocking(t, cfg, testenv.SharedPG(t).NewDatabase(t), pgsess.Advisory{})
	b := newEnvLocking(t, cfg, a.dsn, pgsess.Advisory{})
	increments(t, []*env{a, b}, 4)
	conn := pgsesstest.Conn(t, a.dsn)
	// Locks left to a waiter that gave up are released in the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		held := pgsesstest.AdvisoryLocks(t, conn)
		if held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d advisory locks still held after every request ended", held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// increments runs 16 clients spread over the daemons, each incrementing sessions
// shared by all of them, and checks that no increment was lost.
func increments(t *testing.T, daemons []*env, sessions int) {
	t.Helper()
	const workers, rounds = 16, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := daemons[w%len(daemons)].dial()
			for r := range rounds {
				id := fmt.Sprintf("%s%d", sid, (w+r)%sessions)
				c.ok(handler.OpHello, "1", "", "PHPSESSID", "")
				n, _ := strconv.Atoi(c.ok(handler.OpRead, id)[0])
				write(c, id, strconv.Itoa(n+1))
				c.ok(handler.OpClose)
			}
		}()
	}
	wg.Wait()
	total := 0
	for i := range sessions {
		got, _ := rowData(t, daemons[0].dsn, fmt.Sprintf("%s%d", sid, i))
		n, _ := strconv.Atoi(got)
		total += n
	}
	if total != workers*rounds {
		t.Fatalf("%d increments stored: expected %d", total, workers*rounds)
	}
}

func TestClusterLockWaitTimesOutAcrossDaemons(t *testing.T) {
	cfg := handler.Config{Locking: true, LockTimeout: 300 * time.Millisecond}
	a := newEnvLocking(t, cfg, testenv.SharedPG(t).NewDatabase(t), leases)
	b := newEnvLocking(t, cfg, a.dsn, leases)
	a.hello().ok(handler.OpRead, sid)
	b.hello().fails(handler.StatusLockTimeout, handler.OpRead, sid)
}

func TestLockWaitTimesOutWithClearError(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, LockTimeout: 300 * time.Millisecond})
	holder := e.hello()
	holder.ok(handler.OpRead, sid)
	msg := e.hello().fails(handler.StatusLockTimeout, handler.OpRead, sid)
	if !strings.Contains(msg, "locked") {
		t.Fatalf("message %q", msg)
	}
}

func TestLockIsReleasedWhenTheClientDisconnects(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, LockTimeout: time.Minute})
	holder := e.hello()
	holder.ok(handler.OpRead, sid)
	holder.nc.Close()
	e.hello().ok(handler.OpRead, sid) // would wait a minute if the lock stayed
}

func TestHelloReleasesTheLockOfAnAbandonedRequest(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, LockTimeout: time.Minute})
	c := e.hello()
	c.ok(handler.OpRead, sid) // the PHP request dies here without CLOSE
	c.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	e.hello().ok(handler.OpRead, sid)
}

func TestNewFrameCancelsAPendingLockWait(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, LockTimeout: time.Minute})
	e.hello().ok(handler.OpRead, sid)
	c := e.hello()
	first := c.send(handler.OpRead, sid) // waits for the lock; the request gives up
	second := c.send(handler.OpHello, "1", "", "PHPSESSID", "")
	if rep := c.recv(); rep.ID != first || rep.Status != handler.StatusCancelled {
		t.Fatalf("first reply: id %d status %s, want id %d CANCELLED", rep.ID, rep.Status, first)
	}
	if rep := c.recv(); rep.ID != second || rep.Status != handler.StatusOK {
		t.Fatalf("second reply: id %d status %s", rep.ID, rep.Status)
	}
}

func TestShortCircuitSkipsUnchangedWrites(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true, ShortCircuit: true, LockTimeout: 2 * time.Second})
	c := e.hello()
	c.ok(handler.OpRead, sid)
	write(c, sid, "a|i:1;")
	c.ok(handler.OpClose)
	conn := pgsesstest.Conn(t, e.dsn)
	counter := func() (n int) {
		conn.QueryRow(context.Background(), "SELECT sess_counter FROM php_session WHERE sess_id = $1", sid).Scan(&n)
		return n
	}
	c.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	c.ok(handler.OpRead, sid)
	write(c, sid, "a|i:1;")
	// A skipped write still ends the lock, as a write does: no CLOSE follows.
	probe := e.hello()
	probe.ok(handler.OpRead, sid)
	probe.ok(handler.OpClose)
	c.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	c.ok(handler.OpRead, sid)
	c.ok(handler.OpUpdateTimestamp, sid)
	probe.ok(handler.OpRead, sid)
	probe.ok(handler.OpClose)
	if n := counter(); n != 1 {
		t.Fatalf("counter %d after an unchanged write: expected 1", n)
	}
	c.ok(handler.OpHello, "1", "", "PHPSESSID", "")
	c.ok(handler.OpRead, sid)
	c.ok(handler.OpWrite, sid, "a|i:1;", "custom", "0", "0", "0", "")
	if n := counter(); n != 2 {
		t.Fatalf("counter %d after a custom field change: expected 2", n)
	}
}

func TestStatusAndInfoAreJSON(t *testing.T) {
	e := newEnv(t, handler.Config{Locking: true})
	c := e.hello()
	if got := c.ok(handler.OpInfo, sid)[0]; got != "null" {
		t.Fatalf("INFO of a missing session: %s", got)
	}
	c.ok(handler.OpRead, sid)
	c.ok(handler.OpWrite, sid, "a|i:1;", "cf", "1", "2", "3", "oops")
	info := c.ok(handler.OpInfo, sid)[0]
	for _, want := range []string{`"counter":1`, `"custom":"cf"`, `"error":1`, `"warning":2`, `"notice":3`, `"err_message":"oops"`, `"addr_created":"192.0.2.7"`, `"data_size":6`} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO %s lacks %s", info, want)
		}
	}
	if st := c.ok(handler.OpStatus)[0]; !strings.Contains(st, `"locking":true`) || !strings.Contains(st, `"up":true`) {
		t.Fatalf("STATUS %s", st)
	}
}

func TestStatusAndInfoReportTheServersAndTheExtensionsSettings(t *testing.T) {
	const conn = "host=db1 dbname=php_session password=xxxxx"
	e := newEnv(t, handler.Config{Locking: true, Servers: []string{conn}, FailoverMode: true, KeepExpired: true})
	c := e.hello()
	var st struct {
		DB           string `json:"db"`
		FailoverMode bool   `json:"failover_mode"`
		KeepExpired  bool   `json:"keep_expired"`
		ShortCircuit *bool  `json:"short_circuit"`
		Servers      []struct {
			Connection string `json:"connection"`
			Up         bool   `json:"up"`
		} `json:"servers"`
	}
	raw := c.ok(handler.OpStatus)[0]
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("STATUS %s: %v", raw, err)
	}
	if st.DB != conn || !st.FailoverMode || !st.KeepExpired || st.ShortCircuit == nil || len(st.Servers) != 1 ||
		st.Servers[0].Connection != conn || !st.Servers[0].Up {
		t.Fatalf("STATUS %s", raw)
	}
	// INFO names the session's server, also while the session has no row.
	for _, write := range []bool{false, true} {
		if write {
			c.ok(handler.OpRead, sid)
			c.ok(handler.OpWrite, sid, "a|i:1;", "", "0", "0", "0", "")
		}
		info := c.ok(handler.OpInfo, sid)
		if len(info) != 3 || info[1] != "0" || info[2] != conn || (info[0] == "null") == write {
			t.Fatalf("INFO after write=%v: %q", write, info)
		}
	}
}

func TestDatabaseDownGivesAnErrorNotACrash(t *testing.T) {
	store, err := pgsess.Open(pgsess.Options{DSN: "host=127.0.0.1 port=1 user=nobody dbname=x connect_timeout=2",
		CreateTable: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, addr := serve(t, handler.Config{Version: "test", Locking: true, Logger: zerolog.Nop()}, store)
	e := &env{t: t, addr: addr}
	c := e.hello()
	c.fails(handler.StatusDBUnavailable, handler.OpRead, sid)
	c.fails(handler.StatusDBUnavailable, handler.OpWrite, sid, "a|i:1;", "", "0", "0", "0", "")
	c.ok(handler.OpClose)
}

// An unlocked read returns the data at once while another request holds the lock, in
// every lock method, and the request that read so cannot write the session back.
func TestReadUnlockedNeitherWaitsForTheLockNorWrites(t *testing.T) {
	for _, tc := range everyLockMethod {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvLocking(t, handler.Config{Locking: true, LockTimeout: time.Minute},
				testenv.SharedPG(t).NewDatabase(t), tc.locks)
			w := e.hello()
			w.ok(handler.OpRead, sid)
			write(w, sid, "n|i:1;")

			holder := e.hello()
			holder.ok(handler.OpRead, sid) // holds the lock; would make READ wait a minute
			r := e.hello()
			if got := r.ok(handler.OpReadUnlocked, sid); got[0] != "n|i:1;" {
				t.Fatalf("READ_UNLOCKED returned %q", got[0])
			}
			if msg := r.fails(handler.StatusBadRequest, handler.OpWrite, sid, "n|i:99;", "", "0", "0", "0", ""); !strings.Contains(msg, "READ_UNLOCKED") {
				t.Fatalf("WRITE after READ_UNLOCKED: %q", msg)
			}
			r.fails(handler.StatusBadRequest, handler.OpUpdateTimestamp, sid)
			r.ok(handler.OpClose)
			write(holder, sid, "n|i:2;") // the lock holder's write is not lost
			if data, _ := rowData(t, e.dsn, sid); data != "n|i:2;" {
				t.Fatalf("row %q after the holder's write", data)
			}
			// A READ in the same request makes the session writable again.
			r.ok(handler.OpHello, "1", "", "PHPSESSID", "")
			r.ok(handler.OpReadUnlocked, sid)
			r.ok(handler.OpRead, sid)
			write(r, sid, "n|i:3;")
			if data, _ := rowData(t, e.dsn, sid); data != "n|i:3;" {
				t.Fatalf("row %q after READ then WRITE", data)
			}
		})
	}
}

// Two requests of one user, on two devices, each ending the other sessions of that user
// (each holds its own session's lock and waits for the other's): the second to wait
// gives up on the first one's session at once (busy) instead of both waiting out
// lock_timeout, and once it writes its session, the first ends it.
func TestTwoEndSessionsEndingEachOthersSessionsDoNotWaitForEachOther(t *testing.T) {
	for _, tc := range everyLockMethod {
		t.Run(tc.name, func(t *testing.T) {
			// Without the check both would wait this long, and end nothing.
			e := newEnvLocking(t, handler.Config{Locking: true, LockTimeout: time.Minute},
				testenv.SharedPG(t).NewDatabase(t), tc.locks)
			data := `user|a:1:{s:2:"id";i:42;}`
			devices := map[string]*client{}
			for _, id := range []string{"device1", "device2"} {
				c := e.hello()
				c.ok(handler.OpRead, id)
				write(c, id, data)
				devices[id] = e.hello()
				devices[id].ok(handler.OpRead, id)
			}
			type answer struct {
				id  string
				rep handler.Reply
			}
			answers := make(chan answer, 2)
			for id, c := range devices {
				sent := c.send(handler.OpEndSessions, `{"path":"user.id","value":42}`)
				go func() {
					rep := c.recv()
					if rep.ID != sent {
						t.Errorf("%s: reply to request %d, sent %d", id, rep.ID, sent)
					}
					answers <- answer{id, rep}
				}()
			}
			var first answer
			select {
			case first = <-answers:
			case <-time.After(15 * time.Second):
				t.Fatal("both END_SESSIONS wait for each other's session (lock_timeout is a minute)")
			}
			if first.rep.Status != handler.StatusOK || field(first.rep, 0) != "0" || field(first.rep, 1) != "1" {
				t.Fatalf("the first END_SESSIONS to answer (%s): %s %q, want 0 ended, 1 busy", first.id, first.rep.Status, first.rep.Fields)
			}
			write(devices[first.id], first.id, data)
			second := <-answers
			if second.rep.Status != handler.StatusOK || field(second.rep, 0) != "1" || field(second.rep, 1) != "0" {
				t.Fatalf("the second END_SESSIONS (%s): %s %q, want 1 ended once the first wrote", second.id, second.rep.Status, second.rep.Fields)
			}
			if _, there := rowData(t, e.dsn, first.id); there {
				t.Errorf("%s, ended by the other device's request, is still there", first.id)
			}
			write(devices[second.id], second.id, data)
			if _, there := rowData(t, e.dsn, second.id); !there {
				t.Errorf("%s, the session that ended the other, is gone", second.id)
			}
		})
	}
}

// END_SESSIONS ends the sessions whose data holds the value at the path, each under
// its lock: a request holding one writes first, and the session does not come back.
// The asking request's own session stays; one locked for lock_timeout is left as busy.
func TestEndSessionsEndsTheMatchingSessionsUnderTheirLocks(t *testing.T) {
	for _, tc := range everyLockMethod {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvLocking(t, handler.Config{Locking: true, LockTimeout: 2 * time.Second},
				testenv.SharedPG(t).NewDatabase(t), tc.locks)
			sessions := map[string]string{
				"u42a": `user|a:1:{s:2:"id";i:42;}`,
				"u42b": `user|a:1:{s:2:"id";s:2:"42";}`,
				"u42c": `user|a:1:{s:2:"id";i:42;}`,
				"mine": `user|a:1:{s:2:"id";i:42;}`,
				"u7":   `user|a:1:{s:2:"id";i:7;}`,
				"anon": `n|i:1;`,
			}
			for id, data := range sessions {
				c := e.hello()
				c.ok(handler.OpRead, id)
				write(c, id, data)
			}
			holder := e.hello()
			holder.ok(handler.OpRead, "u42c") // will write while END waits for it

			me := e.hello()
			me.ok(handler.OpRead, "mine")
			end := me.send(handler.OpEndSessions, `{"path":"user.id","value":42}`)
			time.Sleep(200 * time.Millisecond) // END is waiting for u42c's lock
			write(holder, "u42c", `user|a:1:{s:2:"id";i:42;}x|i:1;`)
			rep := me.recv()
			if rep.ID != end || rep.Status != handler.StatusOK || field(rep, 0) != "3" || field(rep, 1) != "0" {
				t.Fatalf("END_SESSIONS: %s %q", rep.Status, rep.Fields)
			}
			for id := range sessions {
				_, there := rowData(t, e.dsn, id)
				if want := id == "mine" || id == "u7" || id == "anon"; there != want {
					t.Errorf("%s: row there %v, want %v", id, there, want)
				}
			}
			write(me, "mine", sessions["mine"])

			// A session whose lock stays held is left, and counted.
			stuck := e.hello()
			stuck.ok(handler.OpRead, "mine")
			got := e.hello().ok(handler.OpEndSessions, `{"path":"user.id","value":"42"}`)
			if got[0] != "0" || got[1] != "1" {
				t.Fatalf("END_SESSIONS with the only match locked: %q", got)
			}
			if _, there := rowData(t, e.dsn, "mine"); !there {
				t.Fatal("a busy session was ended")
			}
			for _, bad := range []string{``, `{}`, `{"path":"user.id"}`, `{"value":1}`, `{"all":true,"nope":1}`, `{"path":"a..b","value":1}`} {
				e.hello().fails(handler.StatusBadRequest, handler.OpEndSessions, bad)
			}
		})
	}
}
