package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PgBouncerBin is Debian's PgBouncer.
const PgBouncerBin = "/usr/sbin/pgbouncer"

// PgBouncer is a running PgBouncer in transaction pooling mode in front of a PG.
type PgBouncer struct {
	Port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartPgBouncer starts PgBouncer in transaction pooling mode on a free port in front
// of pg, for every database, stopped when the test ends. Like PostgreSQL it refuses to
// run as root, so as root it runs as the postgres user.
func StartPgBouncer(tb testing.TB, pg *PG) *PgBouncer {
	tb.Helper()
	if _, err := os.Stat(PgBouncerBin); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not found; make test installs pgbouncer", PgBouncerBin)
		}
		tb.Skipf("%s not found (apt-get install pgbouncer, or run make test)", PgBouncerBin)
	}
	cred, err := pgCredential()
	if err != nil {
		tb.Fatal(err)
	}
	dir := ShortTempDir(tb)
	if cred != nil {
		os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 500
default_pool_size = 10
logfile = %s
pidfile = %s
`, pg.Host, pg.Port, port, filepath.Join(dir, "users.txt"), filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	files := map[string]string{"pgbouncer.ini": ini, "users.txt": `"postgres" ""` + "\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	b := &PgBouncer{Port: port, dir: dir, exited: make(chan struct{})}
	b.cmd = exec.Command(PgBouncerBin, filepath.Join(dir, "pgbouncer.ini"))
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	tb.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
		}
	})
	if err := waitDial("tcp", fmt.Sprintf("127.0.0.1:%d", port), 15*time.Second, b.exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
		tb.Fatalf("pgbouncer did not start: %v\n%s", err, log)
	}
	return b
}

// DSN rewrites a keyword=value connection string of the PG behind b to go through b.
func (b *PgBouncer) DSN(dsn string) string {
	var out []string
	for _, kv := range strings.Fields(dsn) {
		switch {
		case strings.HasPrefix(kv, "port="):
			kv = fmt.Sprintf("port=%d", b.Port)
		case strings.HasPrefix(kv, "host="):
			kv = "host=127.0.0.1"
		}
		out = append(out, kv)
	}
	return strings.Join(out, " ")
}
