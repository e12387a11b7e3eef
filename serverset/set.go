// Package serverset presents the stores of several PostgreSQL servers (one
// pgsess.Store each) with the face of one store, placing each session on a server as the
// session_pgsql extension did:
//
//   - A session's home is (sum of its id's bytes) mod N, the servers numbered in the
//     order of session_pgsql.db; with FailoverMode, every session's home is server 0.
//   - A server that is down gives its sessions to the next live server in order (home+1,
//     home+2, … wrapping); the sessions of the other servers stay where they are. When
//     it is back, its sessions go home again.
//   - A session missing at its server is looked up on the other live ones, and when
//     found there (created during an outage, before a failback) moved to its server:
//     written there, deleted where it was. So a user is logged out at most once, by the
//     failure itself. Nothing is mirrored: a failed server's sessions start empty on
//     the next one.
//   - A lock stays on the server that granted it: the write, touch and release under
//     its token go there, or fail as pgsess.ErrLeaseLost, never to another server.
//
// A server goes down on a failure to reach it (pgsess.ErrUnavailable) in any operation,
// or a failed check (a ping every CheckInterval); it is up again after Rises checks in
// a row passed. Each change is logged and counted (Health).
package serverset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/rs/zerolog"
)

// MaxServers is how many servers a set takes at most (the extension's limit).
const MaxServers = 31

// Store is one server's store as the set uses it: *pgsess.Store, whose methods of the
// same names state each contract. What the set relies on besides: a failure to reach
// the server is an error wrapping pgsess.ErrUnavailable; Lock returns a session it
// does not have with Counter 0 and no data; a lock taken under a token is written,
// touched and released under that token on the same store only.
type Store interface {
	Read(ctx context.Context, id string) (*pgsess.Session, error)
	Info(ctx context.Context, id string) (*pgsess.Session, error)
	NewToken() string
	Lock(ctx context.Context, id, name, addr, token string) (*pgsess.Session, error)
	Write(ctx context.Context, w pgsess.Write) error
	Put(ctx context.Context, sess *pgsess.Session) error
	Touch(ctx context.Context, id, name, addr, token string) error
	Release(ctx context.Context, id, token string) error
	WaitFree(ctx context.Context, id string) error
	KeepsLocks() bool
	LocksAcrossDaemons() bool
	Destroy(ctx context.Context, id string) error
	Exists(ctx context.Context, id string) (bool, error)
	GC(ctx context.Context) (int64, error)
	RunGC(ctx context.Context, interval time.Duration)
	RunVacuum(ctx context.Context, interval time.Duration)
	SetExpiry(keepExpired bool, maxLifetime time.Duration)
	Status(ctx context.Context) []pgsess.ServerStatus
	Reset()
	Ping(ctx context.Context) error
	Ready(ctx context.Context) error
	PoolStat() pgsess.PoolStat
	LockStat() pgsess.LockStat
	List(ctx context.Context, f pgsess.Filter, after string, limit int) ([]*pgsess.Session, error)
	Import(ctx context.Context, id, name string, data []byte, modified, expire int64) (bool, error)
	DecodeFailures() uint64
	Backfill(ctx context.Context, progress func(filled, failed int64)) (filled, failed int64, err error)
	Close()
}

// Server is one server of a set.
type Server struct {
	// Store is the server's store; the set closes it.
	Store Store
	// Name describes the server in logs and Health, without a password
	// (pgsess.RedactDSN of its connection string).
	Name string
}

// Options configure a Set.
type Options struct {
	// FailoverMode is session_pgsql.failover_mode: every session on the first live
	// server.
	FailoverMode bool
	// CheckInterval is how often each server is pinged; 0 means a second.
	CheckInterval time.Duration
	// Rises is how many checks in a row must pass before a server that was down is up
	// again; 0 means 3.
	Rises int
	// Logger receives the servers' changes of state.
	Logger zerolog.Logger
}

// Set is several servers' stores as one store. Its methods are safe for concurrent use.
type Set struct {
	servers []*server
	opts    Options
	log     zerolog.Logger

	// held maps the token of each lock the set's stores hold to the server that
	// granted it.
	heldMu sync.Mutex
	held   map[string]int

	stop      chan struct{}
	checked   sync.WaitGroup
	closeOnce sync.Once
}

// server is one server with its health.
type server struct {
	Server
	index int
	up    atomic.Bool
	mu    sync.Mutex // serialises changes of up and passes
	// passes counts the checks in a row that passed while down.
	passes int
	downs  atomic.Uint64
	ups    atomic.Uint64
}

// New returns the set of servers, in the order of session_pgsql.db, every one taken
// as up until an operation or a check finds otherwise, and starts checking them
// until Close. It takes 1 to MaxServers servers.
func New(servers []Server, opts Options) (*Set, error) {
	if len(servers) == 0 || len(servers) > MaxServers {
		return nil, fmt.Errorf("serverset: %d servers; a set takes 1 to %d", len(servers), MaxServers)
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Second
	}
	if opts.Rises <= 0 {
		opts.Rises = 3
	}
	s := &Set{opts: opts, log: opts.Logger, held: map[string]int{}, stop: make(chan struct{})}
	for i, sv := range servers {
		v := &server{Server: sv, index: i}
		v.up.Store(true)
		s.servers = append(s.servers, v)
	}
	s.checked.Add(1)
	go s.checkLoop()
	return s, nil
}

// Close stops the checks and closes every server's store.
func (s *Set) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.checked.Wait()
		for _, v := range s.servers {
			v.Store.Close()
		}
	})
}

// Home is the index of id's home server among n: the sum of its bytes mod n, as the
// extension placed it.
func Home(id string, n int) int {
	var sum uint
	for i := 0; i < len(id); i++ {
		sum += uint(id[i])
	}
	return int(sum % uint(n))
}

// order returns id's servers in the order it tries them: its home, then the next ones,
// wrapping.
func (s *Set) order(id string) []*server {
	n := len(s.servers)
	if n == 1 {
		return s.servers
	}
	first := 0
	if !s.opts.FailoverMode {
		first = Home(id, n)
	}
	out := make([]*server, n)
	for i := range out {
		out[i] = s.servers[(first+i)%n]
	}
	return out
}

// current is the server that holds id's session now: the first live one of its order,
// or its home when none is.
func (s *Set) current(id string) *server {
	ord := s.order(id)
	for _, v := range ord {
		if v.up.Load() {
			return v
		}
	}
	return ord[0]
}

// ServerOf is the index of the server that holds id's session now.
func (s *Set) ServerOf(id string) int { return s.current(id).index }

// live returns the live servers of id's order, or its home alone when none is live
// (so that the operation fails with that server's error).
func (s *Set) live(id string) []*server {
	if len(s.servers) == 1 {
		return s.servers
	}
	ord := s.order(id)
	var out []*server
	for _, v := range ord {
		if v.up.Load() {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return ord[:1]
	}
	return out
}

// unavailable reports whether err is a failure to reach v, and if so marks v down.
func (s *Set) unavailable(v *server, err error) bool {
	if !errors.Is(err, pgsess.ErrUnavailable) {
		return false
	}
	s.setUp(v, false, err)
	return true
}

// setUp records v's state; a change is logged and counted.
func (s *Set) setUp(v *server, up bool, cause error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.passes = 0
	if v.up.Load() == up {
		return
	}
	v.up.Store(up)
	several := len(s.servers) > 1 // else requests keep trying it: there is nowhere else
	if up {
		v.ups.Add(1)
		msg := "database server up again"
		if several {
			msg += ": its sessions go home"
		}
		s.log.Info().Int("server_index", v.index).Str("server", v.Name).Msg(msg)
		return
	}
	v.downs.Add(1)
	msg := "database server down"
	if several {
		msg += ": its sessions go to the next live server"
	}
	s.log.Warn().Err(cause).Int("server_index", v.index).Str("server", v.Name).Msg(msg)
}

// passed records a check of v that passed: a down server is up after Rises in a row.
func (s *Set) passed(v *server, rises int) {
	v.mu.Lock()
	if v.up.Load() {
		v.mu.Unlock()
		return
	}
	v.passes++
	ready := v.passes >= rises
	v.mu.Unlock()
	if ready {
		s.setUp(v, true, nil)
	}
}

// checkLoop checks every server every CheckInterval until Close.
func (s *Set) checkLoop() {
	defer s.checked.Done()
	t := time.NewTicker(s.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.check(s.opts.Rises)
	}
}

// check pings every server at once, each bounded by CheckInterval: a server that
// fails is down, one that passes rises toward up.
func (s *Set) check(rises int) {
	var wg sync.WaitGroup
	for _, v := range s.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.CheckInterval)
			defer cancel()
			if err := v.Store.Ping(ctx); err != nil {
				if ctx.Err() != nil {
					err = errors.Join(pgsess.ErrUnavailable, err)
				}
				s.setUp(v, false, err)
				return
			}
			s.passed(v, rises)
		}()
	}
	wg.Wait()
}

// Health is one server's state for metrics.
type Health struct {
	// Server is the server's Name.
	Server string
	// Up reports whether the set uses it.
	Up bool
	// Downs and Ups count its changes of state since New.
	Downs, Ups uint64
}

// Health returns every server's state, in order.
func (s *Set) Health() []Health {
	out := make([]Health, len(s.servers))
	for i, v := range s.servers {
		out[i] = Health{Server: v.Name, Up: v.up.Load(), Downs: v.downs.Load(), Ups: v.ups.Load()}
	}
	return out
}
