package serverset_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
	"github.com/phpsessd/phpsessd/serverset"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestHomeIsTheSumOfTheIDsBytesModN(t *testing.T) {
	for _, tt := range []struct {
		id   string
		n    int
		want int
	}{
		{"a", 1, 0},
		{"ab", 2, 1},    // 97+98 = 195
		{"ab", 3, 0},    // 195 = 3·65
		{"abc", 31, 15}, // 294 = 9·31 + 15
	} {
		if got := serverset.Home(tt.id, tt.n); got != tt.want {
			t.Errorf("Home(%q, %d) = %d, want %d", tt.id, tt.n, got, tt.want)
		}
	}
}

// cluster is a set over servers of the test's own, each with a database of its own,
// and a connection to each to look at the rows.
type cluster struct {
	t   *testing.T
	pgs []*testenv.PG
	dbs []*pgx.Conn
	dsn []string
	// down marks the servers halted: only does not look at them.
	down map[int]bool
	set  *serverset.Set
}

// newCluster starts n servers and opens a set over them.
func newCluster(t *testing.T, n int, failover bool, locks pgsess.LockMethod) *cluster {
	t.Helper()
	c := &cluster{t: t, down: map[int]bool{}}
	var servers []serverset.Server
	for range n {
		pg := testenv.PrivatePG(t)
		dsn := pg.NewDatabase(t)
		store, err := pgsess.Open(pgsess.Options{DSN: dsn, CreateTable: true, Locks: locks,
			MaxLifetime: time.Hour, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.pgs = append(c.pgs, pg)
		c.dbs = append(c.dbs, pgsesstest.Conn(t, dsn))
		c.dsn = append(c.dsn, dsn)
		servers = append(servers, serverset.Server{Store: store, Name: pgsess.RedactDSN(dsn)})
	}
	set, err := serverset.New(servers, serverset.Options{FailoverMode: failover,
		CheckInterval: 100 * time.Millisecond, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	c.set = set
	return c
}

// data returns session id's data on server i, and whether it has the row.
func (c *cluster) data(i int, id string) (string, bool) {
	c.t.Helper()
	var data string
	query := func() error {
		return c.dbs[i].QueryRow(context.Background(), "SELECT sess_data FROM php_session WHERE sess_id = $1", id).Scan(&data)
	}
	err := query()
	if err != nil && !errors.Is(err, pgx.ErrNoRows) && c.dbs[i].IsClosed() {
		c.dbs[i] = pgsesstest.Conn(c.t, c.dsn[i]) // the server was restarted
		err = query()
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false
	}
	if err != nil {
		c.t.Fatalf("server %d: %v", i, err)
	}
	return data, true
}

// only checks that session id is on server i alone, with data (i = -1: on none).
func (c *cluster) only(i int, id, data string) {
	c.t.Helper()
	for j := range c.dbs {
		if c.down[j] {
			continue
		}
		got, ok := c.data(j, id)
		switch {
		case j == i && (!ok || got != data):
			c.t.Errorf("session %s on server %d: %q, %v; want %q", id, j, got, ok, data)
		case j != i && ok:
			c.t.Errorf("session %s is on server %d too, want only on %d", id, j, i)
		}
	}
}

// halt stops server i, and start starts it again.
func (c *cluster) halt(i int) {
	c.t.Helper()
	if err := c.pgs[i].Halt(); err != nil {
		c.t.Fatal(err)
	}
	c.down[i] = true
}

func (c *cluster) start(i int) {
	c.t.Helper()
	if err := c.pgs[i].Start(); err != nil {
		c.t.Fatal(err)
	}
	c.down[i] = false
}

func (c *cluster) write(id, data string) {
	c.t.Helper()
	if err := c.set.Write(context.Background(), pgsess.Write{ID: id, Name: "PHPSESSID", Data: []byte(data)}); err != nil {
		c.t.Fatalf("write %s: %v", id, err)
	}
}

func (c *cluster) read(id string) string {
	c.t.Helper()
	sess, err := c.set.Read(context.Background(), id)
	if err != nil {
		c.t.Fatalf("read %s: %v", id, err)
	}
	if sess == nil {
		return ""
	}
	return string(sess.Data)
}

// waitUp waits until the set sees server i up (or down).
func (c *cluster) waitUp(i int, up bool) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.set.Health()[i].Up != up {
		if time.Now().After(deadline) {
			c.t.Fatalf("server %d never became up=%v", i, up)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ids returns n session ids of each home among servers, distinct per prefix.
func ids(prefix string, servers, n int) [][]string {
	out := make([][]string, servers)
	for i := 0; len(out[0]) < n || len(out[servers-1]) < n; i++ {
		id := fmt.Sprintf("%s%026d", prefix, i)
		if h := serverset.Home(id, servers); len(out[h]) < n {
			out[h] = append(out[h], id)
		}
	}
	return out
}

func TestSessionsLandOnTheServerTheExtensionPicks(t *testing.T) {
	c := newCluster(t, 3, false, nil)
	for i := range 60 {
		id := fmt.Sprintf("sess%026d", i)
		c.write(id, "n|i:"+id+";")
		c.only(serverset.Home(id, 3), id, "n|i:"+id+";")
		if got := c.set.ServerOf(id); got != serverset.Home(id, 3) {
			t.Errorf("ServerOf(%s) = %d, want its home %d", id, got, serverset.Home(id, 3))
		}
	}
}

// TestADownServersSessionsGoToTheNextAndComeHome: while server 1 is down, its sessions
// are served by server 0 (new ones made there) and server 0's are untouched; once
// it is back, its sessions are served at home again, with their data from before the
// outage, and one created during the outage is found and moved home.
func TestADownServersSessionsGoToTheNextAndComeHome(t *testing.T) {
	c := newCluster(t, 2, false, nil)
	ids := ids("s", 2, 5)
	for _, list := range ids {
		for _, id := range list {
			c.write(id, "before")
		}
	}
	c.halt(1)
	// The first operation on server 1 finds it down and goes on to server 0 at once.
	for _, id := range ids[1] {
		if got := c.read(id); got != "" {
			t.Errorf("session %s of the down server read %q on the next one; want a new session", id, got)
		}
		c.write(id, "during")
		c.only(0, id, "during")
	}
	if c.set.Health()[1].Up || c.set.ServerOf(ids[1][0]) != 0 {
		t.Fatalf("server 1 down, but the set says %+v, ServerOf = %d", c.set.Health(), c.set.ServerOf(ids[1][0]))
	}
	for _, id := range ids[0] {
		if got := c.read(id); got != "before" {
			t.Errorf("session %s of the live server: %q", id, got)
		}
	}
	created := "s-created-during-the-outage-xyz"
	for serverset.Home(created, 2) != 1 {
		created += "y" // odd: flips the sum's parity
	}
	c.write(created, "new during")
	destroyed := created + "yy" // the same home, 1: on server 0 during the outage
	c.write(destroyed, "to destroy")

	c.start(1)
	c.waitUp(1, true)
	// Strict mode's check finds a session still on the server it moved to; a destroy
	// deletes it there too, so the lookup cannot bring it back.
	ctx := context.Background()
	if ok, err := c.set.Exists(ctx, destroyed); !ok || err != nil {
		t.Errorf("Exists of a session made during the outage = %v, %v after failback", ok, err)
	}
	if err := c.set.Destroy(ctx, destroyed); err != nil {
		t.Fatal(err)
	}
	c.only(-1, destroyed, "")
	if got := c.read(destroyed); got != "" {
		t.Errorf("a destroyed session reads %q", got)
	}
	for _, id := range ids[1] {
		if got := c.read(id); got != "before" {
			t.Errorf("session %s back home reads %q, want its data from before the outage", id, got)
		}
	}
	if got := c.read(created); got != "new during" {
		t.Errorf("the session created during the outage reads %q after failback", got)
	}
	c.only(1, created, "new during")
	if h := c.set.Health()[1]; h.Downs != 1 || h.Ups != 1 {
		t.Errorf("server 1 health %+v, want one switch each way", h)
	}
}

// TestFailoverModeUsesTheFirstLiveServer: every session on server 0; on server 1 only
// while 0 is down; back on 0 afterwards, those made meanwhile moved there, under locks.
func TestFailoverModeUsesTheFirstLiveServer(t *testing.T) {
	c := newCluster(t, 2, true, pgsess.Advisory{})
	ctx := context.Background()
	for i := range 10 {
		id := fmt.Sprintf("f%029d", i)
		c.write(id, "x")
		c.only(0, id, "x")
	}
	c.halt(0)
	id := "f-made-while-the-first-is-down-1"
	token := c.set.NewToken()
	if _, err := c.set.Lock(ctx, id, "PHPSESSID", "", token); err != nil {
		t.Fatal(err)
	}
	if err := c.set.Write(ctx, pgsess.Write{ID: id, Data: []byte("on 1"), Token: token}); err != nil {
		t.Fatal(err)
	}
	c.only(1, id, "on 1")
	c.start(0)
	c.waitUp(0, true)
	token = c.set.NewToken()
	sess, err := c.set.Lock(ctx, id, "PHPSESSID", "", token)
	if err != nil || string(sess.Data) != "on 1" {
		t.Fatalf("Lock after failback = %v, %v; want the session made on server 1", sess, err)
	}
	c.only(0, id, "on 1") // moved home under the lock
	if err := c.set.Write(ctx, pgsess.Write{ID: id, Data: []byte("home"), Token: token}); err != nil {
		t.Fatal(err)
	}
	c.only(0, id, "home")
}

// TestALockEndsOnTheServerThatGrantedIt: a lock taken on the fallback while the home
// server is down is written there after the failback; a token the set does not know
// holds no lock.
func TestALockEndsOnTheServerThatGrantedIt(t *testing.T) {
	for _, locks := range []pgsess.LockMethod{pgsess.Advisory{}, pgsess.Lease{Duration: 10 * time.Second}} {
		t.Run(fmt.Sprintf("%T", locks), func(t *testing.T) {
			c := newCluster(t, 2, false, locks)
			ctx := context.Background()
			id := ids("l", 2, 1)[1][0]
			c.halt(1)
			token := c.set.NewToken()
			if _, err := c.set.Lock(ctx, id, "PHPSESSID", "", token); err != nil {
				t.Fatal(err)
			}
			c.start(1)
			c.waitUp(1, true)
			if err := c.set.Write(ctx, pgsess.Write{ID: id, Data: []byte("granted on 0"), Token: token}); err != nil {
				t.Fatal(err)
			}
			c.only(0, id, "granted on 0")
			err := c.set.Write(ctx, pgsess.Write{ID: id, Data: []byte("x"), Token: "unknown"})
			if !errors.Is(err, pgsess.ErrLeaseLost) {
				t.Errorf("Write with a token holding nothing = %v, want ErrLeaseLost", err)
			}
			if err := c.set.Touch(ctx, id, "PHPSESSID", "", token); !errors.Is(err, pgsess.ErrLeaseLost) {
				t.Errorf("Touch with the ended token = %v, want ErrLeaseLost", err)
			}
			// The next request finds it on server 0 and moves it home.
			token = c.set.NewToken()
			if sess, err := c.set.Lock(ctx, id, "PHPSESSID", "", token); err != nil || string(sess.Data) != "granted on 0" {
				t.Fatalf("Lock = %v, %v", sess, err)
			}
			if err := c.set.Touch(ctx, id, "PHPSESSID", "", token); err != nil {
				t.Fatal(err)
			}
			c.only(1, id, "granted on 0")
		})
	}
}

// TestGCStatusAndResetCoverEveryServer: GC counts the expired sessions of every
// server, STATUS lists every server with its state, RESET brings back one that
// answers.
func TestGCStatusAndResetCoverEveryServer(t *testing.T) {
	c := newCluster(t, 2, false, nil)
	ctx := context.Background()
	for i, list := range ids("g", 2, 3) {
		for _, id := range list {
			c.write(id, "x")
		}
		c.dbs[i].Exec(ctx, "UPDATE php_session SET sess_expire = 1")
	}
	if n, err := c.set.GC(ctx); n != 6 || err != nil {
		t.Errorf("GC = %d, %v; want the 6 expired sessions of both servers", n, err)
	}
	c.halt(1)
	c.waitUp(1, false)
	st := c.set.Status(ctx)
	if len(st) != 2 || !st[0].Up || st[1].Up {
		t.Errorf("Status with server 1 down = %+v", st)
	}
	if err := c.set.Ping(ctx); err != nil {
		t.Errorf("Ping with one live server = %v", err)
	}
	c.start(1)
	c.set.Reset() // up at once: one passing check is enough after RESET
	if st := c.set.Status(ctx); !st[1].Up {
		t.Errorf("Status after RESET with server 1 back = %+v", st)
	}
}

// List pages through the sessions of every server as one id-ordered list, each once,
// a copy left on a second server included once.
func TestListMergesTheServersPagesInIDOrder(t *testing.T) {
	c := newCluster(t, 2, false, nil)
	var want []string
	for _, home := range ids("Ls", 2, 4) {
		for _, id := range home {
			c.write(id, "n|i:1;")
			want = append(want, id)
		}
	}
	slices.Sort(want)
	// A copy on the other server, as a failback leaves one until it is moved.
	dup := want[0]
	other := 1 - serverset.Home(dup, 2)
	if _, err := c.dbs[other].Exec(context.Background(),
		`INSERT INTO php_session (sess_id, sess_data, sess_expire) VALUES ($1, 'n|i:9;', 2000000000)`, dup); err != nil {
		t.Fatal(err)
	}
	for _, page := range []int{1, 3, 100} {
		var got []string
		after := ""
		for {
			sessions, err := c.set.List(context.Background(), pgsess.Filter{}, after, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sessions {
				got = append(got, s.ID)
			}
			if len(sessions) < page {
				break
			}
			after = sessions[len(sessions)-1].ID
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pages of %d: %v, want %v", page, got, want)
		}
	}
}
