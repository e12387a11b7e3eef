// Package handler is phpsessd's protocol server: it accepts PHP clients on a Unix
// socket or TCP, speaks the protocol of docs/PROTOCOL.md, serialises concurrent
// requests on one session with a lock, and stores sessions through a Store.
//
// Each client connection is served by two goroutines: one reads frames, one executes
// them and writes replies. A frame that arrives while the previous one is still being
// executed means the client gave up on it (a PHP request that died and a new request on
// the same persistent socket): the pending operation is cancelled. A connection that
// closes releases its lock at once.
package handler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/rs/zerolog"
)

// ProtocolVersion is the protocol version this server speaks.
const ProtocolVersion = 1

// Store is what the server needs of every session store: read, lock, write, touch,
// release, destroy, and whether a session exists. *pgsess.Store (one server) implements
// it and every optional ability below but Placer; a serverset.Set (several) all. An id is a valid session id; name and addr are the
// client's session name and address (HELLO), recorded by writes; a token names a lock
// taken with Lock, and "" means none.
type Store interface {
	// Read returns the session id without locking it, or nil and no error when there
	// is none. An expired session is nil too, or, when the store keeps expired rows,
	// the session with nil Data.
	Read(ctx context.Context, id string) (*pgsess.Session, error)
	// NewToken returns a lock token that no other lock of any daemon uses.
	NewToken() string
	// Lock takes id's lock under token and reads the session as Read does, except that
	// a missing session comes back new and empty: never nil without an error. A token
	// may take its own lock again. When another token holds the lock, Lock returns
	// pgsess.ErrLocked and changes nothing; the server waits and calls again. It is
	// called only when LocksAcrossDaemons.
	Lock(ctx context.Context, id, name, addr, token string) (*pgsess.Session, error)
	// Write stores w, creating a missing session. With w.Token it writes only while that
	// lock still holds the session, and ends the lock (unless w.Keep and KeepsLocks);
	// a lock lost meanwhile gives pgsess.ErrLeaseLost and nothing is written.
	Write(ctx context.Context, w pgsess.Write) error
	// Touch renews id's expiry and modification time without changing its data (PHP's
	// lazy_write), creating a missing session empty. With a token, as Write: only under
	// that lock, which ends, else pgsess.ErrLeaseLost.
	Touch(ctx context.Context, id, name, addr, token string) error
	// Release ends the lock token holds on id, if it still does: a lock already lost
	// or ended is not an error.
	Release(ctx context.Context, id, token string) error
	// KeepsLocks reports whether Write with Keep keeps holding the lock.
	KeepsLocks() bool
	// LocksAcrossDaemons reports whether Lock excludes every daemon using the store;
	// if not, the server locks within this daemon only and reads with Read.
	LocksAcrossDaemons() bool
	// Destroy deletes the session; a missing session is not an error.
	Destroy(ctx context.Context, id string) error
	// Exists reports whether session id exists and has not expired (use_strict_mode).
	Exists(ctx context.Context, id string) (bool, error)
}

// The optional abilities of a Store, found with a type assertion. A store without one
// serves the operation as each says.

// LockWaiter is a Store that can wait for a lock another daemon holds to be free, so
// that a request takes it as soon as it is released instead of polling for it. Without
// it, or when WaitFree says it cannot wait, the server polls with Lock.
type LockWaiter interface {
	// WaitFree returns once id's lock was free, at least for an instant, or with ctx's
	// error; see pgsess.Store.WaitFree. Any other error ends the wait early.
	WaitFree(ctx context.Context, id string) error
}

// Collector is a Store that collects expired sessions. Without it, GC reports 0
// sessions collected and GCOnAccess does nothing.
type Collector interface {
	// GC removes the expired sessions and returns how many it removed.
	GC(ctx context.Context) (int64, error)
}

// StatusReporter is a Store that reports its database servers (STATUS). Without it,
// STATUS lists no server.
type StatusReporter interface {
	// Status returns each server's state, in the order of Config.Servers; it may ask
	// each server, bounded by ctx, and reports a failure in the server's state.
	Status(ctx context.Context) []pgsess.ServerStatus
}

// Resetter is a Store whose connections can be opened anew (RESET). Without it, RESET
// does nothing and succeeds.
type Resetter interface {
	// Reset closes the store's connections; the next operations open new ones.
	Reset()
}

// Inspector is a Store that shows a session's row as stored (INFO). Without it, INFO
// fails.
type Inspector interface {
	// Info returns the session as stored, expired or not, or nil and no error when
	// there is none. It takes no lock and changes nothing.
	Info(ctx context.Context, id string) (*pgsess.Session, error)
}

// Placer is a Store of several servers that says which holds a session (INFO's
// server). Without it, every session is on server 0.
type Placer interface {
	// ServerOf is the index of the server (in Config.Servers) that holds id's session.
	ServerOf(id string) int
}

// Config configures a Server.
type Config struct {
	// Version is the daemon's version, reported in HELLO ("phpsessd/<Version>").
	Version string
	// Locking serialises requests on one session from READ to WRITE or CLOSE: within
	// this daemon, and across every daemon using the store when the store locks so
	// (Store.LocksAcrossDaemons).
	Locking bool
	// LockTimeout bounds how long READ waits for a session's lock.
	LockTimeout time.Duration
	// ShortCircuit skips WRITE when nothing changed since READ, and UPDATE_TIMESTAMP.
	ShortCircuit bool
	// Servers are the connection strings of session_pgsql.db, one per server in the
	// store's order, with every password redacted (pgsess.RedactDSN): STATUS and INFO
	// report them. The handler never sees a connection string that holds a password.
	Servers []string
	// FailoverMode and KeepExpired are session_pgsql.failover_mode and
	// session_pgsql.keep_expired as the store applies them; STATUS reports them.
	FailoverMode, KeepExpired bool
	// Secret, when not empty, must be presented in HELLO.
	Secret string
	// MaxFrameSize bounds a frame's payload in bytes.
	MaxFrameSize int
	// FrameTimeout is how long the rest of a frame may take once its first byte arrived,
	// how long writing a reply may take, and how long a new connection has from its
	// accept to complete HELLO before it is closed. Connections idle after a HELLO
	// succeeded have no timeout.
	FrameTimeout time.Duration
	// MaxClients bounds the client connections open at once; 0 means no bound. A
	// connection accepted beyond it is answered TOO_MANY_CLIENTS and closed at once;
	// lowering it closes no connection already open.
	MaxClients int
	// SerializeHandler is session.serialize_handler, the format of session data, for
	// END_SESSIONS's path.
	SerializeHandler string
	// GCOnAccess runs garbage collection at every READ (session_pgsql.gc_interval < 0).
	GCOnAccess bool
	// Logger receives connection events and errors, never session data or secrets.
	Logger zerolog.Logger
	// Observe, when set, is called after every operation with its status and how long
	// it took (for metrics). It must be safe for concurrent use and quick.
	Observe func(op Op, status Status, took time.Duration)
}

// Server serves the protocol. Create it with New.
type Server struct {
	cfg   atomic.Pointer[Config]
	store Store
	table *lockTable
	log   zerolog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	draining  bool
	done      chan struct{} // closed when the last connection ends while draining

	refused       uint64    // connections refused over MaxClients, ever
	refusedLogged uint64    // refused when it was last logged
	refusalLogAt  time.Time // when it was last logged
}

// refusalLogEvery is how often at most refused connections are logged.
const refusalLogEvery = time.Minute

// New returns a Server that stores sessions in store and locks them within this process.
func New(cfg Config, store Store) *Server {
	cfg = withDefaults(cfg)
	t := newLockTable()
	s := &Server{
		store: store, table: t, log: cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		done:      make(chan struct{}),
	}
	t.orphaned = func(id string, h handover) {
		// The requests that waited for a lock left to them gave up meanwhile.
		ctx, cancel := context.WithTimeout(context.Background(), s.config().FrameTimeout)
		defer cancel()
		if err := store.Release(ctx, id, h.token); err != nil {
			s.log.Warn().Err(err).Msg("releasing a session lock that no request claimed failed")
		}
	}
	s.cfg.Store(&cfg)
	return s
}

// withDefaults fills the zero values of cfg with defaults.
func withDefaults(cfg Config) Config {
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = 4 << 20
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = 5 * time.Second
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 30 * time.Second
	}
	if cfg.SerializeHandler == "" {
		cfg.SerializeHandler = "php"
	}
	return cfg
}

func (s *Server) config() *Config { return s.cfg.Load() }

// Reconfigure applies a reloaded configuration to the operations that start from now
// on: everything but Locking, Version, Logger and Observe, which keep the values New
// was given (changing them needs a restart).
func (s *Server) Reconfigure(cfg Config) {
	old := s.config()
	cfg = withDefaults(cfg)
	cfg.Locking, cfg.Version, cfg.Logger, cfg.Observe = old.Locking, old.Version, old.Logger, old.Observe
	s.cfg.Store(&cfg)
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("handler: server closed")

// Serve accepts connections on ln until Shutdown is called or ln fails. It always
// closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			draining := s.draining
			s.mu.Unlock()
			if draining {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or similar: wait instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c, full := s.newConn(nc)
		if full > 0 {
			s.refuse(nc, full)
		}
		if c == nil {
			continue
		}
		go c.serve()
	}
}

// Shutdown stops accepting connections, lets connections finish the PHP request they
// are in (those holding a lock get until ctx ends to CLOSE), closes idle ones, and
// returns when every connection is gone or ctx ends; then it closes the rest, which
// releases their locks.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.closeListeners()
	for c := range s.conns {
		c.closeIfIdle()
	}
	empty := len(s.conns) == 0
	s.mu.Unlock()
	if empty {
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// closeListeners closes the listeners, which removes the Unix sockets they created.
// The caller holds s.mu.
func (s *Server) closeListeners() {
	for ln := range s.listeners {
		ln.Close()
	}
}

// crashed is deferred by the connection goroutines: a panic there ends the process,
// so first the listeners are closed, to leave no socket file behind; then the panic
// goes on.
func (s *Server) crashed() {
	if r := recover(); r != nil {
		s.mu.Lock()
		s.closeListeners()
		s.mu.Unlock()
		panic(r)
	}
}

// Stats is a snapshot of the server's state for status and metrics.
type Stats struct {
	Connections int `json:"connections"`
	LockedIDs   int `json:"locked_sessions"`
	// Refused counts the connections refused over MaxClients since New.
	Refused uint64 `json:"refused_connections"`
}

// Stats returns the current number of connections and of locked or awaited sessions,
// and how many connections were refused.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n, refused := len(s.conns), s.refused
	s.mu.Unlock()
	return Stats{Connections: n, LockedIDs: s.table.len(), Refused: refused}
}

// newConn registers a connection just accepted, or returns nil: while draining (then
// it closes nc), or when MaxClients connections are open (then full is MaxClients and
// the caller refuses nc).
func (s *Server) newConn(nc net.Conn) (c *conn, full int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		nc.Close()
		return nil, 0
	}
	if max := s.config().MaxClients; max > 0 && len(s.conns) >= max {
		s.refused++
		if now := time.Now(); now.Sub(s.refusalLogAt) >= refusalLogEvery {
			s.log.Warn().Int("max_clients", max).Uint64("refused", s.refused-s.refusedLogged).
				Msgf("refusing connections: session_pgsql.max_clients connections are open (logged at most every %s, with the count since)", refusalLogEvery)
			s.refusalLogAt, s.refusedLogged = now, s.refused
		}
		return nil, max
	}
	c = &conn{srv: s, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc), accepted: time.Now(),
		log: s.log.With().Str("peer", peerName(nc)).Logger()}
	c.lock = sessionLock{srv: s, log: c.log}
	s.conns[c] = struct{}{}
	return c, 0
}

// refuseWriteTimeout bounds the write of a refusal, which the accept loop makes: a new
// connection's send buffer is empty, so it does not wait unless something is wrong.
const refuseWriteTimeout = 50 * time.Millisecond

// refuse answers a connection over MaxClients (max) with TOO_MANY_CLIENTS and closes it.
func (s *Server) refuse(nc net.Conn, max int) {
	nc.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	nc.Write(AppendReply(nil, Reply{Status: StatusTooManyClients, Fields: [][]byte{
		fmt.Appendf(nil, "the daemon has session_pgsql.max_clients (%d) connections open; try again later", max)}}))
	nc.Close()
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.draining && len(s.conns) == 0 {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
	s.mu.Unlock()
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

func peerName(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		return a.String()
	}
	return "unix"
}
