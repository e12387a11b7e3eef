// Command loadgen drives a PHP-FPM pool with the session benchmark's page by hand, as
// make bench does for each handler: go run ./internal/cmd/loadgen -h. It is kept
// out of the phpsessd binary, which ships nothing of the benchmark.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/phpsessd/phpsessd/internal/bench"
)

// benchUsage is printed by loadgen -h.
const benchUsage = `Usage: go run ./internal/cmd/loadgen -fpm unix:/path/fpm.sock -script /abs/path/bench.php [flags]

Drives a PHP-FPM pool over FastCGI with the page of testdata/bench/bench.php: each
client request carries one of -sessions session cookies (PHPSESSID), taken
round-robin; the page increments the session's counter and keeps a payload. Prints
requests/s, latency, errors and lost updates (every session is read back at the end
and its counter compared with the requests made on it). With fewer sessions than
clients, requests of one session overlap: that tests the handler's locking.

Flags:
`

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run is the load generator of internal/bench; it returns the exit code.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var cfg bench.Config
	fs.StringVar(&cfg.FPM, "fpm", "", "PHP-FPM's FastCGI address: unix:/path or tcp:host:port (required)")
	fs.StringVar(&cfg.Script, "script", "", "absolute path of the bench page as PHP-FPM sees it (required)")
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent clients")
	fs.IntVar(&cfg.Sessions, "sessions", 256, "distinct sessions (fewer than -clients: clients share them)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warmup before measuring (its requests count for lost updates only)")
	fs.IntVar(&cfg.Payload, "payload", 1024, "bytes of payload the page keeps in the session")
	fs.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "limit of one request")
	fs.BoolVar(&cfg.KeepAlive, "keepalive", true, "reuse one FastCGI connection per client (FCGI_KEEP_CONN; needs -clients <= the pool's workers); false: one connection per request, as nginx's default")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file")
	cfg.Params = map[string]string{}
	fs.Func("param", "extra FastCGI parameter NAME=VALUE sent with every request (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want NAME=VALUE")
		}
		cfg.Params[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.FPM == "" || cfg.Script == "" {
		fmt.Fprintln(stderr, "loadgen: -fpm and -script are required")
		fs.Usage()
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	bench.FormatResult(os.Stdout, res)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	}
	return 0
}
