package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/phpserialize"
)

// Lister is a Store that lists its sessions (END_SESSIONS). Without it, END_SESSIONS
// fails.
type Lister interface {
	// List returns up to limit sessions that f selects whose id sorts after the given
	// one ("" from the first), in id order, as stored; see pgsess.Store.List.
	List(ctx context.Context, f pgsess.Filter, after string, limit int) ([]*pgsess.Session, error)
}

// SessionFilter selects sessions by their row and by a value in their data:
// END_SESSIONS's filter, and phpsessd sessions' and end's.
type SessionFilter struct {
	// Rows is what the store selects by (expiry, id prefix, address).
	Rows pgsess.Filter
	// Path, when set, is a path into the decoded session (phpserialize.Session.Lookup)
	// whose value must equal Value.
	Path  []string
	Value phpserialize.Scalar
}

// filterJSON is END_SESSIONS's filter field (docs/PROTOCOL.md).
type filterJSON struct {
	Path     string          `json:"path"`
	Value    json.RawMessage `json:"value"`
	IDPrefix string          `json:"id_prefix"`
	Addr     string          `json:"addr"`
	All      bool            `json:"all"`
}

// ParseSessionFilter reads END_SESSIONS's filter: a JSON object with "path" (dotted,
// "user.id") and "value" (a JSON scalar) together, "id_prefix", "addr", or "all": true
// to select every live session. At least one must be given, so that an empty filter
// never ends every session by mistake.
func ParseSessionFilter(text []byte) (SessionFilter, error) {
	var f SessionFilter
	var j filterJSON
	d := json.NewDecoder(bytes.NewReader(text))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return f, fmt.Errorf("filter: %v", err)
	}
	if (j.Path == "") != (len(j.Value) == 0) {
		return f, errors.New(`filter: "path" and "value" go together`)
	}
	if j.Path != "" {
		var err error
		if f.Path, err = phpserialize.ParsePath(j.Path); err != nil {
			return f, err
		}
		if f.Value, err = phpserialize.ParseScalar(string(j.Value)); err != nil {
			return f, err
		}
	}
	if j.Path == "" && j.IDPrefix == "" && j.Addr == "" && !j.All {
		return f, errors.New(`filter: give "path" and "value", "id_prefix" or "addr", or "all": true`)
	}
	f.Rows = pgsess.Filter{State: pgsess.Live, IDPrefix: j.IDPrefix, Addr: j.Addr}
	return f, nil
}

// Matches reports whether sess, whose data is in the serialize handler's format, is one
// f selects beyond its row filter: with a Path, data that does not decode matches
// nothing.
func (f SessionFilter) Matches(serializeHandler string, sess *pgsess.Session) bool {
	if len(f.Path) == 0 {
		return true
	}
	s, err := phpserialize.DecodeSession(serializeHandler, sess.Data)
	if err != nil {
		return false
	}
	v, ok := s.Lookup(f.Path)
	return ok && f.Value.Equal(v)
}

// endPage is how many rows END_SESSIONS reads at a time.
const endPage = 500

// endTimeout bounds an END_SESSIONS, which waits for each session's lock in turn.
const endTimeout = 10 * time.Minute

// endSessions serves END_SESSIONS: it ends (deletes) every live session the filter
// selects, but the one this connection's request has open, each under its lock, as a
// READ takes it: a request holding the session writes first, and one that comes after
// finds none. A session whose lock stays held for LockTimeout is left and counted as
// busy, as is one whose request, holding it, waits for this request's session (two
// requests ending each other's sessions: the second to wait gives up at once, and the
// first ends its session once it is written); one that changed meanwhile so that it no
// longer matches is left too.
func (c *conn) endSessions(ctx context.Context, filterField []byte) ([][]byte, error) {
	f, err := ParseSessionFilter(filterField)
	if err != nil {
		return nil, fail(StatusBadRequest, "END_SESSIONS: %v", err)
	}
	lister, ok := c.srv.store.(Lister)
	if !ok {
		return nil, fail(StatusInternal, "END_SESSIONS: this daemon's session store cannot list sessions")
	}
	own := ""
	if c.last != nil {
		own = c.last.id
	}
	handler := c.srv.config().SerializeHandler
	var ended, busy int64
	after := ""
	for {
		page, err := lister.List(ctx, f.Rows, after, endPage)
		if err != nil {
			return nil, err
		}
		for _, sess := range page {
			if sess.ID == own || !f.Matches(handler, sess) {
				continue
			}
			done, err := c.endOne(ctx, f, sess.ID)
			switch {
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil, errors.Is(err, errDeadlock):
				busy++
			case err != nil:
				return nil, err
			case done:
				ended++
			}
		}
		if len(page) < endPage {
			break
		}
		after = page[len(page)-1].ID
	}
	if ended > 0 || busy > 0 {
		c.log.Info().Int64("ended", ended).Int64("busy", busy).Msg("END_SESSIONS ended sessions")
	}
	return [][]byte{strconv.AppendInt(nil, ended, 10), strconv.AppendInt(nil, busy, 10)}, nil
}

// endOne ends session id under its lock if it still matches f once locked; it returns
// whether it did. Waiting for the lock past LockTimeout gives context.DeadlineExceeded,
// and a wait that would deadlock with this request's own lock (the holder of id waits
// for it: its request is ending this one's session too) errDeadlock, at once.
func (c *conn) endOne(ctx context.Context, f SessionFilter, id string) (bool, error) {
	l := sessionLock{srv: c.srv, log: c.log, alsoHeld: c.lock.id}
	defer l.end()
	wait, cancel := context.WithTimeout(ctx, c.srv.config().LockTimeout)
	defer cancel()
	var sess *pgsess.Session
	var err error
	if c.srv.config().Locking {
		sess, err = l.take(ctx, func() context.Context { return wait }, id, "", "")
	} else {
		sess, err = c.srv.store.Read(ctx, id)
	}
	if err != nil {
		return false, err
	}
	if sess == nil || !f.Matches(c.srv.config().SerializeHandler, sess) {
		return false, nil // gone, or changed by the request that held it
	}
	return true, c.srv.store.Destroy(ctx, id)
}
