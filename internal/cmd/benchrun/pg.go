package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phpsessd/phpsessd/internal/testenv"
)

// durablePG is a throw-away PostgreSQL cluster with PostgreSQL's own durability
// defaults (fsync, synchronous_commit, full_page_writes on): testenv.StartPG turns
// fsync off, which suits tests but would flatter every PostgreSQL-backed handler here.
type durablePG struct {
	*testenv.PG
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startDurablePG initialises a cluster in a new directory under parent and starts it
// on a free loopback port, as the postgres user when running as root.
func startDurablePG(parent string, tcp bool) (*durablePG, error) {
	if _, err := os.Stat(filepath.Join(testenv.PGBin, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 server binaries not found in %s (apt-get install postgresql-15)", testenv.PGBin)
	}
	dir := filepath.Join(parent, "pg")
	if err := os.Mkdir(dir, 0o700); err != nil {
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
		// The postgres user must reach the directory.
		os.Chmod(parent, 0o755)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(testenv.PGBin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync") // --no-sync only skips syncing initdb's own files
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// Durability stays at PostgreSQL's defaults; they are stated for the record.
	cmd := exec.Command(filepath.Join(testenv.PGBin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on",
		"-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Ctrl-C reaches benchrun, which stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Every client (phpsessd, Symfony's PDO, pgbench) reaches it the same way: by
	// default its Unix socket, as a database on the web host would be.
	host := dir
	if tcp {
		host = "127.0.0.1"
	}
	pg := &durablePG{PG: &testenv.PG{Host: host, Port: port}, dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(pg.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), pg.AdminDSN("postgres"))
		if err == nil {
			conn.Close(context.Background())
			return pg, nil
		}
		select {
		case <-pg.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return nil, fmt.Errorf("postgres exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			pg.Stop()
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return nil, fmt.Errorf("postgres did not accept connections: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the cluster down (fast shutdown) and removes its directory.
func (pg *durablePG) Stop() {
	pg.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pg.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
		<-pg.exited
	}
	os.RemoveAll(pg.dir)
}

// Settings returns the values of the named settings.
func (pg *durablePG) Settings(names ...string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.AdminDSN("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	out := map[string]string{}
	for _, n := range names {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", n).Scan(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n] = v
	}
	return out, nil
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
