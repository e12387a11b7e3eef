package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/phpsessd/phpsessd/iniconf"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/phpserialize"
)

// sessionRow is a session row's metadata as phpsessd inspect and sessions -json print
// it.
type sessionRow struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Created      time.Time `json:"created"`
	Modified     time.Time `json:"modified"`
	Expire       time.Time `json:"expire"`
	AddrCreated  string    `json:"addr_created"`
	AddrModified string    `json:"addr_modified"`
	Counter      int64     `json:"counter"`
	DataSize     int       `json:"data_size"`
}

// rowOf returns sess's metadata, times in UTC.
func rowOf(sess *pgsess.Session) sessionRow {
	utc := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	return sessionRow{ID: sess.ID, Name: sess.Name, Created: utc(sess.Created), Modified: utc(sess.Modified),
		Expire: utc(sess.Expire), AddrCreated: sess.AddrCreated, AddrModified: sess.AddrModified,
		Counter: sess.Counter, DataSize: len(sess.Data)}
}

// inspection is what phpsessd inspect prints: the row's metadata and its data decoded
// with session.serialize_handler.
type inspection struct {
	sessionRow
	Handler   string          `json:"serialize_handler"`
	Data      json.RawMessage `json:"data,omitempty"`
	DataError string          `json:"data_error,omitempty"`
}

// inspector is the store as phpsessd inspect reads it.
type inspector interface {
	// Info returns the session as stored, expired or not, or nil and no error when
	// there is none.
	Info(ctx context.Context, id string) (*pgsess.Session, error)
}

// runInspect prints one session as indented JSON. Session data that does not decode is
// reported in data_error (with the byte offset), not hidden; the exit code is then 1.
func runInspect(ctx context.Context, cfg *iniconf.Config, store inspector, id string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sess, err := store.Info(ctx, id)
	if err != nil {
		return err
	}
	if sess == nil {
		return fmt.Errorf("no session %q in %s", id, cfg.Table)
	}
	v := inspection{sessionRow: rowOf(sess), Handler: cfg.SerializeHandler}
	var decodeErr error
	if s, err := phpserialize.DecodeSession(cfg.SerializeHandler, sess.Data); err != nil {
		decodeErr = err
		v.DataError = err.Error()
	} else if v.Data, err = phpserialize.SessionJSON(cfg.SerializeHandler, s); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", b)
	return decodeErr
}
