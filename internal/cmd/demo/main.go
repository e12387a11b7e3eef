// Command demo runs the whole bridge on this machine for a visitor: a private
// PostgreSQL cluster, phpsessd, a PHP-FPM pool with the PHP client, and an HTTP front
// built on gofast serving testdata/www/index.php. Ctrl-C stops everything.
//
//	go run ./internal/cmd/demo -phpsessd bin/phpsessd [-addr 127.0.0.1:8080]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

func main() {
	bin := flag.String("phpsessd", "bin/phpsessd", "the phpsessd binary")
	addr := flag.String("addr", "127.0.0.1:0", "where the HTTP front listens")
	flag.Parse()
	if err := run(*bin, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	pg, err := testenv.StartPG()
	if err != nil {
		return err
	}
	defer pg.Stop()
	if err := pg.ExecSQL("postgres", "CREATE DATABASE php_session"); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "phpsessd-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "phpsessd.sock")
	// One php.ini for PHP-FPM and phpsessd, as on a real site.
	fpm, err := testenv.StartFPM(testenv.FPMOptions{Workers: 4, INI: fmt.Sprintf(`
[session_pgsql]
session_pgsql.db = "%s"
session_pgsql.listen = "unix:%s"
`, pg.AdminDSN("php_session"), sock)})
	if err != nil {
		return err
	}
	defer fpm.Stop()

	daemon := exec.Command(bin, "-ini", filepath.Join(fpm.Dir, "php.ini"), "-log-format", "console")
	daemon.Stdout, daemon.Stderr = os.Stderr, os.Stderr
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := daemon.Start(); err != nil {
		return err
	}
	defer func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() }()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fpm.Handler(nil), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("\nphpsessd demo: open http://%s/ (Ctrl-C stops everything)\n\n", ln.Addr())
	<-ctx.Done()
	fmt.Println("\nstopping")
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
