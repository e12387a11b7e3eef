package pgsess

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrBadDSN marks the errors of Open that are about a connection string
// (session_pgsql.db): one that does not parse.
var ErrBadDSN = errors.New("bad connection string")

// redacted replaces every secret RedactDSN takes out of a connection string.
const redacted = "xxxxx"

// secretKeys are the libpq keywords whose values RedactDSN hides.
var secretKeys = map[string]bool{"password": true, "sslpassword": true}

// RedactDSN returns a libpq connection string (keyword/value or URL) fit for logs,
// errors and session_pgsql_status(): the values of password and sslpassword and a
// URL's user-info password become xxxxx. It never fails and never returns a secret:
// where the string stops following libpq's grammar, nothing of the rest is kept
// (it becomes "…"), since a malformed string has no reliable boundaries between a
// password and the text around it.
func RedactDSN(dsn string) string {
	out, _ := redactDSN(dsn)
	return out
}

// redactDSN is RedactDSN that also returns the pieces it took out, so that an
// error message quoting them can be scrubbed too.
func redactDSN(dsn string) (string, []string) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return redactURL(dsn)
	}
	return redactKeywordValue(dsn)
}

// redactURL hides the user-info password and the password query parameters of a
// connection URL. It splits the URL by hand, as pgconn does, since net/url refuses
// the several hosts of a multi-host URL; a query that does not parse is dropped, and
// so is everything after a '#'.
func redactURL(dsn string) (string, []string) {
	scheme, rest, _ := strings.Cut(dsn, "://")
	var removed []string
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		removed = append(removed, rest[i:])
		rest = rest[:i] + "#…"
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if user, pass, ok := strings.Cut(authority[:at], ":"); ok {
			removed = append(removed, pass)
			if p, err := url.PathUnescape(pass); err == nil {
				removed = append(removed, p)
			}
			authority = user + ":" + redacted + authority[at:]
		}
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if hasQuery {
		q, err := url.ParseQuery(query)
		if err != nil {
			removed = append(removed, query)
			query = "…"
		} else {
			for k, vs := range q {
				if secretKeys[strings.ToLower(k)] {
					for i, v := range vs {
						removed = append(removed, v, url.QueryEscape(v))
						vs[i] = redacted
					}
				}
			}
			for _, kv := range strings.Split(query, "&") {
				k, v, _ := strings.Cut(kv, "=")
				if k, err := url.QueryUnescape(k); err == nil && secretKeys[strings.ToLower(k)] {
					removed = append(removed, v) // as written, escapes and all
				}
			}
			query = q.Encode()
		}
		path += "?" + query
	}
	return scheme + "://" + authority + path, removed
}

// redactKeywordValue hides the secret values of a keyword/value string, read by
// libpq's rules: keyword, optional spaces, '=', optional spaces, then a value that
// ends at a space or is in single quotes with backslash escapes. From the first
// place where the string breaks these rules, the rest is dropped.
func redactKeywordValue(dsn string) (string, []string) {
	var out strings.Builder
	var removed []string
	s := strings.TrimLeft(dsn, spaces)
	for s != "" {
		key, rest, ok := cutKeyword(s)
		var val string
		if ok {
			val, rest, ok = cutValue(rest)
		}
		if !ok {
			removed = append(removed, s)
			if out.Len() > 0 {
				out.WriteByte(' ')
			}
			out.WriteString("…")
			break
		}
		if out.Len() > 0 {
			out.WriteByte(' ')
		}
		// An unquoted value holding '=' is how "host= password=x" reads to libpq
		// (host is "password=x"): a slip that puts a password in another value.
		if secretKeys[strings.ToLower(key)] || (!strings.HasPrefix(val, "'") && strings.Contains(val, "=")) {
			removed = append(removed, val, strings.Trim(val, "'"))
			val = redacted
		}
		out.WriteString(key + "=" + val)
		s = strings.TrimLeft(rest, spaces)
	}
	return out.String(), removed
}

const spaces = " \t\n\r\v\f"

// cutKeyword reads "keyword =" from the start of s, returning the keyword and what
// follows the '=' with its leading spaces removed.
func cutKeyword(s string) (key, rest string, ok bool) {
	end := strings.IndexAny(s, spaces+"=")
	if end <= 0 {
		return "", "", false
	}
	key, rest = s[:end], strings.TrimLeft(s[end:], spaces)
	if !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	return key, strings.TrimLeft(rest[1:], spaces), true
}

// cutValue reads one value from the start of s, as written (quotes and escapes
// kept), and returns it with the rest of s.
func cutValue(s string) (val, rest string, ok bool) {
	if !strings.HasPrefix(s, "'") {
		end := 0
		for end < len(s) && !strings.ContainsRune(spaces, rune(s[end])) {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		end = min(end, len(s))
		return s[:end], s[end:], true
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'':
			return s[:i+1], s[i+1:], true
		}
	}
	return "", "", false // the quote is never closed
}

// parseDSN parses one connection string for the pool, with the store's dialer (see
// configureDial). A multi-host string is supported with target_session_attrs (tried
// in order, as libpq does); load_balance_hosts is refused, since pgx does not
// implement it and would send it to the server as a setting. Its error names the
// string only as RedactDSN shows it, and pgconn's own reason scrubbed of every piece
// RedactDSN took out: pgconn's messages redact passwords on a best-effort basis
// only, and quote parts of a malformed string.
func parseDSN(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err == nil {
		if _, ok := cfg.ConnConfig.RuntimeParams["load_balance_hosts"]; ok {
			return nil, fmt.Errorf("%w: %q: load_balance_hosts is not supported (the hosts of a multi-host string are tried in order); remove it",
				ErrBadDSN, RedactDSN(dsn))
		}
		configureDial(&cfg.ConnConfig.Config)
		return cfg, nil
	}
	shown, removed := redactDSN(dsn)
	reason := "does not parse"
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// The message without the connection string it quotes.
		bare := *pe
		bare.ConnString = ""
		reason = strings.TrimPrefix(bare.Error(), "cannot parse ``: ")
	}
	for _, r := range removed {
		for _, word := range append(strings.Fields(r), r) {
			if word != "" {
				reason = strings.ReplaceAll(reason, word, redacted)
			}
		}
	}
	return nil, fmt.Errorf("%w: cannot parse %q: %s", ErrBadDSN, shown, reason)
}
