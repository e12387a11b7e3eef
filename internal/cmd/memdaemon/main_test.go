package main

import (
	"bufio"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/handler"
)

func start(t *testing.T, lockTimeout time.Duration) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go newServer(lockTimeout).serve(ln)
	return sock
}

type client struct {
	t  *testing.T
	c  net.Conn
	r  *bufio.Reader
	id uint32
}

func dial(t *testing.T, sock string) *client {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes the requests in one write and returns their replies.
func (c *client) send(reqs ...handler.Request) []handler.Reply {
	c.t.Helper()
	var buf []byte
	for i := range reqs {
		c.id++
		reqs[i].ID = c.id
		buf = handler.AppendRequest(buf, reqs[i])
	}
	if _, err := c.c.Write(buf); err != nil {
		c.t.Fatal(err)
	}
	out := make([]handler.Reply, len(reqs))
	for i := range reqs {
		p, err := handler.ReadFrame(c.r, 1<<20)
		if err != nil {
			c.t.Fatalf("reply %d: %v", i, err)
		}
		if out[i], err = handler.ParseReply(p); err != nil {
			c.t.Fatal(err)
		}
		if out[i].ID != reqs[i].ID {
			c.t.Fatalf("reply id %d to request %d", out[i].ID, reqs[i].ID)
		}
	}
	return out
}

func req(op handler.Op, f ...string) handler.Request {
	r := handler.Request{Op: op}
	for _, s := range f {
		r.Fields = append(r.Fields, []byte(s))
	}
	return r
}

var hello = req(handler.OpHello, "1", "", "PHPSESSID", "127.0.0.1")

func write(id, data string) handler.Request {
	return req(handler.OpWrite, id, data, "c", "1", "2", "3", "m")
}

func TestReadWriteAsThePHPClientDoes(t *testing.T) {
	sock := start(t, time.Minute)
	a := dial(t, sock)
	reps := a.send(hello, req(handler.OpRead, "s1"))
	if reps[0].Status != handler.StatusOK || len(reps[0].Fields) != 3 || string(reps[0].Fields[1]) != "1" {
		t.Fatalf("HELLO: %+v", reps[0])
	}
	if r := reps[1]; r.Status != handler.StatusOK || len(r.Fields) != 6 || len(r.Fields[0]) != 0 || string(r.Fields[2]) != "0" {
		t.Fatalf("READ of a new session: %+v", r)
	}
	if r := a.send(write("s1", "n|i:1;"))[0]; r.Status != handler.StatusOK {
		t.Fatalf("WRITE: %+v", r)
	}
	// The next request of the same persistent socket, and another connection.
	for _, c := range []*client{a, dial(t, sock)} {
		r := c.send(hello, req(handler.OpRead, "s1"))[1]
		want := []string{"n|i:1;", "c", "1", "2", "3", "m"}
		for i, w := range want {
			if r.Status != handler.StatusOK || len(r.Fields) != 6 || string(r.Fields[i]) != w {
				t.Fatalf("READ after WRITE: %+v", r)
			}
		}
		c.send(req(handler.OpClose))
	}
	if r := a.send(req(handler.OpValidateID, "s1"), req(handler.OpDestroy, "s1"), req(handler.OpValidateID, "s1")); string(r[0].Fields[0]) != "1" || string(r[2].Fields[0]) != "0" {
		t.Fatalf("VALIDATE_ID, DESTROY, VALIDATE_ID: %+v", r)
	}
}

func TestAReadWaitsForTheSessionsLock(t *testing.T) {
	sock := start(t, time.Minute)
	a, b := dial(t, sock), dial(t, sock)
	a.send(hello, req(handler.OpRead, "s"))
	got := make(chan handler.Reply, 1)
	go func() { got <- b.send(hello, req(handler.OpRead, "s"))[1] }()
	select {
	case r := <-got:
		t.Fatalf("READ did not wait for the lock: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	a.send(write("s", "by a"))
	if r := <-got; r.Status != handler.StatusOK || string(r.Fields[0]) != "by a" {
		t.Fatalf("the waiting READ got %+v", r)
	}
	// UPDATE_TIMESTAMP ends b's lock too; a takes it at once.
	b.send(req(handler.OpUpdateTimestamp, "s"))
	if r := a.send(hello, req(handler.OpRead, "s"))[1]; r.Status != handler.StatusOK {
		t.Fatalf("READ after UPDATE_TIMESTAMP: %+v", r)
	}
	// A connection that closes releases its lock.
	a.c.Close()
	c := dial(t, sock)
	if r := c.send(hello, req(handler.OpRead, "s"))[1]; r.Status != handler.StatusOK {
		t.Fatalf("READ after the holder closed: %+v", r)
	}
}

func TestLockTimeout(t *testing.T) {
	sock := start(t, 10*time.Millisecond)
	a, b := dial(t, sock), dial(t, sock)
	a.send(hello, req(handler.OpRead, "s"))
	if r := b.send(hello, req(handler.OpRead, "s"))[1]; r.Status != handler.StatusLockTimeout {
		t.Fatalf("got %+v", r)
	}
}

func TestBadRequestsGetTheProtocolsStatus(t *testing.T) {
	sock := start(t, time.Minute)
	c := dial(t, sock)
	for _, tc := range []struct {
		req  handler.Request
		want handler.Status
	}{
		{req(handler.OpRead, "bad id!"), handler.StatusInvalidID},
		{req(handler.OpRead), handler.StatusBadRequest},
		{req(42), handler.StatusUnknownOp},
		{req(handler.OpGC, "1440"), handler.StatusOK},
		{req(handler.OpStatus), handler.StatusOK},
		{req(handler.OpInfo, "nothing"), handler.StatusOK},
	} {
		r := c.send(hello, tc.req)[1]
		if r.Status != tc.want {
			t.Errorf("%s: got %+v, want status %d", tc.req.Op, r, tc.want)
		}
	}
	for _, tc := range []struct {
		req  handler.Request
		want handler.Status
	}{
		{req(handler.OpRead, "s"), handler.StatusNotAuthenticated},
		{req(handler.OpHello, "2", "", "PHPSESSID", ""), handler.StatusBadVersion},
	} {
		c := dial(t, sock)
		if r := c.send(tc.req)[0]; r.Status != tc.want {
			t.Errorf("%s: got %+v, want status %d", tc.req.Op, r, tc.want)
		}
		if _, err := handler.ReadFrame(c.r, 1<<20); err == nil {
			t.Errorf("%s: connection still open", tc.req.Op)
		}
	}
}
