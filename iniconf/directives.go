package iniconf

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is phpsessd's configuration as read from php.ini. Every field holds
// its default when the directive is not set; Defaults returns that Config.
type Config struct {
	// Files lists the files read, in the order they were read.
	Files []string

	// The original session_pgsql directives.

	// DB is session_pgsql.db split on ';': libpq connection strings, each
	// trimmed, empty entries dropped; never empty.
	DB []string
	// KeepExpired is session_pgsql.keep_expired: an expired session keeps its
	// row's metadata and only loses its data.
	KeepExpired bool
	// CreateTable is session_pgsql.create_table: create the table if missing.
	CreateTable bool
	// DecodedColumn is session_pgsql.decoded_column: keep the decoded session in an
	// extra jsonb column, sess_decoded.
	DecodedColumn bool
	// ShortCircuit is session_pgsql.short_circuit: skip the UPDATE when
	// nothing changed.
	ShortCircuit bool
	// FailoverMode is session_pgsql.failover_mode: always use the first live
	// server instead of spreading sessions by id.
	FailoverMode bool
	// GCInterval is session_pgsql.gc_interval, a whole number of seconds: 0
	// disables garbage collection, a negative value means on every session
	// access.
	GCInterval time.Duration
	// VacuumInterval is session_pgsql.vacuum_interval, a whole number of
	// seconds between VACUUM (ANALYZE) runs of the session table; 0 turns them
	// off.
	VacuumInterval time.Duration
	// Disable is session_pgsql.disable: PHP clients reading this php.ini do not
	// register phpsessd's save handler. The daemon itself still serves.
	Disable bool
	// Ignored lists, in the order of Directives, the directives of the
	// extension set in php.ini (with any value) that phpsessd accepts and does
	// not need: sem_file_name, use_app_vars, serializable. Their Description
	// says why.
	Ignored []string

	// The directives phpsessd adds, with the same prefix.

	// Table is session_pgsql.table: a table name, optionally schema-qualified,
	// each part matching [A-Za-z_][A-Za-z0-9_]* and at most 63 bytes.
	Table string
	// Locking is session_pgsql.locking: lock a session from read to close.
	Locking bool
	// LockScope is session_pgsql.lock_scope: "cluster" (daemons sharing the
	// database exclude each other through a lease in the session row) or
	// "host" (only requests through this daemon exclude each other).
	LockScope string
	// LockMethod is session_pgsql.lock_method, how lock_scope = cluster excludes
	// other daemons: "advisory" (PostgreSQL advisory locks on dedicated connections)
	// or "lease" (a lease in two extra columns of the row, which works behind a
	// pooler in transaction mode).
	LockMethod string
	// LockLease is session_pgsql.lock_lease, a whole number of seconds: how
	// long a lock left by a daemon that died blocks its session.
	LockLease time.Duration
	// MaxConnections is session_pgsql.max_connections: the size of the daemon's
	// database connection pool, shared by all PHP-FPM workers of the host.
	MaxConnections int
	// MaxClients is session_pgsql.max_clients: how many client connections the
	// daemon keeps open at once, from 0 (no bound) to 1000000, or MaxClientsAuto
	// ("auto", the default): a bound the daemon derives from its open file limit.
	MaxClients int
	// PreparedStatements is session_pgsql.prepared_statements: use named
	// prepared statements (off for PgBouncer before 1.21 in transaction mode).
	PreparedStatements bool
	// LockTimeout is session_pgsql.lock_timeout, a positive whole number of
	// seconds.
	LockTimeout time.Duration
	// Listen is session_pgsql.listen, the daemon's socket.
	Listen Listen
	// SocketGroup is session_pgsql.socket_group, the group of the Unix socket;
	// empty means the daemon's own group.
	SocketGroup string
	// Secret is session_pgsql.secret, or the first line of
	// session_pgsql.secret_file; empty means no secret.
	Secret string
	// PasswordFile is session_pgsql.password_file, an absolute path of a file
	// whose first line is the database password, or empty. Load does not read
	// it.
	PasswordFile string
	// MaxFrameSize is session_pgsql.max_frame_size in bytes, from 64 KiB to
	// 1 GiB.
	MaxFrameSize int
	// ClientTimeout is session_pgsql.client_timeout, a positive number of
	// seconds that may have a fraction: the PHP client's connect and reply
	// timeout, and the daemon's read timeout for a half-sent frame.
	ClientTimeout time.Duration
	// MetricsListen is session_pgsql.metrics_listen, the host:port of the
	// HTTP listener for /metrics and /healthz; empty means off.
	MetricsListen string
	// LogLevel is session_pgsql.log_level, in lower case: debug, info, warn or
	// error.
	LogLevel string
	// Synchronous is session_pgsql.synchronous_commit: commit session writes
	// durably.
	Synchronous bool

	// PHP's own session directives.

	// GCMaxLifetime is session.gc_maxlifetime, a positive number of seconds.
	GCMaxLifetime int
	// SessionName is session.name: not empty, not numeric and without
	// spaces, '=', ',' or ';', as PHP requires.
	SessionName string
	// SerializeHandler is session.serialize_handler: php, php_serialize or
	// php_binary.
	SerializeHandler string
	// SaveHandler is session.save_handler as written; it is informational.
	SaveHandler string
	// SavePath is session.save_path as written: where PHP's files handler kept
	// sessions ("N;MODE;/path" forms included), read by phpsessd import-files.
	SavePath string

	// origins records where each directive read from a file was set.
	origins map[string]origin
}

// origin is the file and line of a directive's effective definition.
type origin struct {
	file string
	line int
}

// DirectiveError returns err as an *Error about directive, naming the file and line
// that set it, as Load names the directives it rejects: for checks made after Load
// (a connection string the store refuses, a password file that cannot be read). A
// directive left at its default is named with the first file read, line 0, and
// "(the default)" in the message.
func (c *Config) DirectiveError(directive string, err error) *Error {
	o, ok := c.origins[directive]
	msg := err.Error()
	if !ok {
		if len(c.Files) > 0 {
			o.file = c.Files[0]
		}
		msg += " (the default)"
	}
	return &Error{File: o.file, Line: o.line, Directive: directive, Msg: msg, Err: err}
}

// Directive describes one session_pgsql directive for documentation.
type Directive struct {
	// Name is the full directive name, such as "session_pgsql.db".
	Name string
	// Default is the default value as it would be written in php.ini; empty
	// means the empty value.
	Default string
	// Description is one line saying what the directive does.
	Description string
}

// directive is a Directive together with how Load applies its value.
type directive struct {
	Directive
	set func(c *Config, v string) error
}

const (
	dirSecret     = "session_pgsql.secret"
	dirSecretFile = "session_pgsql.secret_file"
)

// MaxClientsAuto is Config.MaxClients for session_pgsql.max_clients = auto.
const MaxClientsAuto = -1

// MaxServers is how many servers session_pgsql.db may list, the extension's limit.
const MaxServers = 31

// directives lists every session_pgsql directive in the order Load checks
// them. Each Default must parse to the value Defaults returns.
var directives = []directive{
	{Directive{"session_pgsql.db", "host=localhost dbname=php_session user=nobody",
		"libpq connection strings of the session databases, separated by ';' (quote the value), at most 31: sessions spread over them by id (see failover_mode)."},
		func(c *Config, v string) error {
			var dbs []string
			for _, s := range strings.Split(v, ";") {
				if s = strings.TrimSpace(s); s != "" {
					dbs = append(dbs, s)
				}
			}
			if len(dbs) == 0 {
				return fmt.Errorf("no connection string (allowed: one or more libpq connection strings separated by ';')")
			}
			if len(dbs) > MaxServers {
				return fmt.Errorf("%d connection strings; at most %d servers are allowed", len(dbs), MaxServers)
			}
			c.DB = dbs
			return nil
		}},
	{Directive{"session_pgsql.keep_expired", "off",
		"on: an expired session keeps its row's metadata and only loses its data; off: its row is replaced."},
		boolSetter(func(c *Config) *bool { return &c.KeepExpired })},
	{Directive{"session_pgsql.create_table", "on",
		"Create the session table when it is missing."},
		boolSetter(func(c *Config) *bool { return &c.CreateTable })},
	{Directive{"session_pgsql.decoded_column", "off",
		"on: keep each session decoded as JSON in an extra jsonb column, sess_decoded, for plain SQL (added with create_table; phpsessd backfill fills older rows)."},
		boolSetter(func(c *Config) *bool { return &c.DecodedColumn })},
	{Directive{"session_pgsql.short_circuit", "off",
		"Skip the UPDATE when nothing changed; the counter and expiry are then not refreshed."},
		boolSetter(func(c *Config) *bool { return &c.ShortCircuit })},
	{Directive{"session_pgsql.failover_mode", "off",
		"on: always use the first live server, the next one only when it fails; off: spread sessions over the servers by id."},
		boolSetter(func(c *Config) *bool { return &c.FailoverMode })},
	{Directive{"session_pgsql.gc_interval", "3600",
		"Seconds between garbage collections; 0 (or off) disables them (run phpsessd gc from cron), a negative value collects on every session access."},
		func(c *Config, v string) error {
			d, ok := parseInterval(v)
			if !ok {
				return fmt.Errorf("invalid number of seconds %q (allowed: a whole number; 0 disables, negative means on every access)", v)
			}
			c.GCInterval = d
			return nil
		}},
	{Directive{"session_pgsql.vacuum_interval", "21600",
		"Seconds between VACUUM (ANALYZE) runs of the session table by one daemon at a time, where the role owns the table; 0 (or off) turns them off."},
		func(c *Config, v string) error {
			d, ok := parseInterval(v)
			if !ok || d < 0 {
				// The extension vacuumed at every session close when negative.
				return fmt.Errorf("invalid number of seconds %q (allowed: a whole number from 0; 0 turns vacuuming off, a negative value, which made the extension vacuum at every session close, is not supported)", v)
			}
			c.VacuumInterval = d
			return nil
		}},
	{Directive{"session_pgsql.disable", "off",
		"on: PHP clients reading this php.ini do not register phpsessd (as the extension did not register its handler); the daemon still serves and says so."},
		boolSetter(func(c *Config) *bool { return &c.Disable })},
	ignoredDirective("session_pgsql.sem_file_name", "/tmp/php_session_pgsql",
		"Ignored: the extension's shared-memory file for its GC and vacuum timers; phpsessd times GC and vacuum itself."),
	ignoredDirective("session_pgsql.use_app_vars", "off",
		"Ignored: the extension's $_APP application variables (table php_app_vars); phpsessd has no $_APP."),
	ignoredDirective("session_pgsql.serializable", "off",
		"Ignored: the extension's SERIALIZABLE transaction for a request's read and write; phpsessd's session locks (session_pgsql.locking) keep concurrent requests from losing writes."),
	{Directive{"session_pgsql.table", "php_session",
		"Name of the session table, optionally schema-qualified (schema.table)."},
		func(c *Config, v string) error {
			ok := tableRE.MatchString(v)
			for _, part := range strings.Split(v, ".") {
				ok = ok && len(part) <= 63
			}
			if !ok {
				return fmt.Errorf("invalid table name %q (allowed: name or schema.name, each [A-Za-z_][A-Za-z0-9_]* of at most 63 bytes)", v)
			}
			c.Table = v
			return nil
		}},
	{Directive{"session_pgsql.locking", "on",
		"Lock a session from read to close, so concurrent requests of one user never lose each other's writes."},
		boolSetter(func(c *Config) *bool { return &c.Locking })},
	{Directive{"session_pgsql.lock_scope", "cluster",
		"cluster: daemons sharing the database exclude each other (see lock_method); host: only requests through one daemon do."},
		choiceSetter("lock scope", func(c *Config) *string { return &c.LockScope }, "cluster", "host")},
	{Directive{"session_pgsql.lock_method", "advisory",
		"How lock_scope = cluster excludes other daemons. advisory: PostgreSQL advisory locks on a few dedicated connections; lease: a lease in two extra columns of the row, for PgBouncer in transaction mode."},
		choiceSetter("lock method", func(c *Config) *string { return &c.LockMethod }, "advisory", "lease")},
	{Directive{"session_pgsql.lock_lease", "15",
		"Seconds a lock of a daemon that died keeps blocking its session (lock_method = lease); held locks are renewed well before."},
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 3 {
				return fmt.Errorf("invalid number of seconds %q (allowed: a whole number from 3)", v)
			}
			c.LockLease = time.Duration(n) * time.Second
			return nil
		}},
	{Directive{"session_pgsql.max_connections", "32",
		"Size of the daemon's database connection pool, shared by all PHP-FPM workers of the host."},
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 || n > 10000 {
				return fmt.Errorf("invalid number of connections %q (allowed: a whole number from 1 to 10000)", v)
			}
			c.MaxConnections = int(n)
			return nil
		}},
	{Directive{"session_pgsql.max_clients", "auto",
		"Most client connections the daemon keeps open (each PHP-FPM worker keeps one); auto: its open file limit less max_connections and 64; 0: no bound."},
		func(c *Config, v string) error {
			if strings.EqualFold(v, "auto") {
				c.MaxClients = MaxClientsAuto
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 || n > 1000000 {
				return fmt.Errorf("invalid number of connections %q (allowed: auto, or a whole number from 0, no bound, to 1000000)", v)
			}
			c.MaxClients = int(n)
			return nil
		}},
	{Directive{"session_pgsql.prepared_statements", "on",
		"Use named prepared statements; off for PgBouncer before 1.21 in transaction pooling mode."},
		boolSetter(func(c *Config) *bool { return &c.PreparedStatements })},
	{Directive{"session_pgsql.lock_timeout", "30",
		"Seconds a request waits for a session's lock before it fails."},
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n <= 0 {
				return fmt.Errorf("invalid number of seconds %q (allowed: a whole number above 0)", v)
			}
			c.LockTimeout = time.Duration(n) * time.Second
			return nil
		}},
	{Directive{"session_pgsql.listen", "unix:/run/phpsessd/phpsessd.sock",
		"Where the daemon listens and the PHP client connects: unix:/path or tcp:host:port."},
		func(c *Config, v string) error {
			l, err := ParseListen(v)
			if err != nil {
				return err
			}
			c.Listen = l
			return nil
		}},
	{Directive{"session_pgsql.socket_group", "",
		"Group owning the Unix socket; empty means the daemon's own group."},
		func(c *Config, v string) error { c.SocketGroup = v; return nil }},
	{Directive{dirSecret, "",
		"Shared secret the PHP client presents to the daemon; empty means none (TCP listeners need one)."},
		func(c *Config, v string) error { c.Secret = v; return nil }},
	{Directive{dirSecretFile, "",
		"Absolute path of a file whose first line is the shared secret, instead of session_pgsql.secret."},
		func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			s, err := ReadSecretFile(v)
			if err != nil {
				return err
			}
			c.Secret = s
			return nil
		}},
	{Directive{"session_pgsql.password_file", "",
		"Absolute path of a file whose first line is the database password."},
		func(c *Config, v string) error {
			if v != "" && !filepath.IsAbs(v) {
				return fmt.Errorf("relative path %q (allowed: an absolute path or empty)", v)
			}
			c.PasswordFile = v
			return nil
		}},
	{Directive{"session_pgsql.max_frame_size", "4M",
		"Largest protocol frame in bytes, with PHP's K, M and G suffixes allowed; from 64K to 1G."},
		func(c *Config, v string) error {
			n, ok := parseSize(v)
			if !ok || n < 64<<10 || n > 1<<30 {
				return fmt.Errorf("invalid size %q (allowed: bytes from 64K to 1G, with an optional K, M or G suffix)", v)
			}
			c.MaxFrameSize = int(n)
			return nil
		}},
	{Directive{"session_pgsql.client_timeout", "5",
		"Seconds (fractions allowed) the PHP client waits to connect and for a reply; also the daemon's limit for a half-sent frame."},
		func(c *Config, v string) error {
			d, ok := parseSeconds(v)
			if !ok {
				return fmt.Errorf("invalid number of seconds %q (allowed: a number above 0, like 5 or 2.5)", v)
			}
			c.ClientTimeout = d
			return nil
		}},
	{Directive{"session_pgsql.metrics_listen", "",
		"host:port of the HTTP listener for /metrics and /healthz; empty turns it off."},
		func(c *Config, v string) error {
			if v != "" {
				if err := checkHostPort(v, false); err != nil {
					return fmt.Errorf("invalid address %q: %v (allowed: host:port, :port or empty)", v, err)
				}
			}
			c.MetricsListen = v
			return nil
		}},
	{Directive{"session_pgsql.log_level", "info",
		"Log level: debug, info, warn or error."},
		choiceSetter("log level", func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{Directive{"session_pgsql.synchronous_commit", "on",
		"off: commit session writes without waiting for the disk (faster; a database crash may lose the last writes)."},
		boolSetter(func(c *Config) *bool { return &c.Synchronous })},
}

// phpDirectives are PHP's own session directives that Load reads.
var phpDirectives = []directive{
	{Directive{"session.gc_maxlifetime", "1440", "Seconds after which a session expires."},
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n <= 0 {
				return fmt.Errorf("invalid number of seconds %q (allowed: a whole number above 0)", v)
			}
			c.GCMaxLifetime = int(n)
			return nil
		}},
	{Directive{"session.name", "PHPSESSID", "Name of the session cookie."},
		func(c *Config, v string) error {
			if v == "" || numericRE.MatchString(v) || strings.ContainsAny(v, "=,; \t\r\n\v\f") {
				return fmt.Errorf("invalid session name %q (allowed: a non-numeric name without spaces or any of = , ;)", v)
			}
			c.SessionName = v
			return nil
		}},
	{Directive{"session.serialize_handler", "php", "Format of session data."},
		func(c *Config, v string) error {
			switch v {
			case "php", "php_serialize", "php_binary":
				c.SerializeHandler = v
				return nil
			}
			return fmt.Errorf("unsupported serialize handler %q (allowed: php, php_serialize, php_binary)", v)
		}},
	{Directive{"session.save_handler", "files", "PHP's session save handler."},
		func(c *Config, v string) error { c.SaveHandler = v; return nil }},
	{Directive{"session.save_path", "", "Where PHP's files handler keeps sessions."},
		func(c *Config, v string) error { c.SavePath = v; return nil }},
}

var (
	tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
	// numericRE matches what PHP's is_numeric accepts without surrounding
	// spaces; PHP rejects such a session.name.
	numericRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	sizeRE    = regexp.MustCompile(`^([0-9]+)([kKmMgG]?)$`)
	secondsRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
)

// Directives returns every session_pgsql directive with its default and a
// one-line description, in a stable order. The caller may modify the result.
func Directives() []Directive {
	out := make([]Directive, len(directives))
	for i, d := range directives {
		out[i] = d.Directive
	}
	return out
}

// Defaults returns the Config that an empty php.ini gives, with Files nil.
func Defaults() *Config {
	return &Config{
		DB:                 []string{"host=localhost dbname=php_session user=nobody"},
		CreateTable:        true,
		GCInterval:         3600 * time.Second,
		VacuumInterval:     21600 * time.Second,
		Table:              "php_session",
		Locking:            true,
		LockScope:          "cluster",
		LockMethod:         "advisory",
		LockLease:          15 * time.Second,
		PreparedStatements: true,
		MaxConnections:     32,
		MaxClients:         MaxClientsAuto,
		LockTimeout:        30 * time.Second,
		Listen:             Listen{Network: "unix", Address: "/run/phpsessd/phpsessd.sock"},
		MaxFrameSize:       4 << 20,
		ClientTimeout:      5 * time.Second,
		LogLevel:           "info",
		Synchronous:        true,
		GCMaxLifetime:      1440,
		SessionName:        "PHPSESSID",
		SerializeHandler:   "php",
		SaveHandler:        "files",
	}
}

// ignoredDirective is a directive of the extension that phpsessd accepts with
// any value, as the extension did, and records in Config.Ignored.
func ignoredDirective(name, def, description string) directive {
	return directive{Directive{name, def, description}, func(c *Config, _ string) error {
		c.Ignored = append(c.Ignored, name)
		return nil
	}}
}

// choiceSetter returns a setter that accepts one of allowed, in any case, and stores
// it in lower case into the field that field selects; what names the value in errors.
func choiceSetter(what string, field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if l := strings.ToLower(v); slices.Contains(allowed, l) {
			*field(c) = l
			return nil
		}
		return fmt.Errorf("invalid %s %q (allowed: %s)", what, v, strings.Join(allowed, ", "))
	}
}

// boolSetter returns a setter that parses a PHP boolean into the field that
// field selects.
func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, ok := parseBool(v)
		if !ok {
			return fmt.Errorf("invalid boolean %q (allowed: on, off, yes, no, true, false, 1, 0, none or empty)", v)
		}
		*field(c) = b
		return nil
	}
}

// parseBool parses a boolean as PHP writes it, ignoring case.
func parseBool(v string) (b, ok bool) {
	switch strings.ToLower(v) {
	case "1", "on", "yes", "true":
		return true, true
	case "", "0", "off", "no", "false", "none":
		return false, true
	}
	return false, false
}

// parseInterval parses a whole number of seconds as the extension's interval
// directives take it: off, none and empty are 0, as PHP reads them.
func parseInterval(v string) (time.Duration, bool) {
	if b, ok := parseBool(v); ok && !b {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return time.Duration(n) * time.Second, err == nil
}

// parseSize parses a byte count with PHP's optional K, M or G suffix.
func parseSize(v string) (int64, bool) {
	m := sizeRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[strings.ToLower(m[2])]
	if n > math.MaxInt64>>shift {
		return 0, false
	}
	return n << shift, true
}

// parseSeconds parses a positive decimal number of seconds.
func parseSeconds(v string) (time.Duration, bool) {
	if !secondsRE.MatchString(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f > math.MaxInt32 {
		return 0, false
	}
	d := time.Duration(math.Round(f * float64(time.Second)))
	return d, d > 0
}

// ReadSecretFile returns the first line of the regular file at path (an absolute
// path), without its line ending: the form of session_pgsql.secret_file and
// session_pgsql.password_file. An empty first line is an error. At most 64 KiB are
// read.
func ReadSecretFile(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("relative path %q (allowed: an absolute path or empty)", path)
	}
	// Refuse FIFOs and devices, which could block or never end.
	if fi, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, unwrapPath(err))
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("cannot read %s: %v", path, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", fmt.Errorf("%s has an empty first line (allowed: a file whose first line is the secret)", path)
	}
	return line, nil
}
