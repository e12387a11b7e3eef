package handler

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

var errTooManyFiles = syscall.EMFILE

// conn is one client connection. Its fields below mu are shared between the reading
// goroutine and the executing one; the rest belong to the executing goroutine.
type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	log zerolog.Logger

	mu      sync.Mutex
	seq     uint64             // frames (and read errors) received so far
	cancel  context.CancelFunc // cancels the operation in progress, if any
	busy    bool               // executing, or between HELLO and CLOSE
	closing bool               // drain: close when the current PHP request ends

	session // per PHP request
	authed  bool
}

// session is what a connection remembers between the frames of one PHP request.
type session struct {
	inRequest  bool // between HELLO and CLOSE
	name, addr string
	lockedID   string
	release    func() // of the in-memory lock
	token      string // of the lease, with ClusterLocks
	// last is the session as READ returned it or WRITE stored it, for short_circuit.
	last *snapshot
}

// incoming is one frame, or the error that ended the reading, with its sequence number.
type incoming struct {
	seq     uint64
	payload []byte
	err     error
}

func (c *conn) serve() {
	defer c.srv.removeConn(c)
	defer c.nc.Close()
	defer c.reset()

	in := make(chan incoming)
	go c.readLoop(in)
	for f := range in {
		if f.err != nil {
			var fe *FrameError
			if errors.As(f.err, &fe) {
				c.log.Warn().Str("status", fe.Status.String()).Msg(fe.Msg)
				c.writeReply(Reply{Status: fe.Status, ID: fe.ID, Fields: [][]byte{[]byte(fe.Msg)}})
			}
			return
		}
		req, err := ParseRequest(f.payload)
		var rep Reply
		if err != nil {
			var fe *FrameError
			errors.As(err, &fe)
			rep = Reply{Status: fe.Status, ID: req.ID, Fields: [][]byte{[]byte(fe.Msg)}}
			c.log.Warn().Str("status", fe.Status.String()).Msg(fe.Msg)
		} else {
			rep = c.execute(f.seq, req)
		}
		if !c.writeReply(rep) || rep.Status.closesConn() || c.shouldClose() {
			return
		}
	}
}

// readLoop reads frames until the connection fails or closes. Every frame or error it
// receives cancels the operation in progress: a client that sends before it got its
// reply has abandoned that reply.
func (c *conn) readLoop(in chan<- incoming) {
	defer close(in)
	for {
		// Wait for the first byte without a deadline: persistent sockets idle between
		// PHP requests. Once a frame has started, the rest must arrive in time.
		_, err := c.br.Peek(1)
		if err == nil {
			c.nc.SetReadDeadline(time.Now().Add(c.srv.config().FrameTimeout))
			var payload []byte
			payload, err = ReadFrame(c.br, c.srv.config().MaxFrameSize)
			c.nc.SetReadDeadline(time.Time{})
			if err == nil {
				in <- incoming{seq: c.interrupt(), payload: payload}
				continue
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = &FrameError{Status: StatusBadFrame, Msg: "frame not completed within the client timeout"}
		}
		seq := c.interrupt()
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			in <- incoming{seq: seq, err: err}
		}
		return
	}
}

// interrupt counts a received frame or error and cancels the operation in progress.
func (c *conn) interrupt() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if c.cancel != nil {
		c.cancel()
	}
	return c.seq
}

// begin returns the context for executing frame seq: already cancelled if a later frame
// or error has arrived meanwhile.
func (c *conn) begin(seq uint64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq != seq {
		cancel()
	}
	c.cancel = cancel
	c.busy = true
	return ctx, cancel
}

// end marks the end of an operation; idle tells whether the PHP request is over.
func (c *conn) end(idle bool) {
	c.mu.Lock()
	c.cancel = nil
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

func (c *conn) writeReply(rep Reply) bool {
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.config().FrameTimeout))
	_, err := c.nc.Write(AppendReply(nil, rep))
	if err != nil {
		c.log.Debug().Err(err).Msg("writing reply failed")
		return false
	}
	return true
}

// reset releases the lock and forgets the PHP request's state.
func (c *conn) reset() {
	c.unlock()
	c.session = session{}
}
