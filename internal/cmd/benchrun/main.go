// Command benchrun is make bench: on this machine, in one run, it starts a PostgreSQL
// cluster with durable commits, a phpsessd daemon, the reference in-memory daemon
// (internal/cmd/memdaemon) and four PHP-FPM pools that differ only in their session
// handler (PHP's files handler, Symfony's PdoSessionHandler on the same PostgreSQL,
// phpsessd's PHP client over memdaemon, and over phpsessd), and drives each pool with
// the same load (internal/bench), in three modes: distinct (16 clients on 256
// sessions), shared (16 clients on 4 sessions, which tests locking) and reads (16
// clients on 4 sessions with pages that only read them: read_and_close, and on
// phpsessd also session_pgsql_start_read_only, which takes no lock); in the distinct
// mode also phpsessd with the decoded column (session_pgsql.decoded_column = on),
// over two servers (two databases of the cluster in session_pgsql.db), and with the
// PHP client preloaded (opcache.preload = php-client/preload.php); in
// the shared mode also two phpsessd daemons on the same database, each behind its own
// pool, with half the clients each. The rows of a mode are measured in turn, each in
// -rounds slices of its duration, so that a slower spell of the machine weighs on every
// row of the mode alike; each row is merged from its slices. Every row measures the CPU
// per request of PHP-FPM, the daemon, PostgreSQL and the load generator. During
// phpsessd's first distinct slice it takes the daemon's CPU profile; at the end it
// counts with callgrind the instructions PHP spends on a request's session under each
// handler. Then it
// measures the daemon's own protocol throughput beside pgbench running the same SQL,
// and the daemon's memory with 1,000 idle client connections. It prints a table and
// writes it as JSON, text and an SVG chart, with the profiles, under
// -out/<timestamp>/ and -out/latest/. Everything it starts is stopped and removed at
// the end, on failure or on Ctrl-C.
//
//	go run ./internal/cmd/benchrun [-out results] [-duration 10s] [-warmup 2s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/phpsessd/phpsessd/internal/bench"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess"
)

type options struct {
	out            string
	duration       time.Duration
	warmup         time.Duration
	clients        int
	sessions       int
	sharedSessions int
	payload        int
	workers        int
	keepAlive      bool
	handlers       []string
	modes          []string
	protocol       bool
	pgTCP          bool
	rssConns       int
	phpsessdINI    string
	twoDaemons     bool
	decoded        bool
	twoServers     bool
	preload        bool
	profile        bool
	callgrind      int
	rounds         int
}

func main() {
	var o options
	var handlers, modes string
	flag.StringVar(&o.out, "out", "results", "results directory")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each row (in -rounds slices)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warmup before a row's first slice (later slices: at most 1s)")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients")
	flag.IntVar(&o.sessions, "sessions", 256, "sessions in the distinct mode")
	flag.IntVar(&o.sharedSessions, "shared-sessions", 4, "sessions in the shared (locking) mode")
	flag.IntVar(&o.payload, "payload", 1024, "bytes of session payload")
	flag.IntVar(&o.workers, "workers", 16, "PHP-FPM workers per pool (static)")
	flag.BoolVar(&o.keepAlive, "keepalive", true, "keep one FastCGI connection per client (false: one per request, as nginx's default)")
	flag.StringVar(&handlers, "handlers", "files,symfony,memdaemon,phpsessd", "session handlers to measure")
	flag.StringVar(&modes, "modes", "distinct,shared,reads", "modes to run")
	flag.BoolVar(&o.protocol, "protocol", true, "run the protocol-level benchmark and pgbench")
	flag.BoolVar(&o.pgTCP, "pg-tcp", false, "connect everything to PostgreSQL over loopback TCP instead of its Unix socket")
	flag.IntVar(&o.rssConns, "rss-conns", 1000, "idle connections for the daemon's memory figure (0: skip)")
	flag.BoolVar(&o.twoServers, "two-servers", true, "in the distinct mode, also phpsessd over two servers (two databases of the cluster) in session_pgsql.db, behind a pool of its own")
	flag.IntVar(&o.rounds, "rounds", 5, "slices each row's measured window is taken in, in turn with the other rows of its mode (so that a slower spell of the machine weighs on every row alike)")
	flag.BoolVar(&o.preload, "preload", true, "in the distinct mode and the callgrind count, also phpsessd with the PHP client preloaded (opcache.preload = php-client/preload.php), behind a pool of its own")
	flag.BoolVar(&o.decoded, "decoded", true, "in the distinct mode, also phpsessd with session_pgsql.decoded_column = on, behind a pool of its own")
	flag.BoolVar(&o.twoDaemons, "two-daemons", true, "in the shared mode, also two phpsessd daemons on the same database, half the clients each")
	flag.BoolVar(&o.profile, "profile", true, "save phpsessd's CPU profile over its distinct run")
	flag.IntVar(&o.callgrind, "callgrind", 200, "requests per handler in the callgrind count of PHP's instructions (0: skip)")
	flag.StringVar(&o.phpsessdINI, "phpsessd-ini", "", "extra [session_pgsql] directives for the phpsessd pool and daemon, separated by ';' (e.g. \"session_pgsql.synchronous_commit = off\")")
	flag.Parse()
	o.handlers = strings.Split(handlers, ",")
	o.modes = strings.Split(modes, ",")
	if o.rounds < 1 {
		fmt.Fprintln(os.Stderr, "benchrun: -rounds must be at least 1")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
}

func run(o options) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer func() {
		// Runs after the deferred stops below: everything is stopped and removed.
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("interrupted; everything it started is stopped and removed")
		}
	}()
	started := time.Now()
	procs0, load0 := bench.Procs(), loadAvg()
	raiseNoFile(uint64(o.rssConns + 256))

	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	pages := filepath.Join(root, "testdata", "bench")
	script := filepath.Join(pages, "bench.php")
	if _, err := os.Stat(testenv.FPMBin); err != nil {
		return fmt.Errorf("%s not found: make deps installs php8.2-fpm", testenv.FPMBin)
	}
	const symfonyAutoload = "/usr/share/php/Symfony/Component/HttpFoundation/autoload.php"
	if contains(o.handlers, bench.HandlerSymfony) {
		if _, err := os.Stat(symfonyAutoload); err != nil {
			return fmt.Errorf("%s not found: make deps installs php-symfony-http-foundation", symfonyAutoload)
		}
	}

	tmp, err := os.MkdirTemp("", "phpsessd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "phpsessd")
	memBin := filepath.Join(tmp, "memdaemon")
	for pkg, out := range map[string]string{"./cmd/phpsessd": bin, "./internal/cmd/memdaemon": memBin} {
		logf("building %s", pkg)
		build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}

	logf("starting PostgreSQL (fsync=on, synchronous_commit=on)")
	pg, err := startDurablePG(o.pgTCP)
	if err != nil {
		return err
	}
	defer pg.Stop()
	pgPid, err := pidFile(filepath.Join(pg.Dir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	for _, db := range []string{"php_session", "php_session2", "symfony_session"} {
		if err := pg.ExecSQL("postgres", "CREATE DATABASE "+db); err != nil {
			return err
		}
	}
	suite := &bench.Suite{Started: started, Machine: machine(), Pools: map[string]json.RawMessage{}, Profiles: map[string]string{}}
	suite.Postgres, err = pgSettings(pg, "server_version", "fsync", "synchronous_commit", "full_page_writes",
		"wal_sync_method", "shared_buffers", "max_connections", "checkpoint_timeout", "max_wal_size")
	if err != nil {
		return err
	}
	// Files saved with the results beside the table, by name.
	saved := map[string][]byte{}

	// What every pool shares; later lines of a pool's php.ini win over testenv's.
	common := "display_errors = On\nhtml_errors = Off\n"
	symfonyDSN := fmt.Sprintf("pgsql:host=%s;port=%d;dbname=symfony_session", pg.Host, pg.Port)
	daemonSock := filepath.Join(tmp, "phpsessd.sock")
	memSock := filepath.Join(tmp, "memdaemon.sock")
	metricsPort, err := testenv.FreePort()
	if err != nil {
		return err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	// phpsessdINI is the [session_pgsql] section of a phpsessd pool, which its daemon
	// reads too.
	phpsessdINI := func(sock, metrics string) string {
		ini := fmt.Sprintf("[session_pgsql]\nsession_pgsql.db = %q\nsession_pgsql.listen = \"unix:%s\"\n", pg.AdminDSN("php_session"), sock)
		if metrics != "" {
			ini += fmt.Sprintf("session_pgsql.metrics_listen = %s\n", metrics)
		}
		return ini + strings.ReplaceAll(o.phpsessdINI, ";", "\n") + "\n"
	}
	// preloadINI preloads the PHP client, as php-client/README.md describes.
	preloadINI := fmt.Sprintf("opcache.preload = %q\nopcache.preload_user = %s\n",
		filepath.Join(root, "php-client", "preload.php"), currentUser())
	pools := map[string]testenv.FPMOptions{
		bench.HandlerFiles: {Prepend: "none"},
		bench.HandlerSymfony: {Prepend: filepath.Join(pages, "symfony.php"), INI: fmt.Sprintf(
			"phpsessd_bench.symfony_dsn = %q\nphpsessd_bench.symfony_user = postgres\n", symfonyDSN)},
		// The PHP client's default prepend, over the reference daemon.
		bench.HandlerMem: {INI: fmt.Sprintf("[session_pgsql]\nsession_pgsql.listen = \"unix:%s\"\n", memSock)},
		// The PHP client's default prepend; the daemon reads this same php.ini.
		bench.HandlerPhpsessd: {INI: phpsessdINI(daemonSock, metricsAddr)},
	}

	if contains(o.handlers, bench.HandlerSymfony) {
		out, err := exec.CommandContext(ctx, "php", filepath.Join(pages, "symfony_setup.php"), symfonyDSN, "postgres").CombinedOutput()
		if err != nil {
			return fmt.Errorf("creating the Symfony sessions table: %v\n%s", err, out)
		}
	}

	fpms := map[string]*testenv.FPM{}
	defer func() {
		for _, f := range fpms {
			f.Stop()
		}
	}()
	// The daemon each pool talks to, if any.
	daemons := map[string]*daemonProc{}
	startPool := func(h string, po testenv.FPMOptions) (*testenv.FPM, error) {
		po.Workers, po.DocRoot, po.INI = o.workers, pages, common+po.INI
		logf("starting the %s pool (%d workers)", h, o.workers)
		f, err := testenv.StartFPM(po)
		if err != nil {
			return nil, fmt.Errorf("%s pool: %w", h, err)
		}
		fpms[h] = f
		return f, nil
	}
	for _, h := range o.handlers {
		po, ok := pools[h]
		if !ok {
			return fmt.Errorf("unknown handler %q (want files, symfony, memdaemon, phpsessd)", h)
		}
		f, err := startPool(h, po)
		if err != nil {
			return err
		}
		switch h {
		case bench.HandlerPhpsessd:
			logf("starting phpsessd on %s", daemonSock)
			d, err := startDaemon(daemonSock, filepath.Join(tmp, "phpsessd.log"), bin, "-ini", filepath.Join(f.Dir, "php.ini"), "-log-format", "json")
			if err != nil {
				return err
			}
			defer d.Stop()
			daemons[h] = d
		case bench.HandlerMem:
			logf("starting memdaemon on %s", memSock)
			d, err := startDaemon(memSock, filepath.Join(tmp, "memdaemon.log"), memBin, "-listen", "unix:"+memSock)
			if err != nil {
				return err
			}
			defer d.Stop()
			daemons[h] = d
		}
		status, body, stderr, err := bench.Get(ctx, "unix:"+f.Socket, filepath.Join(pages, "check.php"), "", "", nil)
		if err != nil || status != 200 || len(stderr) > 0 || !json.Valid(body) {
			return fmt.Errorf("%s pool: check.php: %d %q %q %v", h, status, body, stderr, err)
		}
		suite.Pools[h] = json.RawMessage(body)
		logf("  %s", body)
	}
	daemon := daemons[bench.HandlerPhpsessd]

	// A rowSpec is one row of a mode: its handler, the pools that split its clients
	// and their daemons.
	type rowSpec struct {
		h     string
		pools []*testenv.FPM
		ds    []*daemonProc
	}

	// slice runs the load against a row's pools for warmup + duration (profiling
	// phpsessd's measured window when profile is set).
	slice := func(mode string, r rowSpec, sessions int, warmup, duration time.Duration, profile bool) (*bench.Result, error) {
		cfg := bench.Config{Script: script, Clients: o.clients, Sessions: sessions,
			Warmup: warmup, Duration: duration, Payload: o.payload, KeepAlive: o.keepAlive}
		if mode == bench.ModeReads {
			cfg.Read = bench.ReadLocked
			if r.h == bench.HandlerPhpsessdUnlocked {
				cfg.Read = bench.ReadUnlocked
			}
		}
		fpmCPU := bench.Component{Name: bench.CPUFPM}
		var addrs []string
		for _, f := range r.pools {
			addrs = append(addrs, "unix:"+f.Socket)
			pid, err := pidFile(filepath.Join(f.Dir, "fpm.pid"))
			if err != nil {
				return nil, err
			}
			fpmCPU.Roots = append(fpmCPU.Roots, pid)
		}
		cfg.FPM = strings.Join(addrs, ",")
		cfg.CPU = []bench.Component{fpmCPU}
		if len(r.ds) > 0 {
			dc := bench.Component{Name: bench.CPUDaemon}
			for _, d := range r.ds {
				dc.Roots = append(dc.Roots, d.cmd.Process.Pid)
			}
			cfg.CPU = append(cfg.CPU, dc)
		}
		cfg.CPU = append(cfg.CPU, bench.Component{Name: bench.CPUPostgres, Roots: []int{pgPid}})

		// phpsessd's CPU profile over this slice's measured window.
		var prof []byte
		var profErr error
		profiled := make(chan struct{})
		if profile {
			go func() {
				defer close(profiled)
				prof, profErr = cpuProfile(ctx, metricsAddr, warmup, duration)
			}()
		} else {
			close(profiled)
		}
		logf("%s/%s: %d clients, %d sessions, %s + %s", mode, r.h, o.clients, sessions, warmup, duration)
		res, err := bench.Run(ctx, cfg)
		<-profiled
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", mode, r.h, err)
		}
		if profErr != nil {
			return nil, fmt.Errorf("phpsessd's CPU profile: %w", profErr)
		}
		if prof != nil {
			saved["phpsessd.pprof"] = prof
			suite.Profiles["phpsessd.pprof"] = fmt.Sprintf("phpsessd's CPU profile over %s of the measured window of %s/%s (go tool pprof -top phpsessd.pprof)", duration, mode, r.h)
		}
		return res, nil
	}

	// measureMode measures the rows of a mode in turn, o.rounds times, each time for a
	// slice of the duration, and adds each row merged from its slices: a slower
	// spell of the machine (another tenant, a checkpoint) then weighs on every row of
	// the mode alike instead of on the one it happened to fall on.
	measureMode := func(mode string, sessions int, rows []rowSpec) error {
		logBefore := make([]int, len(rows))
		for i, r := range rows {
			for _, f := range r.pools {
				logBefore[i] += lines(f.ErrorLog())
			}
		}
		results := make([][]*bench.Result, len(rows))
		for round := range o.rounds {
			// A checkpoint now rather than in the middle of a measurement.
			if err := pg.ExecSQL("postgres", "CHECKPOINT"); err != nil {
				return err
			}
			for i, r := range rows {
				profile := o.profile && round == 0 && mode == bench.ModeDistinct && r.h == bench.HandlerPhpsessd
				res, err := slice(mode, r, sessions, o.sliceWarmup(round), o.slice(), profile)
				if err != nil {
					return err
				}
				logf("  slice %d/%d: %.1f req/s, p99 %.2f ms, CPU/request %s ms", round+1, o.rounds, res.RequestsPerS, res.Latency.P99, res.CPUSummary())
				results[i] = append(results[i], res)
			}
		}
		for i, r := range rows {
			res := bench.Merge(results[i]...)
			res.Label = mode + "/" + r.h
			row := bench.Row{Mode: mode, Handler: r.h, Result: res}
			for _, f := range r.pools {
				row.PHPLog += lines(f.ErrorLog())
			}
			row.PHPLog -= logBefore[i]
			bench.FormatResult(os.Stderr, res)
			if row.PHPLog > 0 {
				logf("  PHP logged %d lines; the last ones:\n%s", row.PHPLog, tail(r.pools[0].ErrorLog(), 5))
			}
			suite.Runs = append(suite.Runs, row)
		}
		return nil
	}

	// secondDaemon names the pool and daemon of the shared mode's second phpsessd.
	const secondDaemon = "second phpsessd"

	// variant starts phpsessd with extra php.ini lines (a later line wins) behind a
	// pool and daemon of its own, for a mode's rows; stop stops them and notes what
	// the daemon complained about.
	variant := func(h, ini string) (r rowSpec, stop func(), err error) {
		name := strings.ReplaceAll(h, " ", "-")
		sock := filepath.Join(tmp, name+".sock")
		f, err := startPool(h, testenv.FPMOptions{INI: phpsessdINI(sock, "") + ini + "\n"})
		if err != nil {
			return rowSpec{}, nil, err
		}
		logf("starting phpsessd (%s) on %s", strings.TrimSpace(ini), sock)
		d, err := startDaemon(sock, filepath.Join(tmp, name+".log"), bin, "-ini", filepath.Join(f.Dir, "php.ini"), "-log-format", "json")
		if err != nil {
			f.Stop()
			delete(fpms, h)
			return rowSpec{}, nil, err
		}
		return rowSpec{h: h, pools: []*testenv.FPM{f}, ds: []*daemonProc{d}}, func() {
			d.Stop()
			f.Stop()
			delete(fpms, h)
			if n := d.complaints(); n > 0 {
				suite.Notes = append(suite.Notes, fmt.Sprintf("phpsessd (%s) logged %d warnings or errors; the last: %s", h, n, d.lastComplaint()))
			}
		}, nil
	}

	for _, mode := range o.modes {
		sessions := o.sessions
		switch mode {
		case bench.ModeDistinct:
		case bench.ModeShared, bench.ModeReads:
			sessions = o.sharedSessions
		default:
			return fmt.Errorf("unknown mode %q (want distinct, shared, reads)", mode)
		}
		var rows []rowSpec
		for _, h := range o.handlers {
			var ds []*daemonProc
			if d := daemons[h]; d != nil {
				ds = append(ds, d)
			}
			rows = append(rows, rowSpec{h: h, pools: []*testenv.FPM{fpms[h]}, ds: ds})
			if mode == bench.ModeReads && h == bench.HandlerPhpsessd {
				// The same pool, its pages reading without the lock.
				rows = append(rows, rowSpec{h: bench.HandlerPhpsessdUnlocked, pools: []*testenv.FPM{fpms[h]}, ds: ds})
			}
		}
		// Variants of phpsessd, each behind a pool and daemon of its own, for this
		// mode only.
		type variantSpec struct{ h, ini string }
		var variants []variantSpec
		if mode == bench.ModeDistinct && daemon != nil {
			// What the decoded column costs per write, two servers, and the PHP
			// client preloaded.
			if o.decoded {
				variants = append(variants, variantSpec{bench.HandlerPhpsessdDecoded, "session_pgsql.decoded_column = on"})
			}
			if o.preload {
				variants = append(variants, variantSpec{bench.HandlerPhpsessdPreload, preloadINI})
			}
			if o.twoServers {
				variants = append(variants, variantSpec{bench.HandlerTwoServers, fmt.Sprintf("session_pgsql.db = %q",
					pg.AdminDSN("php_session")+";"+pg.AdminDSN("php_session2"))})
			}
		}
		if mode == bench.ModeShared && o.twoDaemons && daemon != nil {
			// A second daemon on the same database behind a pool of its own, beside
			// the first one's pool: half the clients each (below).
			variants = append(variants, variantSpec{secondDaemon, ""})
		}
		var stops []func()
		stopAll := func() {
			for _, stop := range stops {
				stop()
			}
		}
		for _, v := range variants {
			r, stop, err := variant(v.h, v.ini)
			if err != nil {
				stopAll()
				return err
			}
			if v.h == secondDaemon {
				r = rowSpec{h: bench.HandlerTwoDaemons, pools: []*testenv.FPM{fpms[bench.HandlerPhpsessd], r.pools[0]},
					ds: []*daemonProc{daemon, r.ds[0]}}
			}
			rows, stops = append(rows, r), append(stops, stop)
		}
		err := measureMode(mode, sessions, rows)
		stopAll()
		if err != nil {
			return err
		}
	}

	if o.callgrind > 0 {
		if _, err := exec.LookPath("valgrind"); err != nil {
			suite.Notes = append(suite.Notes, "valgrind not found (make bench installs it): no instruction counts of PHP")
		} else {
			counted := map[string]testenv.FPMOptions{}
			for _, h := range o.handlers {
				if po, ok := pools[h]; ok && (h != bench.HandlerPhpsessd || daemon != nil) {
					po.DocRoot, po.INI = pages, common+po.INI
					counted[h] = po
				}
			}
			if po, ok := counted[bench.HandlerPhpsessd]; ok && o.preload {
				po.INI += preloadINI
				counted[bench.HandlerPhpsessdPreload] = po
			}
			cg, files, err := countInstructions(ctx, o.callgrind, tmp, script, counted,
				[]string{bench.HandlerFiles, bench.HandlerSymfony, bench.HandlerMem, bench.HandlerPhpsessd, bench.HandlerPhpsessdPreload})
			if err != nil {
				return err
			}
			suite.Callgrind = cg
			for name, b := range files {
				saved[name] = b
			}
			for _, c := range cg {
				suite.Profiles[c.File] = fmt.Sprintf("callgrind of a PHP-FPM worker under %s, %d requests (callgrind_annotate %s)", c.Handler, c.Requests, c.File)
			}
		}
	}

	if daemon != nil && o.protocol {
		data := strings.Repeat("x", o.payload)
		logf("protocol: %d clients on %d sessions against phpsessd, %s + %s", o.clients, o.sessions, o.warmup, o.duration)
		if err := pg.ExecSQL("postgres", "CHECKPOINT"); err != nil {
			return err
		}
		suite.Proto, err = bench.Proto(ctx, bench.ProtoConfig{
			Listen: "unix:" + daemonSock, Clients: o.clients, Sessions: o.sessions,
			Warmup: o.warmup, Duration: o.duration, Data: data, IDPrefix: "bench-",
		})
		if err != nil {
			return fmt.Errorf("protocol benchmark: %w", err)
		}
		if err := pg.ExecSQL("postgres", "CHECKPOINT"); err != nil {
			return err
		}
		suite.Pgbench, err = runPgbench(ctx, pg, tmp, o, data)
		if err != nil {
			return err
		}
	}
	if daemon != nil && o.rssConns > 0 {
		logf("daemon memory with %d idle connections", o.rssConns)
		before, after, err := bench.IdleRSS("unix:"+daemonSock, "", daemon.cmd.Process.Pid, o.rssConns)
		if err != nil {
			return fmt.Errorf("idle connections: %w", err)
		}
		suite.RSS = &bench.RSS{Connections: o.rssConns, BeforeKiB: before, AfterKiB: after}
	}
	if daemon != nil {
		if n := daemon.complaints(); n > 0 {
			suite.Notes = append(suite.Notes, fmt.Sprintf("phpsessd logged %d warnings or errors; the last: %s", n, daemon.lastComplaint()))
		}
	}
	busy, foreign := foreignCPU(procs0, bench.Procs())
	wall := time.Since(started).Seconds()
	suite.Machine["loadavg_start"], suite.Machine["loadavg_end"] = load0, loadAvg()
	suite.Machine["foreign_cpu_s"] = fmt.Sprintf("%.1f", foreign)
	if foreign > 0.05*wall*float64(runtime.NumCPU()) {
		suite.Notes = append(suite.Notes, fmt.Sprintf(
			"other processes used %.0f of the %.0f CPU-seconds of the run (%s; load average %s at the start): the figures are noisier than on an idle machine",
			foreign, wall*float64(runtime.NumCPU()), strings.Join(busy[:min(len(busy), 4)], ", "), load0))
	}
	suite.Notes = append(suite.Notes, fmt.Sprintf(
		"PostgreSQL %s: fsync=%s, synchronous_commit=%s, full_page_writes=%s, wal_sync_method=%s; PHP's files handler never fsyncs",
		suite.Postgres["server_version"], suite.Postgres["fsync"], suite.Postgres["synchronous_commit"],
		suite.Postgres["full_page_writes"], suite.Postgres["wal_sync_method"]))

	suite.Compute()
	var table bytes.Buffer
	fmt.Fprintf(&table, "make bench, %s, %s cores (%s), GOMAXPROCS %d\n", started.Format(time.RFC3339),
		suite.Machine["cores"], suite.Machine["cpu"], runtime.GOMAXPROCS(0))
	conns := "one FastCGI connection per client (keep-alive)"
	if !o.keepAlive {
		conns = "one FastCGI connection per request"
	}
	fmt.Fprintf(&table, "each row: %s measured in %d slices of %s taken in turn with the other rows of its mode (warmup %s, then %s before each slice), %d-byte payload, PHP-FPM static pools of %d workers, opcache on, %s\n\n",
		o.duration, o.rounds, o.slice(), o.sliceWarmup(0), o.sliceWarmup(1), o.payload, o.workers, conns)
	if o.phpsessdINI != "" {
		fmt.Fprintf(&table, "phpsessd with: %s\n\n", o.phpsessdINI)
	}
	bench.FormatSuite(&table, suite)
	fmt.Print("\n" + table.String())
	dir, err := writeResults(o.out, started, suite, table.String(), saved)
	if err != nil {
		return err
	}
	fmt.Printf("\nresults in %s and %s\n", dir, filepath.Join(o.out, "latest"))
	return nil
}

func runPgbench(ctx context.Context, pg *testenv.PG, tmp string, o options, data string) (*bench.Pgbench, error) {
	scriptPath := filepath.Join(tmp, "pgbench.sql")
	if err := os.WriteFile(scriptPath, []byte(pgsess.PgbenchScript("php_session", o.sessions, data, 1440)), 0o644); err != nil {
		return nil, err
	}
	secs := int(o.duration.Round(time.Second) / time.Second)
	args := []string{"-n", "-f", scriptPath, "-c", fmt.Sprint(o.clients), "-j", "2", "-M", "prepared",
		"-T", fmt.Sprint(max(1, secs)), "-h", pg.Host, "-p", fmt.Sprint(pg.Port), "-U", "postgres", "php_session"}
	shown := "pgbench " + strings.Join(args[:len(args)-7], " ")
	shown = strings.Replace(shown, scriptPath, "<PgbenchScript>", 1)
	logf("%s", shown)
	cmd := exec.CommandContext(ctx, filepath.Join(testenv.PGBin, "pgbench"), args...)
	// The script releases its lock even when another client held it (it does not
	// wait, as the daemon does); PostgreSQL's warning for that is not wanted here.
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c client_min_messages=error")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	tps, err := bench.ParsePgbenchTPS(string(out))
	if err != nil {
		return nil, fmt.Errorf("%v\n%s", err, out)
	}
	if failed := failedTransactions(string(out)); failed != "" {
		logf("pgbench: %s", failed)
	}
	return &bench.Pgbench{Command: shown, TPS: tps}, nil
}

func failedTransactions(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "number of failed transactions") && !strings.Contains(l, ": 0 ") {
			return l
		}
	}
	return ""
}

// daemonProc is a daemon process of the run.
type daemonProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startDaemon runs a daemon (phpsessd or memdaemon) with its output in logPath and
// waits until it listens on sock.
func startDaemon(sock, logPath, bin string, args ...string) (*daemonProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	name := filepath.Base(bin)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemonProc{cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-d.exited:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			d.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s did not listen on %s: %v\n%s", name, sock, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits, killing the daemon if it takes too long.
func (d *daemonProc) Stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(40 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *daemonProc) complaintLines() []string {
	b, _ := os.ReadFile(d.log)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) {
			out = append(out, l)
		}
	}
	return out
}

func (d *daemonProc) complaints() int { return len(d.complaintLines()) }

func (d *daemonProc) lastComplaint() string {
	l := d.complaintLines()
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// writeResults writes the suite as JSON, the table and the chart, and the saved
// files (profiles), into out/<timestamp>/ and out/latest/.
func writeResults(out string, started time.Time, s *bench.Suite, table string, saved map[string][]byte) (string, error) {
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		"results.json": append(js, '\n'),
		"table.txt":    []byte(table),
		"chart.svg":    []byte(bench.Chart(s)),
	}
	maps.Copy(files, saved)
	dir := filepath.Join(out, started.Format("20060102-150405"))
	latest := filepath.Join(out, "latest")
	if err := os.RemoveAll(latest); err != nil {
		return "", err
	}
	for _, d := range []string{dir, latest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// machine describes the host for the record.
func machine() map[string]string {
	m := map[string]string{"cores": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("php", "-r", "echo PHP_VERSION;").Output(); err == nil {
		m["php"] = string(out)
	}
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		m["debian"] = strings.TrimSpace(string(b))
	}
	return m
}

// raiseNoFile raises the soft limit of open files to at least n when the hard limit
// allows (Go already raises it to the hard limit at startup on Linux; this states the
// need).
func raiseNoFile(n uint64) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur >= n {
		return
	}
	r.Cur = min(n, r.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur < n {
		logf("open files limited to %d; the idle-connection figure may fail", r.Cur)
	}
}

func lines(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(strings.TrimRight(s, "\n"), "\n") + 1
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// slice is the measured duration of one of a row's -rounds slices.
func (o *options) slice() time.Duration { return o.duration / time.Duration(o.rounds) }

// sliceWarmup is the warmup before a row's slice of the given round: -warmup before the
// first, which warms the pools, daemons and PostgreSQL up; at most a second before the
// others, which only reopen the clients' connections and sessions.
func (o *options) sliceWarmup(round int) time.Duration {
	if round == 0 {
		return o.warmup
	}
	return min(o.warmup, time.Second)
}

// currentUser is the name of the user benchrun runs as, which PHP-FPM's preloading
// runs as too (opcache.preload_user, which PHP requires when it runs as root).
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}
