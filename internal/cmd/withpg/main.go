// Command withpg runs a command with a throw-away PostgreSQL cluster: it starts one on
// a free loopback port (as the postgres user when run as root), exports its superuser
// connection string as PHPSESSD_TEST_PGURL, runs the command, and removes the cluster
// however the command ends. make test runs the test suites under it.
//
//	go run ./internal/cmd/withpg -- go test ./...
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withpg -- command [args...]")
		os.Exit(2)
	}
	pg, err := testenv.StartPG()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		os.Exit(1)
	}
	defer pg.Stop()
	fmt.Fprintf(os.Stderr, "withpg: PostgreSQL on 127.0.0.1:%d\n", pg.Port)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PHPSESSD_TEST_PGURL=postgres://postgres@"+fmt.Sprintf("127.0.0.1:%d/postgres?sslmode=disable", pg.Port))
	// Interrupts reach the command through the terminal's process group; withpg
	// only has to outlive it to clean up.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	code := 0
	if err := cmd.Run(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "withpg:", err)
	}
	pg.Stop()
	os.Exit(code)
}
