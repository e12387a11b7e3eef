// Command memdaemon is make bench's reference daemon: phpsessd's protocol
// (docs/PROTOCOL.md) on a Unix socket with the sessions in a Go map and one lock per
// session, and nothing else — no database, no lease, no batching, no metrics. It
// serves the same PHP client as phpsessd through its own PHP-FPM pool, so that the
// daemon's CPU per request stands beside the least the protocol itself costs: the
// frames, the socket and a lock.
//
// It is a yardstick, not a session store: sessions live in memory until it exits,
// it asks for no secret, and expiry, the extension's fields' semantics and
// short-circuiting are not there.
//
//	go run ./internal/cmd/memdaemon -listen unix:/path/memdaemon.sock
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phpsessd/phpsessd/handler"
)

// maxFrame is the largest frame it reads, phpsessd's default.
const maxFrame = 4 << 20

func main() {
	listen := flag.String("listen", "", "unix:/path of the socket (required)")
	lockTimeout := flag.Duration("lock-timeout", 30*time.Second, "how long a READ waits for its session's lock")
	flag.Parse()
	path, ok := strings.CutPrefix(*listen, "unix:")
	if !ok || path == "" {
		fmt.Fprintln(os.Stderr, "memdaemon: -listen unix:/path is required")
		os.Exit(2)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "memdaemon:", err)
		os.Exit(1)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	newServer(*lockTimeout).serve(ln)
}

// server holds the sessions and their locks.
type server struct {
	lockTimeout time.Duration

	mu       sync.Mutex
	sessions map[string][][]byte // READ's reply fields, as the last WRITE gave them
	// locks holds a channel of capacity one per session id that was ever read: a
	// READ takes the lock by sending to it, the release receives. Waiters are served
	// in the order they came.
	locks map[string]chan struct{}
	conns int
}

func newServer(lockTimeout time.Duration) *server {
	return &server{lockTimeout: lockTimeout, sessions: map[string][][]byte{}, locks: map[string]chan struct{}{}}
}

// serve accepts connections on ln until it is closed.
func (s *server) serve(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go s.conn(nc)
	}
}

// conn is one client connection: at most one lock held, by id.
type conn struct {
	s      *server
	authed bool
	held   string
	heldCh chan struct{}
}

func (c *conn) release() {
	if c.heldCh != nil {
		<-c.heldCh
		c.heldCh, c.held = nil, ""
	}
}

// conn serves one connection: frames in order, replies to pipelined requests
// written together.
func (s *server) conn(nc net.Conn) {
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	c := &conn{s: s}
	defer func() {
		c.release()
		nc.Close()
		s.mu.Lock()
		s.conns--
		s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(nc, 16<<10)
	w := bufio.NewWriterSize(nc, 16<<10)
	var out []byte
	for {
		payload, err := handler.ReadFrame(r, maxFrame)
		var fe *handler.FrameError
		if errors.As(err, &fe) {
			w.Write(handler.AppendReply(nil, errorReply(fe.Status, fe.ID, fe.Msg)))
			w.Flush()
			return
		}
		if err != nil {
			return
		}
		req, err := handler.ParseRequest(payload)
		if errors.As(err, &fe) {
			w.Write(handler.AppendReply(nil, errorReply(fe.Status, req.ID, fe.Msg)))
			w.Flush()
			return
		}
		rep, closeConn := c.serve(req)
		out = handler.AppendReply(out[:0], rep)
		if _, err := w.Write(out); err != nil {
			return
		}
		if closeConn || r.Buffered() == 0 {
			if err := w.Flush(); err != nil || closeConn {
				return
			}
		}
	}
}

// fields is how many fields each operation's request carries.
var fields = map[handler.Op]int{
	handler.OpHello: 4, handler.OpRead: 1, handler.OpWrite: 7, handler.OpUpdateTimestamp: 1,
	handler.OpClose: 0, handler.OpDestroy: 1, handler.OpGC: 1, handler.OpValidateID: 1,
	handler.OpStatus: 0, handler.OpReset: 0, handler.OpInfo: 1, handler.OpReadUnlocked: 1,
}

// emptySession is READ's reply for a session never written.
var emptySession = [][]byte{{}, {}, []byte("0"), []byte("0"), []byte("0"), {}}

func errorReply(st handler.Status, id uint32, msg string) handler.Reply {
	return handler.Reply{Status: st, ID: id, Fields: [][]byte{[]byte(msg)}}
}

// serve answers one request and says whether the connection closes after the reply.
func (c *conn) serve(req handler.Request) (handler.Reply, bool) {
	s := c.s
	ok := handler.Reply{Status: handler.StatusOK, ID: req.ID}
	n, known := fields[req.Op]
	switch {
	case !c.authed && req.Op != handler.OpHello:
		return errorReply(handler.StatusNotAuthenticated, req.ID, "HELLO first"), true
	case !known:
		return errorReply(handler.StatusUnknownOp, req.ID, fmt.Sprintf("unknown operation %d", req.Op)), false
	case len(req.Fields) != n:
		return errorReply(handler.StatusBadRequest, req.ID, fmt.Sprintf("%s takes %d fields, not %d", req.Op, n, len(req.Fields))), false
	}
	var id string
	switch req.Op {
	case handler.OpRead, handler.OpReadUnlocked, handler.OpWrite, handler.OpUpdateTimestamp, handler.OpDestroy, handler.OpValidateID, handler.OpInfo:
		if !validID(req.Fields[0]) {
			return errorReply(handler.StatusInvalidID, req.ID, "invalid session id"), false
		}
		id = string(req.Fields[0])
	}

	switch req.Op {
	case handler.OpHello:
		c.release()
		if string(req.Fields[0]) != "1" {
			return errorReply(handler.StatusBadVersion, req.ID, "protocol version 1 only"), true
		}
		c.authed = true
		ok.Fields = [][]byte{[]byte("memdaemon"), []byte("1"), []byte(fmt.Sprint(maxFrame))}
	case handler.OpRead:
		if c.held != id {
			c.release()
			s.mu.Lock()
			ch := s.locks[id]
			if ch == nil {
				ch = make(chan struct{}, 1)
				s.locks[id] = ch
			}
			s.mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
				t := time.NewTimer(s.lockTimeout)
				select {
				case ch <- struct{}{}:
					t.Stop()
				case <-t.C:
					return errorReply(handler.StatusLockTimeout, req.ID, "session locked"), false
				}
			}
			c.held, c.heldCh = id, ch
		}
		ok.Fields = s.read(id)
	case handler.OpReadUnlocked:
		ok.Fields = s.read(id)
	case handler.OpWrite:
		// One copy of the six fields READ returns, out of the frame's buffer.
		size := 0
		for _, f := range req.Fields[1:] {
			size += len(f)
		}
		buf := make([]byte, 0, size)
		stored := make([][]byte, 6)
		for i, f := range req.Fields[1:] {
			buf = append(buf, f...)
			stored[i] = buf[len(buf)-len(f):]
		}
		s.mu.Lock()
		s.sessions[id] = stored
		s.mu.Unlock()
		if c.held == id {
			c.release()
		}
	case handler.OpUpdateTimestamp:
		if c.held == id {
			c.release()
		}
	case handler.OpClose:
		c.release()
	case handler.OpDestroy:
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
	case handler.OpValidateID:
		s.mu.Lock()
		_, exists := s.sessions[id]
		s.mu.Unlock()
		ok.Fields = [][]byte{[]byte("0")}
		if exists {
			ok.Fields[0] = []byte("1")
		}
	case handler.OpGC:
		ok.Fields = [][]byte{[]byte("0")}
	case handler.OpStatus:
		s.mu.Lock()
		js := fmt.Sprintf(`{"server":"memdaemon","protocol":1,"locking":true,"short_circuit":false,"connections":%d,"sessions":%d,"servers":[]}`,
			s.conns, len(s.sessions))
		s.mu.Unlock()
		ok.Fields = [][]byte{[]byte(js)}
	case handler.OpReset:
	case handler.OpInfo:
		s.mu.Lock()
		f, exists := s.sessions[id]
		s.mu.Unlock()
		js := "null"
		if exists {
			js = fmt.Sprintf(`{"sess_id":%q,"sess_data_length":%d}`, id, len(f[0]))
		}
		ok.Fields = [][]byte{[]byte(js)}
	}
	return ok, false
}

// read returns READ's reply fields for session id.
func (s *server) read(id string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.sessions[id]; f != nil {
		return f
	}
	return emptySession
}

// validID reports whether id is 1 to 256 bytes of PHP's session id alphabet.
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	for _, b := range id {
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == ',' || b == '-') {
			return false
		}
	}
	return true
}
