// Command phpsessd keeps PHP sessions in PostgreSQL, in the php_session table of the
// session_pgsql extension, for PHP's that use the phpsessd PHP client as their session
// save handler. It reads the site's php.ini.
//
// Usage:
//
//	phpsessd [-ini php.ini] [-ini-scan-dir dir]     run the daemon in the foreground
//	phpsessd gc [-ini php.ini] [-ini-scan-dir dir]  delete expired sessions once (cron)
//	phpsessd inspect [-ini php.ini] ID              print a session decoded, as JSON
//	phpsessd sessions [-ini php.ini] [filter] [-state live|expired|all] [-json] [-full-ids]
//	                                                list sessions
//	phpsessd end [-ini php.ini] filter [-yes]       end sessions, through the daemon
//	phpsessd backfill [-ini php.ini]                fill sess_decoded of older rows
//	  filter: -path user.id -value 42, -id-prefix P, -addr A (end: or -all)
//	phpsessd import-files [-ini php.ini] [DIR]      copy PHP's files sessions into the table
//	phpsessd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/iniconf"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/phpserialize"
	"github.com/phpsessd/phpsessd/serverset"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/diode"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// defaultINI is Debian's php.ini of PHP-FPM 8.2.
const defaultINI = "/etc/php/8.2/fpm/php.ini"

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(defaultProcs(runtime.NumCPU()))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// defaultProcs is how many threads run Go code by default: a quarter of the CPUs, at
// least one. The daemon shares its host with PHP-FPM and often PostgreSQL; with as many
// threads as CPUs, Go's scheduler spent the CPU they needed looking for work (make
// bench on 2 cores: +18% requests/s with one). GOMAXPROCS in the environment overrides.
func defaultProcs(cpus int) int { return max(1, cpus/4) }

// run executes the command line and returns the process exit code: 0 success, 1 a
// runtime failure, 2 bad usage or configuration.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "gc", "inspect", "sessions", "end", "import-files", "backfill", "version", "serve":
			cmd, args = args[0], args[1:]
		}
	}
	if cmd == "serve" {
		// A log reader that went away must not kill the daemon: Go's default for a
		// write to a broken pipe on standard error is to die of SIGPIPE; ignored, the
		// write fails (and the log line is lost).
		signal.Ignore(syscall.SIGPIPE)
	}
	fs := flag.NewFlagSet("phpsessd "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	iniPath := fs.String("ini", defaultINI, "the php.ini to read (PHP-FPM's)")
	scanDir := fs.String("ini-scan-dir", os.Getenv("PHP_INI_SCAN_DIR"), "a conf.d directory whose *.ini files are read after -ini, as PHP does")
	logFormat := fs.String("log-format", "auto", "log format: json, console, or auto (console when stderr is a terminal)")
	var sel *selection
	if cmd == "sessions" || cmd == "end" {
		sel = addSelectionFlags(fs, cmd)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if want := map[bool]int{true: 1, false: 0}[cmd == "inspect"]; fs.NArg() != want && !(cmd == "import-files" && fs.NArg() == 1) {
		fmt.Fprintf(stderr, "phpsessd %s: expected %d argument(s), got %q\n", cmd, want, fs.Args())
		return 2
	}
	if cmd == "version" {
		fmt.Fprintln(stderr, "phpsessd", version)
		return 0
	}

	cfg, err := iniconf.Load(*iniPath, *scanDir)
	if err != nil {
		fmt.Fprintf(stderr, "phpsessd: %v\n", err)
		return 2
	}
	log, flushLog, err := newLogger(stderr, *logFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "phpsessd: %v\n", err)
		return 2
	}
	defer flushLog()
	store, err := openStore(cfg, log)
	if err != nil {
		var ie *iniconf.Error
		if errors.As(err, &ie) {
			fmt.Fprintf(stderr, "phpsessd: %v\n", err)
		} else {
			log.Error().Err(err).Msg("cannot open the session store")
		}
		return 2
	}
	defer store.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "gc":
		return runGC(ctx, store, log)
	case "inspect":
		if err := runInspect(ctx, cfg, store, fs.Arg(0), stdout); err != nil {
			fmt.Fprintf(stderr, "phpsessd inspect: %v\n", err)
			return 1
		}
		return 0
	case "backfill":
		return runBackfill(ctx, store, log)
	case "sessions", "end":
		ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
		run := func() error { return runSessions(ctx, cfg, store, sel, stdout) }
		if cmd == "end" {
			run = func() error { return runEnd(ctx, cfg, store, sel, stdin, stdout) }
		}
		if err := run(); err != nil {
			fmt.Fprintf(stderr, "phpsessd %s: %v\n", cmd, err)
			return 1
		}
		return 0
	case "import-files":
		return runImportFiles(ctx, cfg, store, fs.Arg(0), stdout, log)
	}
	return serve(ctx, cfg, *iniPath, *scanDir, store, log)
}

// logBuffer is how many log lines wait for a slow standard error before lines are
// dropped, and flushTimeout how long the lines still waiting may take at exit.
const (
	logBuffer    = 4096
	flushTimeout = time.Second
)

// newLogger returns the logger writing to w in format, and flush, which writes what
// is still buffered (waiting at most flushTimeout) and must be called before exit.
// Logging never waits for w: lines go through a buffer of logBuffer lines, written by
// a goroutine of their own, and a reader of w that stalls costs lines, counted in a
// line of their own once it reads again, not the daemon's progress.
func newLogger(w io.Writer, format, level string) (log zerolog.Logger, flush func(), err error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, nil, fmt.Errorf("log level %q: %w", level, err)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w}
	case "auto":
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: w}
		}
	default:
		return zerolog.Logger{}, nil, fmt.Errorf("-log-format %q: want json, console or auto", format)
	}
	// The level is global so that a reload can change it for every component.
	zerolog.SetGlobalLevel(lvl)
	// The struct hides w's Close from the diode's, which would close standard error.
	dw := diode.NewWriter(struct{ io.Writer }{w}, logBuffer, 0, func(missed int) {
		direct := zerolog.New(w) // on the diode's goroutine, the only one writing w
		direct.Warn().Timestamp().Int("lines", missed).Msg("log lines dropped: standard error did not keep up")
	})
	flush = func() {
		done := make(chan struct{})
		go func() { dw.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(flushTimeout):
		}
	}
	return zerolog.New(dw).With().Timestamp().Logger(), flush, nil
}

// openStore opens one store per server of session_pgsql.db, as one set.
func openStore(cfg *iniconf.Config, log zerolog.Logger) (*serverset.Set, error) {
	var password string
	if cfg.PasswordFile != "" {
		p, err := iniconf.ReadSecretFile(cfg.PasswordFile)
		if err != nil {
			return nil, cfg.DirectiveError("session_pgsql.password_file", err)
		}
		password = p
	}
	var servers []serverset.Server
	closeAll := func() {
		for _, sv := range servers {
			sv.Store.Close()
		}
	}
	for _, dsn := range cfg.DB {
		store, err := pgsess.Open(pgsess.Options{
			DSN:                dsn,
			Password:           password,
			Table:              cfg.Table,
			CreateTable:        cfg.CreateTable,
			KeepExpired:        cfg.KeepExpired,
			MaxLifetime:        time.Duration(cfg.GCMaxLifetime) * time.Second,
			SynchronousCommit:  cfg.Synchronous,
			Locks:              lockMethod(cfg),
			PreparedStatements: cfg.PreparedStatements,
			MaxConns:           int32(cfg.MaxConnections),
			Decode:             decoder(cfg),
			Logger:             log.With().Str("component", "store").Logger(),
		})
		if err != nil {
			closeAll()
			if errors.Is(err, pgsess.ErrBadDSN) {
				return nil, cfg.DirectiveError("session_pgsql.db", err)
			}
			return nil, err
		}
		servers = append(servers, serverset.Server{Store: store, Name: pgsess.RedactDSN(dsn)})
	}
	set, err := serverset.New(servers, serverset.Options{FailoverMode: cfg.FailoverMode,
		Logger: log.With().Str("component", "servers").Logger()})
	if err != nil {
		closeAll()
		return nil, cfg.DirectiveError("session_pgsql.db", err)
	}
	return set, nil
}

// decoder is the decoded column's rendering of session data (session_pgsql.decoded_column):
// phpserialize's JSON mapping of the session, decoded with session.serialize_handler;
// nil when the column is off.
func decoder(cfg *iniconf.Config) func([]byte) ([]byte, error) {
	if !cfg.DecodedColumn {
		return nil
	}
	handler := cfg.SerializeHandler
	return func(data []byte) ([]byte, error) {
		s, err := phpserialize.DecodeSession(handler, data)
		if err != nil {
			return nil, err
		}
		return phpserialize.SessionDataJSON(handler, s)
	}
}

// lockMethod is how the store locks sessions across daemons, as session_pgsql.locking,
// lock_scope, lock_method and lock_lease say.
func lockMethod(cfg *iniconf.Config) pgsess.LockMethod {
	switch {
	case !cfg.Locking || cfg.LockScope != "cluster":
		return pgsess.HostOnly{}
	case cfg.LockMethod == "lease":
		// The owner names this daemon among those sharing the database, the same
		// across its restarts: its host and socket.
		return pgsess.Lease{Duration: cfg.LockLease, Owner: hostID() + ":" + cfg.Listen.String()}
	}
	return pgsess.Advisory{}
}

// machineIDFiles are where a host's machine id is: systemd's, then D-Bus's copy.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// hostID names this host among those sharing a database: its host name, and the
// machine id of the first of machineIDFiles that has one, so that two hosts that share
// a name (cloned machines, containers given the same host name) are still two.
func hostID() string {
	host, _ := os.Hostname()
	for _, path := range machineIDFiles {
		if b, err := os.ReadFile(path); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return host + "#" + id
			}
		}
	}
	return host
}

// collector is the store of phpsessd gc.
type collector interface {
	// Ready waits until the database answers and the table is usable, retrying until
	// ctx ends.
	Ready(ctx context.Context) error
	// GC removes the expired sessions and returns how many it removed.
	GC(ctx context.Context) (int64, error)
}

func runGC(ctx context.Context, store collector, log zerolog.Logger) int {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := store.Ready(ctx); err != nil {
		log.Error().Err(err).Msg("database not reachable")
		return 1
	}
	n, err := store.GC(ctx)
	if err != nil {
		log.Error().Err(err).Msg("garbage collection failed")
		return 1
	}
	log.Info().Int64("sessions", n).Msg("garbage collection done")
	return 0
}

// backfiller is the store of phpsessd backfill.
type backfiller interface {
	// Backfill fills the decoded column of the rows that lack it, page by page,
	// reporting progress after each; it returns the rows filled and those whose data
	// did not decode.
	Backfill(ctx context.Context, progress func(filled, failed int64)) (filled, failed int64, err error)
}

// runBackfill fills sess_decoded of the rows written before the column was on.
func runBackfill(ctx context.Context, store backfiller, log zerolog.Logger) int {
	last := time.Now()
	filled, failed, err := store.Backfill(ctx, func(filled, failed int64) {
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			log.Info().Int64("filled", filled).Int64("undecodable", failed).Msg("backfilling the decoded column")
		}
	})
	if err != nil {
		log.Error().Err(err).Int64("filled", filled).Msg("backfill failed")
		return 1
	}
	log.Info().Int64("filled", filled).Int64("undecodable", failed).
		Msg("backfill done: rows whose data does not decode keep a NULL sess_decoded")
	return 0
}

// daemon is the running server with what a reload may change.
type daemon struct {
	iniPath, scanDir string
	cfg              *iniconf.Config
	// started is the configuration the daemon started with, which the directives that
	// need a restart keep running with across reloads.
	started    *iniconf.Config
	store      background
	srv        *handler.Server
	log        zerolog.Logger
	metrics    *metrics
	stopGC     context.CancelFunc
	stopVacuum context.CancelFunc
}

// background is the store's work that the daemon starts, stops and reconfigures.
type background interface {
	// RunGC and RunVacuum collect expired sessions and vacuum the table every
	// interval until ctx ends.
	RunGC(ctx context.Context, interval time.Duration)
	RunVacuum(ctx context.Context, interval time.Duration)
	// SetExpiry applies a reload's keep_expired and gc_maxlifetime to the operations
	// that start from now on.
	SetExpiry(keepExpired bool, maxLifetime time.Duration)
}

// daemonStore is what serve needs of the store: what the protocol server needs (which
// finds the store's optional abilities itself), what metrics read, the wait for the
// database, and the background work.
type daemonStore interface {
	handler.Store
	poolStats
	serverHealth
	pinger
	background
	// Ready waits until the database answers and the table is usable, retrying (and
	// logging each failure) until ctx ends.
	Ready(ctx context.Context) error
}

func serve(ctx context.Context, cfg *iniconf.Config, iniPath, scanDir string, store daemonStore, log zerolog.Logger) int {
	if cfg.Listen.Network == "tcp" && !cfg.Listen.IsLoopback() && cfg.Secret == "" {
		log.Error().Str("listen", cfg.Listen.String()).
			Msg("refusing to listen on a non-loopback TCP address without session_pgsql.secret")
		return 2
	}
	ln, err := listen(cfg.Listen, cfg.SocketGroup)
	if err != nil {
		log.Error().Err(err).Str("listen", cfg.Listen.String()).Msg("cannot listen")
		return 1
	}
	// Closing removes the Unix socket, on whichever path serve returns or panics
	// (Serve and Shutdown close it too; closing again does nothing).
	defer ln.Close()
	m := newMetrics()
	d := &daemon{iniPath: iniPath, scanDir: scanDir, cfg: cfg, started: cfg, store: store, log: log, metrics: m}
	d.srv = handler.New(d.handlerConfig(cfg), store)
	m.watch(d.srv, store)

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	if cfg.MetricsListen != "" {
		go func() {
			if err := serveMetrics(bg, cfg.MetricsListen, m, store, log); err != nil {
				log.Error().Err(err).Str("metrics_listen", cfg.MetricsListen).Msg("metrics listener failed")
			}
		}()
	}
	go store.Ready(bg) // logs each failed attempt; requests meanwhile get DB_UNAVAILABLE
	d.startGC()
	defer d.stopGC()
	d.startVacuum()
	defer func() { d.stopVacuum() }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	served := make(chan error, 1)
	go func() { served <- d.srv.Serve(ln) }()
	log.Info().Str("listen", cfg.Listen.String()).Strs("ini", cfg.Files).Str("version", version).
		Bool("locking", cfg.Locking).Str("lock_scope", cfg.LockScope).Str("lock_method", cfg.LockMethod).
		Int("max_clients", maxClients(cfg)).Msg("phpsessd ready")
	logExtensionLines(cfg, log)
	logDisable(cfg, log)

	for {
		select {
		case err := <-served:
			log.Error().Err(err).Msg("listener failed")
			return 1
		case <-hup:
			d.reload()
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info().Msg("shutting down: finishing requests in flight")
	drain, cancel := context.WithTimeout(context.Background(), d.cfg.LockTimeout)
	defer cancel()
	if err := d.srv.Shutdown(drain); err != nil {
		log.Warn().Err(err).Msg("requests still in flight were cut off")
	}
	if err := <-served; err != nil && !errors.Is(err, handler.ErrServerClosed) {
		log.Warn().Err(err).Msg("listener")
	}
	log.Info().Msg("stopped")
	return 0
}

func (d *daemon) handlerConfig(cfg *iniconf.Config) handler.Config {
	return handler.Config{
		Version:          version,
		Locking:          cfg.Locking,
		LockTimeout:      cfg.LockTimeout,
		ShortCircuit:     cfg.ShortCircuit,
		Servers:          redactedDSNs(d.started.DB), // the store keeps the servers it started with
		FailoverMode:     d.started.FailoverMode,     // the store places sessions as it started
		KeepExpired:      cfg.KeepExpired,
		Secret:           cfg.Secret,
		MaxFrameSize:     cfg.MaxFrameSize,
		FrameTimeout:     cfg.ClientTimeout,
		MaxClients:       maxClients(cfg),
		GCOnAccess:       cfg.GCInterval < 0,
		SerializeHandler: cfg.SerializeHandler,
		Logger:           d.log.With().Str("component", "handler").Logger(),
		Observe:          d.metrics.observe,
	}
}

// redactedDSNs returns the connection strings with their passwords redacted.
func redactedDSNs(dsns []string) []string {
	out := make([]string, len(dsns))
	for i, dsn := range dsns {
		out[i] = pgsess.RedactDSN(dsn)
	}
	return out
}

// startGC runs periodic garbage collection when gc_interval is positive.
func (d *daemon) startGC() {
	ctx, cancel := context.WithCancel(context.Background())
	d.stopGC = cancel
	if d.cfg.GCInterval > 0 {
		go d.store.RunGC(ctx, d.cfg.GCInterval)
	}
}

// startVacuum runs periodic VACUUM (ANALYZE) of the table when vacuum_interval is
// positive.
func (d *daemon) startVacuum() {
	ctx, cancel := context.WithCancel(context.Background())
	d.stopVacuum = cancel
	if d.cfg.VacuumInterval > 0 {
		go d.store.RunVacuum(ctx, d.cfg.VacuumInterval)
	}
}

// logExtensionLines says, once at start, which lines of the extension's php.ini
// phpsessd does not need: the directives it ignores (one warning) and
// session.save_handler = pgsql (a notice).
func logExtensionLines(cfg *iniconf.Config, log zerolog.Logger) {
	if len(cfg.Ignored) > 0 {
		why := map[string]string{}
		for _, d := range iniconf.Directives() {
			why[d.Name] = strings.TrimPrefix(d.Description, "Ignored: ")
		}
		var parts []string
		for _, name := range cfg.Ignored {
			parts = append(parts, name+": "+why[name])
		}
		log.Warn().Strs("ignored", cfg.Ignored).Msg("php.ini sets directives only the session_pgsql extension needed; phpsessd ignores them and the lines can go. " +
			strings.Join(parts, " "))
	}
	if strings.EqualFold(cfg.SaveHandler, "pgsql") {
		log.Info().Msg("session.save_handler = pgsql can stay or go: phpsessd's PHP client registers itself with session_set_save_handler(); while it stays, PHP reports session_status() as PHP_SESSION_DISABLED until session_start(), so remove it (or set files) where code checks session_status() first")
	}
}

// logDisable warns when session_pgsql.disable is on. The daemon serves on: PHP code may
// still register the client itself, and a daemon that exited would only be restarted.
func logDisable(cfg *iniconf.Config, log zerolog.Logger) {
	if cfg.Disable {
		log.Warn().Msg("session_pgsql.disable is on: PHP clients reading this php.ini do not register phpsessd as their save handler; " +
			"the daemon still serves code that registers it with session_set_save_handler()")
	}
}

// reload reads php.ini again (SIGHUP). A bad file keeps the running configuration;
// a good one applies to the requests that start from now on, except the directives
// that need a restart, which are logged.
func (d *daemon) reload() {
	next, err := iniconf.Load(d.iniPath, d.scanDir)
	if err != nil {
		d.log.Error().Err(err).Msg("SIGHUP: php.ini not reloaded, the running configuration stays")
		return
	}
	lvl, _ := zerolog.ParseLevel(next.LogLevel)
	zerolog.SetGlobalLevel(lvl)
	d.srv.Reconfigure(d.handlerConfig(next))
	d.store.SetExpiry(next.KeepExpired, time.Duration(next.GCMaxLifetime)*time.Second)
	old := d.cfg
	d.cfg = next
	if next.GCInterval != old.GCInterval {
		d.stopGC()
		d.startGC()
	}
	if next.VacuumInterval != old.VacuumInterval {
		d.stopVacuum()
		d.startVacuum()
	}
	if next.Disable != old.Disable {
		logDisable(next, d.log)
	}
	old = d.started // what the directives below still run with
	restart := map[string]bool{
		"session_pgsql.db":                  strings.Join(old.DB, ";") != strings.Join(next.DB, ";"),
		"session_pgsql.failover_mode":       old.FailoverMode != next.FailoverMode,
		"session_pgsql.table":               old.Table != next.Table,
		"session_pgsql.create_table":        old.CreateTable != next.CreateTable,
		"session_pgsql.decoded_column":      old.DecodedColumn != next.DecodedColumn,
		"session_pgsql.listen":              old.Listen != next.Listen,
		"session_pgsql.socket_group":        old.SocketGroup != next.SocketGroup,
		"session_pgsql.locking":             old.Locking != next.Locking,
		"session_pgsql.lock_scope":          old.LockScope != next.LockScope,
		"session_pgsql.lock_method":         old.LockMethod != next.LockMethod,
		"session_pgsql.lock_lease":          old.LockLease != next.LockLease,
		"session_pgsql.prepared_statements": old.PreparedStatements != next.PreparedStatements,
		"session_pgsql.synchronous_commit":  old.Synchronous != next.Synchronous,
		"session_pgsql.password_file":       old.PasswordFile != next.PasswordFile,
		"session_pgsql.metrics_listen":      old.MetricsListen != next.MetricsListen,
		"session_pgsql.max_connections":     old.MaxConnections != next.MaxConnections,
	}
	var pending []string
	for name, changed := range restart {
		if changed {
			pending = append(pending, name)
		}
	}
	sort.Strings(pending)
	ev := d.log.Info()
	if len(pending) > 0 {
		ev = d.log.Warn().Strs("need_restart", pending)
	}
	ev.Strs("ini", next.Files).Msg("SIGHUP: configuration reloaded")
}
