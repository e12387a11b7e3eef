// Command benchrun is make bench: on this machine, in one run, it starts a PostgreSQL
// cluster with durable commits, a phpsessd daemon and three PHP-FPM pools that differ
// only in their session handler (PHP's files handler, Symfony's PdoSessionHandler on
// the same PostgreSQL, and phpsessd's PHP client), and drives each pool in turn with
// the same load (internal/bench), in two modes: distinct (16 clients on 256 sessions)
// and shared (16 clients on 4 sessions, which tests locking). Then it measures the
// daemon's own protocol throughput beside pgbench running the same SQL, and the
// daemon's memory with 1,000 idle client connections. It prints a table and writes it
// as JSON, text and an SVG chart under -out/<timestamp>/ and -out/latest/. Everything
// it starts is stopped and removed at the end, on failure or on Ctrl-C.
//
//	go run ./internal/cmd/benchrun [-out results] [-duration 10s] [-warmup 2s]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
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
}

func main() {
	var o options
	var handlers, modes string
	flag.StringVar(&o.out, "out", "results", "results directory")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warmup before each run")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients")
	flag.IntVar(&o.sessions, "sessions", 256, "sessions in the distinct mode")
	flag.IntVar(&o.sharedSessions, "shared-sessions", 4, "sessions in the shared (locking) mode")
	flag.IntVar(&o.payload, "payload", 1024, "bytes of session payload")
	flag.IntVar(&o.workers, "workers", 16, "PHP-FPM workers per pool (static)")
	flag.BoolVar(&o.keepAlive, "keepalive", true, "keep one FastCGI connection per client (false: one per request, as nginx's default)")
	flag.StringVar(&handlers, "handlers", "files,symfony,phpsessd", "session handlers to measure")
	flag.StringVar(&modes, "modes", "distinct,shared", "modes to run")
	flag.BoolVar(&o.protocol, "protocol", true, "run the protocol-level benchmark and pgbench")
	flag.BoolVar(&o.pgTCP, "pg-tcp", false, "connect everything to PostgreSQL over loopback TCP instead of its Unix socket")
	flag.IntVar(&o.rssConns, "rss-conns", 1000, "idle connections for the daemon's memory figure (0: skip)")
	flag.StringVar(&o.phpsessdINI, "phpsessd-ini", "", "extra [session_pgsql] directives for the phpsessd pool and daemon, separated by ';' (e.g. \"session_pgsql.synchronous_commit = off\")")
	flag.Parse()
	o.handlers = strings.Split(handlers, ",")
	o.modes = strings.Split(modes, ",")
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

	logf("building phpsessd")
	bin := filepath.Join(tmp, "phpsessd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/phpsessd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}

	logf("starting PostgreSQL (fsync=on, synchronous_commit=on)")
	pg, err := startDurablePG(o.pgTCP)
	if err != nil {
		return err
	}
	defer pg.Stop()
	for _, db := range []string{"php_session", "symfony_session"} {
		if err := pg.ExecSQL("postgres", "CREATE DATABASE "+db); err != nil {
			return err
		}
	}
	suite := &bench.Suite{Started: started, Machine: machine(), Pools: map[string]json.RawMessage{}}
	suite.Postgres, err = pgSettings(pg, "server_version", "fsync", "synchronous_commit", "full_page_writes",
		"wal_sync_method", "shared_buffers", "max_connections", "checkpoint_timeout", "max_wal_size")
	if err != nil {
		return err
	}

	// What every pool shares; later lines of a pool's php.ini win over testenv's.
	common := "display_errors = On\nhtml_errors = Off\n"
	symfonyDSN := fmt.Sprintf("pgsql:host=%s;port=%d;dbname=symfony_session", pg.Host, pg.Port)
	daemonSock := filepath.Join(tmp, "phpsessd.sock")
	pools := map[string]testenv.FPMOptions{
		bench.HandlerFiles: {Prepend: "none"},
		bench.HandlerSymfony: {Prepend: filepath.Join(pages, "symfony.php"), INI: fmt.Sprintf(
			"phpsessd_bench.symfony_dsn = %q\nphpsessd_bench.symfony_user = postgres\n", symfonyDSN)},
		// The PHP client's default prepend; the daemon reads this same php.ini.
		bench.HandlerPhpsessd: {INI: fmt.Sprintf("[session_pgsql]\nsession_pgsql.db = %q\nsession_pgsql.listen = \"unix:%s\"\n%s\n",
			pg.AdminDSN("php_session"), daemonSock, strings.ReplaceAll(o.phpsessdINI, ";", "\n"))},
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
	var daemon *daemonProc
	for _, h := range o.handlers {
		po, ok := pools[h]
		if !ok {
			return fmt.Errorf("unknown handler %q (want files, symfony, phpsessd)", h)
		}
		po.Workers, po.DocRoot, po.INI = o.workers, pages, common+po.INI
		logf("starting the %s pool (%d workers)", h, o.workers)
		f, err := testenv.StartFPM(po)
		if err != nil {
			return fmt.Errorf("%s pool: %w", h, err)
		}
		fpms[h] = f
		if h == bench.HandlerPhpsessd {
			logf("starting phpsessd on %s", daemonSock)
			daemon, err = startDaemon(bin, filepath.Join(f.Dir, "php.ini"), daemonSock, filepath.Join(tmp, "phpsessd.log"))
			if err != nil {
				return err
			}
			defer daemon.Stop()
		}
		status, body, stderr, err := bench.Get(ctx, "unix:"+f.Socket, filepath.Join(pages, "check.php"), "", "", nil)
		if err != nil || status != 200 || len(stderr) > 0 || !json.Valid(body) {
			return fmt.Errorf("%s pool: check.php: %d %q %q %v", h, status, body, stderr, err)
		}
		suite.Pools[h] = json.RawMessage(body)
		logf("  %s", body)
	}

	for _, mode := range o.modes {
		sessions := o.sessions
		switch mode {
		case bench.ModeDistinct:
		case bench.ModeShared:
			sessions = o.sharedSessions
		default:
			return fmt.Errorf("unknown mode %q (want distinct, shared)", mode)
		}
		for _, h := range o.handlers {
			f := fpms[h]
			// A checkpoint now rather than in the middle of a measurement.
			if err := pg.ExecSQL("postgres", "CHECKPOINT"); err != nil {
				return err
			}
			logBefore := lines(f.ErrorLog())
			logf("%s/%s: %d clients, %d sessions, %s + %s", mode, h, o.clients, sessions, o.warmup, o.duration)
			res, err := bench.Run(ctx, bench.Config{
				FPM: "unix:" + f.Socket, Script: script, Clients: o.clients, Sessions: sessions,
				Warmup: o.warmup, Duration: o.duration, Payload: o.payload, KeepAlive: o.keepAlive,
			})
			if err != nil {
				return fmt.Errorf("%s/%s: %w", mode, h, err)
			}
			res.Label = mode + "/" + h
			row := bench.Row{Mode: mode, Handler: h, Result: res, PHPLog: lines(f.ErrorLog()) - logBefore}
			bench.FormatResult(os.Stderr, res)
			if row.PHPLog > 0 {
				logf("  PHP logged %d lines; the last ones:\n%s", row.PHPLog, tail(f.ErrorLog(), 5))
			}
			suite.Runs = append(suite.Runs, row)
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
	fmt.Fprintf(&table, "each run: %s warmup + %s, %d-byte payload, PHP-FPM static pools of %d workers, opcache on, %s\n\n",
		o.warmup, o.duration, o.payload, o.workers, conns)
	if o.phpsessdINI != "" {
		fmt.Fprintf(&table, "phpsessd with: %s\n\n", o.phpsessdINI)
	}
	bench.FormatSuite(&table, suite)
	fmt.Print("\n" + table.String())
	dir, err := writeResults(o.out, started, suite, table.String())
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

// daemonProc is the phpsessd process of the run.
type daemonProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func startDaemon(bin, ini, sock, logPath string) (*daemonProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-ini", ini, "-log-format", "json")
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
			return nil, fmt.Errorf("phpsessd exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			d.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("phpsessd did not listen on %s: %v\n%s", sock, err, b)
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

func writeResults(out string, started time.Time, s *bench.Suite, table string) (string, error) {
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		"results.json": append(js, '\n'),
		"table.txt":    []byte(table),
		"chart.svg":    []byte(bench.Chart(s)),
	}
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
