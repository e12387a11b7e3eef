package handler

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

var errTooManyFiles = syscall.EMFILE

// conn is one client connection, served by one goroutine. Its fields below mu are
// shared with Shutdown and, during a lock wait, with the watcher goroutine; the rest
// belong to the serving goroutine.
type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	log zerolog.Logger
	// accepted is when the connection was accepted, from which HELLO is due.
	accepted time.Time
	// lock is the session lock this connection holds, from READ to the end of the
	// session (reset ends it).
	lock sessionLock

	mu      sync.Mutex
	busy    bool // executing, or within a PHP request's session
	closing bool // drain: close when the current PHP request ends

	session // per PHP request
	authed  bool
}

// session is what a connection remembers between the frames of one PHP request.
type session struct {
	inRequest  bool // from HELLO until the session is written or closed
	name, addr string
	// unlockedRead is the session last read with READ_UNLOCKED (and not with READ
	// since), which this request must not write.
	unlockedRead string
	// last is the session as READ returned it or WRITE stored it, for short_circuit.
	last *snapshot
}

func (c *conn) serve() {
	defer c.srv.crashed()
	defer c.srv.removeConn(c)
	defer c.nc.Close()
	defer c.reset()
	for {
		payload, err := c.readFrame()
		if err != nil {
			var fe *FrameError
			if errors.As(err, &fe) {
				c.log.Warn().Str("status", fe.Status.String()).Msg(fe.Msg)
				c.writeReply(Reply{Status: fe.Status, ID: fe.ID, Fields: [][]byte{[]byte(fe.Msg)}})
			}
			return
		}
		req, err := ParseRequest(payload)
		var rep Reply
		if err != nil {
			var fe *FrameError
			errors.As(err, &fe)
			rep = Reply{Status: fe.Status, ID: req.ID, Fields: [][]byte{[]byte(fe.Msg)}}
			c.log.Warn().Str("status", fe.Status.String()).Msg(fe.Msg)
		} else {
			rep = c.execute(req)
		}
		if !c.writeReply(rep) || rep.Status.closesConn() || c.shouldClose() {
			return
		}
	}
}

// readFrame waits for the next frame. Until a HELLO succeeded, everything must arrive
// within FrameTimeout of the accept: a client that connects and sends nothing is
// closed then. After it, waiting for a frame's first byte has no deadline: persistent
// sockets idle between PHP requests; once a frame has started, the rest must arrive
// within FrameTimeout.
func (c *conn) readFrame() ([]byte, error) {
	var deadline time.Time
	if !c.authed {
		deadline = c.accepted.Add(c.srv.config().FrameTimeout)
		c.nc.SetReadDeadline(deadline) // hello clears it
	}
	if _, err := c.br.Peek(1); err != nil {
		if isTimeout(err) {
			c.log.Debug().Msg("closing a connection that sent no HELLO within the client timeout")
		}
		return nil, err
	}
	if c.frameBuffered() {
		return ReadFrame(c.br, c.srv.config().MaxFrameSize) // reads nothing from the socket
	}
	if deadline.IsZero() {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.config().FrameTimeout))
	}
	payload, err := ReadFrame(c.br, c.srv.config().MaxFrameSize)
	if c.authed {
		c.nc.SetReadDeadline(time.Time{})
	}
	if isTimeout(err) {
		err = &FrameError{Status: StatusBadFrame, Msg: "frame not completed within the client timeout"}
	}
	return payload, err
}

// frameBuffered reports whether the next frame is already whole in the read buffer,
// as a frame that arrived in one piece is: reading it then needs no deadline.
func (c *conn) frameBuffered() bool {
	n := c.br.Buffered()
	if n < 4 {
		return false
	}
	head, _ := c.br.Peek(4)
	return uint64(binary.BigEndian.Uint32(head))+4 <= uint64(n)
}

// watch returns a context that ends when the client sends anything or goes away while
// the server waits (for a lock): a client that sends before it got its reply has
// abandoned it. stop ends the watch and leaves what arrived for readFrame.
func (c *conn) watch(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.br.Peek(1); err == nil || !isTimeout(err) {
			cancel()
		}
	}()
	return ctx, func() {
		c.nc.SetReadDeadline(time.Unix(1, 0)) // unblocks the Peek
		<-done
		c.nc.SetReadDeadline(time.Time{})
		cancel()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// begin marks the connection busy for Shutdown.
func (c *conn) begin() {
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
}

// end marks the end of an operation; idle tells whether the PHP request is over.
func (c *conn) end(idle bool) {
	c.mu.Lock()
	c.busy = !idle
	c.mu.Unlock()
}

// closeIfIdle closes the connection now if it is between PHP requests, or marks it to
// close at the end of the current one.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	if !c.busy {
		c.nc.Close()
	}
}

func (c *conn) shouldClose() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing && !c.busy
}

// writeReply sends rep, or keeps it buffered while the client's next requests have
// already arrived (a pipelining client), so that their replies go out in one write.
func (c *conn) writeReply(rep Reply) bool {
	c.bw.Write(AppendReply(nil, rep))
	if c.br.Buffered() > 0 && !rep.Status.closesConn() {
		return true
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.config().FrameTimeout))
	if err := c.bw.Flush(); err != nil {
		c.log.Debug().Err(err).Msg("writing reply failed")
		return false
	}
	return true
}

// reset releases the lock and forgets the PHP request's state.
func (c *conn) reset() {
	c.lock.end()
	c.session = session{}
}
