package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/iniconf"
	"github.com/phpsessd/phpsessd/pgsess"
)

// lister is the store as phpsessd sessions and end read it.
type lister interface {
	// List returns up to limit sessions that f selects whose id sorts after the given
	// one, in id order, as stored.
	List(ctx context.Context, f pgsess.Filter, after string, limit int) ([]*pgsess.Session, error)
}

// selection is the filter flags of phpsessd sessions and end.
type selection struct {
	state, idPrefix, addr, path, value string
	all                                bool
	// sessions only
	json, fullIDs bool
	// end only
	yes bool
}

// addSelectionFlags registers cmd's flags (sessions or end) on fs.
func addSelectionFlags(fs *flag.FlagSet, cmd string) *selection {
	s := &selection{}
	fs.StringVar(&s.idPrefix, "id-prefix", "", "only sessions whose id starts with this")
	fs.StringVar(&s.addr, "addr", "", "only sessions created or last modified from this address")
	fs.StringVar(&s.path, "path", "", "with -value: only sessions whose data holds -value at this dotted path (user.id is $_SESSION['user']['id'])")
	fs.StringVar(&s.value, "value", "", "the value at -path, as JSON: 42, \"ann\", true (a bare word is taken as a string)")
	switch cmd {
	case "sessions":
		fs.StringVar(&s.state, "state", "live", "live, expired or all")
		fs.BoolVar(&s.json, "json", false, "print JSON lines instead of a table")
		fs.BoolVar(&s.fullIDs, "full-ids", false, "print whole session ids (shortened on a terminal otherwise)")
	case "end":
		fs.BoolVar(&s.all, "all", false, "end every live session")
		fs.BoolVar(&s.yes, "yes", false, "do not ask for confirmation")
	}
	return s
}

// filterJSON is the selection as END_SESSIONS's filter (docs/PROTOCOL.md).
func (s *selection) filterJSON() ([]byte, error) {
	m := map[string]any{}
	if s.path != "" || s.value != "" {
		value := json.RawMessage(s.value)
		if !json.Valid(value) {
			b, _ := json.Marshal(s.value) // a bare word
			value = b
		}
		m["path"], m["value"] = s.path, value
	}
	if s.idPrefix != "" {
		m["id_prefix"] = s.idPrefix
	}
	if s.addr != "" {
		m["addr"] = s.addr
	}
	if s.all || (s.state != "" && len(m) == 0) { // sessions lists every session by default
		m["all"] = true
	}
	return json.Marshal(m)
}

// filter is the selection as the daemon reads it, with the state of -state.
func (s *selection) filter() (handler.SessionFilter, error) {
	text, err := s.filterJSON()
	if err != nil {
		return handler.SessionFilter{}, err
	}
	f, err := handler.ParseSessionFilter(text)
	if err != nil {
		return f, errors.New(strings.Replace(err.Error(), `give "path" and "value", "id_prefix" or "addr", or "all": true`,
			"give -path and -value, -id-prefix or -addr, or -all", 1))
	}
	switch s.state {
	case "", "live":
	case "expired":
		f.Rows.State = pgsess.Expired
	case "all":
		f.Rows.State = pgsess.AnyState
	default:
		return f, fmt.Errorf("-state %q: want live, expired or all", s.state)
	}
	return f, nil
}

// listPage is how many rows phpsessd sessions and end read at a time.
const listPage = 1000

// matching calls fn with each session f selects, decoding the data with the serialize
// handler when f has a path.
func matching(ctx context.Context, store lister, f handler.SessionFilter, serializeHandler string, fn func(*pgsess.Session) error) error {
	after := ""
	for {
		page, err := store.List(ctx, f.Rows, after, listPage)
		if err != nil {
			return err
		}
		for _, sess := range page {
			if f.Matches(serializeHandler, sess) {
				if err := fn(sess); err != nil {
					return err
				}
			}
		}
		if len(page) < listPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// shortID is how many characters of an id a table shows without -full-ids.
const shortID = 10

// runSessions prints the sessions sel selects: a table, or JSON lines with -json.
// Ids are shortened in the table unless -full-ids (on a terminal only: piped output
// keeps them whole).
func runSessions(ctx context.Context, cfg *iniconf.Config, store lister, sel *selection, out io.Writer) error {
	f, err := sel.filter()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	short := !sel.fullIDs && isTerminal(out)
	if !sel.json {
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tMODIFIED\tEXPIRES\tADDR CREATED\tADDR MODIFIED\tCOUNTER\tSIZE")
	}
	n := 0
	err = matching(ctx, store, f, cfg.SerializeHandler, func(s *pgsess.Session) error {
		n++
		l := rowOf(s)
		if sel.json {
			return enc.Encode(l)
		}
		id := l.ID
		if short && len(id) > shortID {
			id = id[:shortID] + "…"
		}
		const at = "2006-01-02 15:04:05"
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", id, l.Name, l.Created.Format(at),
			l.Modified.Format(at), l.Expire.Format(at), dash(l.AddrCreated), dash(l.AddrModified), l.Counter, l.DataSize)
		return err
	})
	if err != nil {
		return err
	}
	if !sel.json {
		tw.Flush()
		fmt.Fprintf(out, "%d sessions\n", n)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// runEnd ends the sessions sel selects through the daemon (END_SESSIONS), so that each
// ends under its lock: it counts them first and asks for confirmation on stdin unless
// -yes. It reports what the daemon ended on out.
func runEnd(ctx context.Context, cfg *iniconf.Config, store lister, sel *selection, in io.Reader, out io.Writer) error {
	f, err := sel.filter()
	if err != nil {
		return err
	}
	filter, err := sel.filterJSON()
	if err != nil {
		return err
	}
	n := 0
	if err := matching(ctx, store, f, cfg.SerializeHandler, func(*pgsess.Session) error { n++; return nil }); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(out, "no live session matches; nothing ended")
		return nil
	}
	if !sel.yes {
		fmt.Fprintf(out, "%d live sessions match %s. End them? [y/N] ", n, filter)
		answer, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not confirmed; nothing ended (-yes skips the question)")
		}
	}
	fields, err := askDaemon(ctx, cfg, handler.OpEndSessions, string(filter))
	if err != nil {
		return err
	}
	if len(fields) < 2 {
		return fmt.Errorf("END_SESSIONS: malformed reply %q", fields)
	}
	fmt.Fprintf(out, "ended %s sessions", fields[0])
	if fields[1] != "0" {
		fmt.Fprintf(out, "; %s stayed locked by a request for session_pgsql.lock_timeout and were left", fields[1])
	}
	fmt.Fprintln(out)
	return nil
}

// askDaemon sends one operation to the daemon of cfg (session_pgsql.listen) after a
// HELLO, and a CLOSE after it, as the PHP client does outside a session, and returns
// the operation's reply fields.
func askDaemon(ctx context.Context, cfg *iniconf.Config, op handler.Op, fields ...string) ([]string, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, cfg.Listen.Network, cfg.Listen.Address)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon at %s (session_pgsql.listen): %w", cfg.Listen, err)
	}
	defer nc.Close()
	if deadline, ok := ctx.Deadline(); ok {
		nc.SetDeadline(deadline)
	}
	c := handler.NewClient(nc)
	c.Send(handler.OpHello, strconv.Itoa(handler.ProtocolVersion), cfg.Secret, "", "")
	opID, _ := c.Send(op, fields...)
	if _, err := c.Send(handler.OpClose); err != nil {
		return nil, fmt.Errorf("daemon at %s: %w", cfg.Listen, err)
	}
	var result []string
	for range 3 {
		rep, err := c.Recv()
		if err != nil {
			return nil, fmt.Errorf("daemon at %s: %w", cfg.Listen, err)
		}
		if rep.Status != handler.StatusOK {
			msg := ""
			if len(rep.Fields) > 0 {
				msg = string(rep.Fields[0])
			}
			return nil, fmt.Errorf("daemon at %s: %s: %s", cfg.Listen, rep.Status, msg)
		}
		if rep.ID == opID {
			for _, f := range rep.Fields {
				result = append(result, string(f))
			}
		}
	}
	return result, nil
}
