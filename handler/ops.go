package handler

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phpsessd/phpsessd/pgsess"
)

// opTimeout bounds an operation beyond its lock wait.
const opTimeout = 30 * time.Second

// authFailDelay is how long a HELLO with a wrong secret waits for its AUTH_FAILED.
const authFailDelay = 500 * time.Millisecond

// snapshot is a session's data and meta as last read or written on a connection.
type snapshot struct {
	id   string
	data []byte
	meta pgsess.Meta
}

var statusNames = map[Status]string{
	StatusOK: "OK", StatusBadFrame: "BAD_FRAME", StatusFrameTooLarge: "FRAME_TOO_LARGE",
	StatusUnknownOp: "UNKNOWN_OP", StatusBadVersion: "BAD_VERSION", StatusAuthFailed: "AUTH_FAILED",
	StatusNotAuthenticated: "NOT_AUTHENTICATED", StatusInvalidID: "INVALID_ID",
	StatusLockTimeout: "LOCK_TIMEOUT", StatusDBUnavailable: "DB_UNAVAILABLE",
	StatusCancelled: "CANCELLED", StatusBadRequest: "BAD_REQUEST",
	StatusShuttingDown: "SHUTTING_DOWN", StatusLockLost: "LOCK_LOST", StatusTooManyClients: "TOO_MANY_CLIENTS",
	StatusInternal: "INTERNAL",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", uint16(s))
}

// opError is a failed operation: its status and a message for PHP's warning.
type opError struct {
	status Status
	msg    string
}

func (e *opError) Error() string { return e.msg }

func fail(status Status, format string, args ...any) error {
	return &opError{status, fmt.Sprintf(format, args...)}
}

// execute runs one request and returns its reply.
func (c *conn) execute(req Request) Reply {
	c.begin()
	start := time.Now()
	// A bound for a database that stopped answering without closing its connections;
	// lock waits have their own, shorter one.
	timeout := c.srv.config().LockTimeout + opTimeout
	if req.Op == OpEndSessions {
		timeout = endTimeout // a lock wait per session
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep := c.reply(ctx, req)
	if observe := c.srv.config().Observe; observe != nil {
		observe(req.Op, rep.Status, time.Since(start))
	}
	return rep
}

func (c *conn) reply(ctx context.Context, req Request) Reply {
	fields, err := c.dispatch(ctx, req)
	c.end(!c.inRequest)
	if err == nil {
		return Reply{Status: StatusOK, ID: req.ID, Fields: fields}
	}
	var oe *opError
	switch {
	case errors.As(err, &oe):
	case errors.Is(err, context.Canceled):
		oe = &opError{StatusCancelled, "cancelled: the client sent a new request or went away before this reply"}
	default:
		oe = &opError{StatusDBUnavailable, err.Error()}
	}
	ev := c.log.Warn()
	if oe.status == StatusCancelled {
		ev = c.log.Debug()
	}
	ev.Str("op", req.Op.String()).Str("status", oe.status.String()).Msg(oe.msg)
	return Reply{Status: oe.status, ID: req.ID, Fields: [][]byte{[]byte(oe.msg)}}
}

func (c *conn) dispatch(ctx context.Context, req Request) ([][]byte, error) {
	if req.Op != OpHello && !c.authed {
		return nil, fail(StatusNotAuthenticated, "%s before HELLO", req.Op)
	}
	want, known := fieldCount[req.Op]
	if !known {
		return nil, fail(StatusUnknownOp, "unknown operation %d", uint8(req.Op))
	}
	if len(req.Fields) != want {
		return nil, fail(StatusBadRequest, "%s takes %d fields, got %d", req.Op, want, len(req.Fields))
	}
	f := req.Fields
	var id string
	if req.Op != OpHello && req.Op != OpGC && req.Op != OpEndSessions && want > 0 {
		id = string(f[0])
		if !validID(f[0]) {
			if req.Op == OpValidateID {
				// No session can have it: PHP's use_strict_mode makes a new id.
				return [][]byte{boolField(false)}, nil
			}
			return nil, fail(StatusInvalidID, "invalid session id: it must be 1 to 256 characters of a-z A-Z 0-9 , -")
		}
	}
	switch req.Op {
	case OpHello:
		return c.hello(f)
	case OpRead:
		return c.read(ctx, id, true)
	case OpReadUnlocked:
		return c.read(ctx, id, false)
	case OpWrite:
		if err := c.writable(id); err != nil {
			return nil, err
		}
		return nil, c.write(ctx, id, f[1:])
	case OpUpdateTimestamp:
		if err := c.writable(id); err != nil {
			return nil, err
		}
		if c.srv.config().ShortCircuit {
			c.skipWrite(id)
			return nil, nil
		}
		err := c.srv.store.Touch(ctx, id, c.name, c.addr, c.lock.tokenFor(id))
		c.lock.written(id, err, nil)
		if err == nil {
			c.inRequest = false
		}
		return nil, leaseErr(err)
	case OpClose:
		c.reset()
		return nil, nil
	case OpDestroy:
		if c.last != nil && c.last.id == id {
			c.last = nil
		}
		return nil, c.srv.store.Destroy(ctx, id)
	case OpGC:
		if _, err := strconv.ParseInt(string(f[0]), 10, 64); err != nil {
			return nil, fail(StatusBadRequest, "GC: max_lifetime is not an integer")
		}
		var n int64
		var err error
		if gc, ok := c.srv.store.(Collector); ok {
			n, err = gc.GC(ctx)
		}
		return [][]byte{strconv.AppendInt(nil, n, 10)}, err
	case OpValidateID:
		ok, err := c.srv.store.Exists(ctx, id)
		return [][]byte{boolField(ok)}, err
	case OpStatus:
		return c.status(ctx)
	case OpReset:
		if r, ok := c.srv.store.(Resetter); ok {
			r.Reset()
		}
		return nil, nil
	case OpInfo:
		return c.info(ctx, id)
	case OpEndSessions:
		return c.endSessions(ctx, f[0])
	}
	return nil, fail(StatusInternal, "operation %s has no implementation", req.Op)
}

func (c *conn) hello(f [][]byte) ([][]byte, error) {
	if string(f[0]) != strconv.Itoa(ProtocolVersion) {
		return nil, fail(StatusBadVersion, "protocol version %q is not supported; this daemon speaks %d", f[0], ProtocolVersion)
	}
	if secret := c.srv.config().Secret; secret != "" && subtle.ConstantTimeCompare(f[1], []byte(secret)) != 1 {
		// Slows down guessing. The connection waits counted against MaxClients, so
		// a flood of failing clients holds no more than MaxClients goroutines.
		time.Sleep(authFailDelay)
		return nil, fail(StatusAuthFailed, "wrong or missing secret (session_pgsql.secret)")
	}
	if c.srv.isDraining() {
		return nil, fail(StatusShuttingDown, "the daemon is shutting down")
	}
	if !c.authed {
		c.nc.SetReadDeadline(time.Time{}) // the HELLO deadline of readFrame: from now on it may idle
	}
	c.reset()
	c.authed, c.inRequest = true, true
	c.name, c.addr = string(f[2]), string(f[3])
	return [][]byte{
		[]byte("phpsessd/" + c.srv.config().Version),
		[]byte(strconv.Itoa(ProtocolVersion)),
		[]byte(strconv.Itoa(c.srv.config().MaxFrameSize)),
	}, nil
}

// read serves READ (lock) and READ_UNLOCKED (not lock): the session's data and meta.
// READ takes the session's lock when Locking is on; READ_UNLOCKED neither takes nor
// waits for it, leaves whatever lock the connection holds as it is, and marks the
// session so that this request cannot write it (writable).
func (c *conn) read(ctx context.Context, id string, lock bool) ([][]byte, error) {
	var sess *pgsess.Session
	var err error
	if lock && c.srv.config().Locking {
		sess, err = c.lockAndRead(ctx, id)
	} else {
		sess, err = c.srv.store.Read(ctx, id)
	}
	if err != nil {
		if lock {
			c.lock.end()
		}
		return nil, err
	}
	if lock {
		c.unlockedRead = ""
	} else {
		c.unlockedRead = id
	}
	if gc, ok := c.srv.store.(Collector); ok && c.srv.config().GCOnAccess {
		if _, err := gc.GC(ctx); err != nil {
			c.log.Warn().Err(err).Msg("garbage collection on access failed")
		}
	}
	snap := &snapshot{id: id}
	if sess != nil {
		snap.data, snap.meta = sess.Data, sess.Meta
	}
	c.last = snap
	m := snap.meta
	return [][]byte{snap.data, []byte(m.Custom), intField(m.Error), intField(m.Warning),
		intField(m.Notice), []byte(m.ErrMessage)}, nil
}

// lockAndRead takes the session's lock (sessionLock.take), waiting up to LockTimeout,
// and reads the session.
func (c *conn) lockAndRead(ctx context.Context, id string) (*pgsess.Session, error) {
	// Waiting ends at the lock timeout, or when the client sends or goes away.
	deadline := time.Now().Add(c.srv.config().LockTimeout)
	var watching context.Context
	var stopWatching func()
	wait := func() context.Context {
		if watching == nil {
			w, stop := c.watch(ctx)
			var cancel context.CancelFunc
			watching, cancel = context.WithDeadline(w, deadline)
			stopWatching = func() { cancel(); stop() }
		}
		return watching
	}
	defer func() {
		if stopWatching != nil {
			stopWatching()
		}
	}()
	sess, err := c.lock.take(ctx, wait, id, c.name, c.addr)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fail(StatusLockTimeout, "session is locked by another request; gave up after %s (session_pgsql.lock_timeout)", c.srv.config().LockTimeout)
	}
	return sess, err
}

// writable refuses a WRITE or UPDATE_TIMESTAMP of a session this request read with
// READ_UNLOCKED (and not with READ since): it was read without the lock, so writing it
// back could undo what a request holding the lock wrote meanwhile.
func (c *conn) writable(id string) error {
	if c.unlockedRead != "" && c.unlockedRead == id {
		return fail(StatusBadRequest, "session was read with READ_UNLOCKED, without its lock: this request cannot write it (read it with READ to write)")
	}
	return nil
}

// skipWrite ends a WRITE or UPDATE_TIMESTAMP that short_circuit leaves out: like a
// write, it ends the lock.
func (c *conn) skipWrite(id string) {
	if c.lock.holds(id) {
		c.lock.end()
	}
	c.inRequest = false
}

// leaseErr turns pgsess.ErrLeaseLost into its status.
func leaseErr(err error) error {
	if errors.Is(err, pgsess.ErrLeaseLost) {
		return fail(StatusLockLost, "%v", err)
	}
	return err
}

func (c *conn) write(ctx context.Context, id string, f [][]byte) error {
	var meta pgsess.Meta
	meta.Custom = string(f[1])
	for i, p := range []*int64{&meta.Error, &meta.Warning, &meta.Notice} {
		n, err := strconv.ParseInt(string(f[2+i]), 10, 32)
		if err != nil {
			return fail(StatusBadRequest, "WRITE: error counter %d is not a 32-bit integer", i+1)
		}
		*p = n
	}
	meta.ErrMessage = string(f[5])
	if c.srv.config().ShortCircuit && c.last != nil && c.last.id == id &&
		bytes.Equal(c.last.data, f[0]) && c.last.meta == meta {
		c.skipWrite(id)
		return nil
	}
	written := &snapshot{id: id, data: bytes.Clone(f[0]), meta: meta}
	keep := c.lock.keepFor(id)
	err := c.srv.store.Write(ctx, pgsess.Write{ID: id, Name: c.name, Data: written.data, Meta: meta, Addr: c.addr,
		Token: c.lock.tokenFor(id), Keep: keep})
	var kept *snapshot
	if keep {
		kept = written
	}
	c.lock.written(id, err, kept)
	if err == nil {
		c.last = written
		c.inRequest = false // PHP closes the session next; the client may not say so
	}
	return leaseErr(err)
}

func (c *conn) status(ctx context.Context) ([][]byte, error) {
	cfg := c.srv.config()
	st := c.srv.Stats()
	var servers []pgsess.ServerStatus
	if r, ok := c.srv.store.(StatusReporter); ok {
		servers = r.Status(ctx)
	}
	withConn := make([]serverStatus, len(servers))
	for i, s := range servers {
		withConn[i] = serverStatus{ServerStatus: s, Connection: cfg.server(i)}
	}
	b, err := json.Marshal(map[string]any{
		"server":          "phpsessd/" + cfg.Version,
		"protocol":        ProtocolVersion,
		"db":              strings.Join(cfg.Servers, ";"),
		"locking":         cfg.Locking,
		"short_circuit":   cfg.ShortCircuit,
		"failover_mode":   cfg.FailoverMode,
		"keep_expired":    cfg.KeepExpired,
		"connections":     st.Connections,
		"locked_sessions": st.LockedIDs,
		"servers":         withConn,
	})
	return [][]byte{b}, err
}

// serverStatus is one entry of STATUS's servers: the store's view of the server and
// its connection string, password redacted.
type serverStatus struct {
	pgsess.ServerStatus
	Connection string `json:"connection"`
}

// server returns the redacted connection string of server i, "" when there is none.
func (cfg *Config) server(i int) string {
	if i < 0 || i >= len(cfg.Servers) {
		return ""
	}
	return cfg.Servers[i]
}

// sessionInfo is the JSON shape of INFO (session_pgsql_info).
type sessionInfo struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	DataSize     int    `json:"data_size"`
	Created      int64  `json:"created"`
	Modified     int64  `json:"modified"`
	Expire       int64  `json:"expire"`
	AddrCreated  string `json:"addr_created"`
	AddrModified string `json:"addr_modified"`
	Counter      int64  `json:"counter"`
	Error        int64  `json:"error"`
	Warning      int64  `json:"warning"`
	Notice       int64  `json:"notice"`
	ErrMessage   string `json:"err_message"`
	Custom       string `json:"custom"`
}

func (c *conn) info(ctx context.Context, id string) ([][]byte, error) {
	in, ok := c.srv.store.(Inspector)
	if !ok {
		return nil, fail(StatusInternal, "INFO: this daemon's session store cannot show a session's row")
	}
	sess, err := in.Info(ctx, id)
	if err != nil {
		return nil, err
	}
	var v *sessionInfo
	if sess != nil {
		v = &sessionInfo{ID: sess.ID, Name: sess.Name, DataSize: len(sess.Data), Created: sess.Created,
			Modified: sess.Modified, Expire: sess.Expire, AddrCreated: sess.AddrCreated,
			AddrModified: sess.AddrModified, Counter: sess.Counter, Error: sess.Error,
			Warning: sess.Warning, Notice: sess.Notice, ErrMessage: sess.ErrMessage, Custom: sess.Custom}
	}
	b, err := json.Marshal(v)
	server := 0
	if p, ok := c.srv.store.(Placer); ok {
		server = p.ServerOf(id)
	}
	return [][]byte{b, intField(int64(server)), []byte(c.srv.config().server(server))}, err
}

// validID reports whether id is a session id PHP could have made: 1 to 256 bytes of
// a-z A-Z 0-9 , - (php_session_valid_key).
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	for _, b := range id {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == ',', b == '-':
		default:
			return false
		}
	}
	return true
}

func intField(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

func boolField(b bool) []byte {
	if b {
		return []byte("1")
	}
	return []byte("0")
}
