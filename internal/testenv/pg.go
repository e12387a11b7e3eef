// Package testenv starts the real parts phpsessd's tests run against: a throw-away
// PostgreSQL cluster, a PHP-FPM pool with the PHP client, and phpsessd daemons. Nothing
// is mocked.
//
// Servers are shared by the tests of one package and stopped by Main, which each test
// package calls from its TestMain. When PHPSESSD_TEST_PGURL names a superuser
// connection string (make test sets it), that server is used instead of starting one.
package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// PGBin is where Debian installs PostgreSQL 15's server binaries.
const PGBin = "/usr/lib/postgresql/15/bin"

var (
	stopMu sync.Mutex
	stops  []func()
)

// atExit registers f to run when Main returns, in reverse order.
func atExit(f func()) {
	stopMu.Lock()
	stops = append(stops, f)
	stopMu.Unlock()
}

// Main runs the package's tests and then stops every server the tests started.
func Main(m *testing.M) int {
	code := m.Run()
	stopMu.Lock()
	defer stopMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	return code
}

// PG is a PostgreSQL server.
type PG struct {
	Host string
	Port int
	// Dir is the data directory of a cluster this package started, else "".
	Dir      string
	settings []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// AdminDSN is a superuser connection string for database db.
func (pg *PG) AdminDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", pg.Host, pg.Port, db)
}

var (
	sharedPG     *PG
	sharedPGErr  error
	sharedPGOnce sync.Once
	dbSeq        atomic.Int64
)

// SharedPG returns the package's PostgreSQL server, starting it on first use.
func SharedPG(tb testing.TB) *PG {
	tb.Helper()
	sharedPGOnce.Do(func() {
		if raw := os.Getenv("PHPSESSD_TEST_PGURL"); raw != "" {
			u, err := url.Parse(raw)
			port, perr := strconv.Atoi(u.Port())
			if err != nil || perr != nil {
				sharedPGErr = fmt.Errorf("PHPSESSD_TEST_PGURL %q: want postgres://postgres@host:port/postgres", raw)
				return
			}
			sharedPG = &PG{Host: u.Hostname(), Port: port}
			return
		}
		sharedPG, sharedPGErr = StartPG()
		if sharedPGErr == nil {
			atExit(sharedPG.Stop)
		}
	})
	if sharedPGErr != nil {
		tb.Fatalf("PostgreSQL: %v", sharedPGErr)
	}
	return sharedPG
}

// PrivatePG starts a cluster of the test's own, for tests that restart or reconfigure
// it, and stops it when the test ends.
func PrivatePG(tb testing.TB, settings ...string) *PG {
	tb.Helper()
	pg, err := StartPG(settings...)
	if err != nil {
		tb.Fatalf("PostgreSQL: %v", err)
	}
	tb.Cleanup(pg.Stop)
	return pg
}

// StartPG initialises and starts a new cluster in a new temporary directory, on a free
// loopback port and a Unix socket in Dir. As root, the cluster runs as the postgres
// user, since PostgreSQL refuses to run as root. Stop stops it and removes the
// directory.
//
// Tests run it with fsync off; settings ("fsync=on", …) are passed as -c options after
// the defaults and override them.
func StartPG(settings ...string) (*PG, error) {
	if _, err := os.Stat(filepath.Join(PGBin, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 server binaries not found in %s (apt-get install postgresql-15)", PGBin)
	}
	dir, err := os.MkdirTemp("", "phpsessd-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(PGBin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	pg := &PG{Host: "127.0.0.1", Port: port, Dir: dir, settings: settings}
	if err := pg.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return pg, nil
}

// start runs the postmaster and waits until it accepts connections.
func (pg *PG) start() error {
	cred, err := pgCredential()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(pg.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", filepath.Join(pg.Dir, "data"),
		"-p", strconv.Itoa(pg.Port), "-k", pg.Dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "max_connections=300", "-c", "shared_buffers=64MB"}
	for _, s := range pg.settings {
		args = append(args, "-c", s)
	}
	cmd := exec.Command(filepath.Join(PGBin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pg.cmd, pg.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(pg.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := pg.Query("postgres", "SELECT 1")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(pg.Dir, "postgres.log"))
			cmd.Process.Kill()
			return fmt.Errorf("postgres did not accept connections: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the postmaster with a fast shutdown (connections are cut) and starts it
// again on the same port and data.
func (pg *PG) Restart() error {
	if err := pg.Halt(); err != nil {
		return err
	}
	return pg.start()
}

// Halt stops the postmaster with a fast shutdown (connections are cut), keeping its
// port and data for Start: a server that went down.
func (pg *PG) Halt() error {
	pg.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pg.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("postgres did not stop")
	}
}

// Start starts a halted cluster again on its port and data, and waits until it
// accepts connections.
func (pg *PG) Start() error { return pg.start() }

// Stop stops a cluster started by StartPG and removes its directory.
func (pg *PG) Stop() {
	if pg.cmd == nil {
		return
	}
	pg.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-pg.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
	}
	os.RemoveAll(pg.Dir)
}

// NewDatabase creates an empty database for one test, dropped when the test ends, and
// returns a superuser connection string for it.
func (pg *PG) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	pg.Exec(tb, "postgres", "CREATE DATABASE "+name)
	tb.Cleanup(func() { pg.ExecSQL("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return pg.AdminDSN(name)
}

// Exec runs SQL statements as superuser in database db, failing the test on error.
func (pg *PG) Exec(tb testing.TB, db, sql string) {
	tb.Helper()
	if err := pg.ExecSQL(db, sql); err != nil {
		tb.Fatal(err)
	}
}

// ExecSQL runs SQL statements as superuser in database db, with psql (test set-up
// stays out of the daemon's own SQL, which lives in pgsess).
func (pg *PG) ExecSQL(db, sql string) error {
	_, err := pg.Query(db, sql)
	return err
}

// Query runs SQL as superuser in database db and returns psql's unaligned output.
func (pg *PG) Query(db, sql string) (string, error) {
	cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", pg.AdminDSN(db), "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", firstLine(sql), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// DBName returns the dbname of a keyword=value connection string.
func DBName(dsn string) string {
	for _, kv := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(kv, "dbname="); ok {
			return v
		}
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// pgCredential is the postgres user when running as root, else nil (the current user).
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
