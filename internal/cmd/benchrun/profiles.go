package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/phpsessd/phpsessd/internal/bench"
)

// pidFile reads the pid on the first line of a pid file (PHP-FPM's, PostgreSQL's
// postmaster.pid).
func pidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no pid on its first line", path)
	}
	return pid, nil
}

// cpuProfile waits for warmup, then takes phpsessd's CPU profile over duration from
// its metrics listener (/debug/pprof/profile) and returns it.
func cpuProfile(ctx context.Context, metricsAddr string, warmup, duration time.Duration) ([]byte, error) {
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	secs := max(1, int(duration/time.Second))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metricsAddr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// countInstructions runs testdata/bench/callgrind.php under callgrind for each of
// the handlers it knows that the run measures, with o.callgrind requests and with
// none, and returns the instructions per request and callgrind's output of each
// counted run, by file name.
func countInstructions(ctx context.Context, o options, tmp, pages, symfonyDSN, daemonSock string, daemon bool) ([]bench.Callgrind, map[string][]byte, error) {
	savePath := filepath.Join(tmp, "callgrind-files")
	if err := os.MkdirAll(savePath, 0o700); err != nil {
		return nil, nil, err
	}
	// The settings of testenv's pools that matter to a session, for PHP CLI.
	common := []string{"opcache.enable_cli=1", "error_reporting=-1", "session.use_strict_mode=0",
		"session.lazy_write=1", "session.gc_probability=0", "session.use_cookies=0", "session.cache_limiter="}
	handlers := []struct {
		name string
		ini  []string
		ok   bool
	}{
		{bench.HandlerFiles, []string{"session.save_handler=files", "session.save_path=" + strconv.Quote(savePath)}, true},
		{bench.HandlerSymfony, []string{"phpsessd_bench.symfony_dsn=" + strconv.Quote(symfonyDSN), "phpsessd_bench.symfony_user=postgres"},
			contains(o.handlers, bench.HandlerSymfony)},
		{bench.HandlerPhpsessd, []string{"session_pgsql.listen=" + strconv.Quote("unix:"+daemonSock)}, daemon},
	}
	script := filepath.Join(pages, "callgrind.php")
	var out []bench.Callgrind
	files := map[string][]byte{}
	for _, h := range handlers {
		if !h.ok {
			continue
		}
		logf("callgrind: PHP CLI, %s, %d requests and none", h.name, o.callgrind)
		c := bench.Callgrind{Handler: h.name, Requests: o.callgrind, File: "callgrind.out." + h.name}
		counted := filepath.Join(tmp, c.File)
		ini := append(append([]string{}, common...), h.ini...)
		var err error
		if c.Instructions, err = callgrind(ctx, counted, script, h.name, o.callgrind, ini); err != nil {
			return nil, nil, err
		}
		if c.Baseline, err = callgrind(ctx, filepath.Join(tmp, "callgrind.baseline"), script, h.name, 0, ini); err != nil {
			return nil, nil, err
		}
		c.PerRequest = float64(c.Instructions-c.Baseline) / float64(c.Requests)
		if files[c.File], err = os.ReadFile(counted); err != nil {
			return nil, nil, err
		}
		out = append(out, c)
	}
	return out, files, nil
}

// callgrind runs the script for handler with n requests under callgrind, writing
// callgrind's output to outFile, and returns the instructions it counted.
func callgrind(ctx context.Context, outFile, script, handler string, n int, ini []string) (int64, error) {
	args := []string{"--tool=callgrind", "--callgrind-out-file=" + outFile, "php"}
	for _, kv := range ini {
		args = append(args, "-d", kv)
	}
	args = append(args, script, handler, strconv.Itoa(n))
	cmd := exec.CommandContext(ctx, "valgrind", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("valgrind %s: %v\n%s", strings.Join(args, " "), err, tail(string(b), 20))
	}
	f, err := os.Open(outFile)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return callgrindTotal(f)
}

// callgrindTotal returns the instruction count on the "summary:" line (or, failing
// that, "totals:") of a callgrind output file.
func callgrindTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var totals string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "summary:"); ok {
			return parseFirstInt(v)
		}
		if v, ok := strings.CutPrefix(line, "totals:"); ok {
			totals = v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if totals == "" {
		return 0, fmt.Errorf("callgrind output without a summary: or totals: line")
	}
	return parseFirstInt(totals)
}

func parseFirstInt(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("callgrind output: empty count")
	}
	return strconv.ParseInt(f[0], 10, 64)
}
