package main

import (
	"bufio"
	"bytes"
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
	"github.com/phpsessd/phpsessd/internal/testenv"
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

// countInstructions counts, for each pool in pools (handler → its options, as the
// run's pools are configured), the instructions a request of the bench page costs
// PHP-FPM: a pool of one worker under callgrind, n requests on 16 sessions to warm up
// (opcache, the sessions), counters zeroed, n requests counted, counters dumped. It
// returns the counts and callgrind's output of each counted window, by file name.
func countInstructions(ctx context.Context, n int, tmp, script string, pools map[string]testenv.FPMOptions, order []string) ([]bench.Callgrind, map[string][]byte, error) {
	var out []bench.Callgrind
	files := map[string][]byte{}
	for _, h := range order {
		po, ok := pools[h]
		if !ok {
			continue
		}
		logf("callgrind: PHP-FPM, %s, %d requests to warm up and %d counted", h, n, n)
		c := bench.Callgrind{Handler: h, Requests: n, File: "callgrind.out." + strings.ReplaceAll(h, " ", "-")}
		prefix := filepath.Join(tmp, "cg-"+strings.ReplaceAll(h, " ", "-"))
		po.Workers = 1
		po.Wrap = []string{"valgrind", "--tool=callgrind", "--trace-children=yes", "--callgrind-out-file=" + prefix + ".%p"}
		f, err := testenv.StartFPM(po)
		if err != nil {
			return nil, nil, fmt.Errorf("callgrind of %s: %w", h, err)
		}
		dump, err := countRequests(ctx, f, script, n, prefix)
		f.Stop()
		if err != nil {
			return nil, nil, fmt.Errorf("callgrind of %s: %w", h, err)
		}
		b, err := os.ReadFile(dump)
		if err != nil {
			return nil, nil, err
		}
		if c.Instructions, err = callgrindTotal(bytes.NewReader(b)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", dump, err)
		}
		c.PerRequest = float64(c.Instructions) / float64(n)
		files[c.File] = b
		out = append(out, c)
	}
	return out, files, nil
}

// countRequests drives the pool f (one worker, under callgrind) with n requests to warm
// up, then zeroes the worker's counters, makes n more and dumps them, and returns the
// dump's file.
func countRequests(ctx context.Context, f *testenv.FPM, script string, n int, prefix string) (string, error) {
	ids := bench.SessionIDs(16)
	var worker string
	requests := func() error {
		for i := range n {
			status, body, stderr, err := bench.Get(ctx, "unix:"+f.Socket, script, "payload=1024", "PHPSESSID="+ids[i%len(ids)], nil)
			if err == nil && (status != 200 || len(stderr) > 0) {
				err = fmt.Errorf("HTTP %d: %s %s", status, body, stderr)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	control := func(arg string) error {
		out, err := exec.CommandContext(ctx, "callgrind_control", arg, worker).CombinedOutput()
		if err != nil {
			return fmt.Errorf("callgrind_control %s %s: %v\n%s", arg, worker, err, out)
		}
		return nil
	}
	if err := requests(); err != nil { // the worker runs once it answered
		return "", err
	}
	master, err := pidFile(filepath.Join(f.Dir, "fpm.pid"))
	if err != nil {
		return "", err
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		return "", err
	}
	worker = strings.TrimSpace(string(children))
	if worker == "" || strings.Contains(worker, " ") {
		return "", fmt.Errorf("want one worker of PHP-FPM %d, found %q", master, worker)
	}
	if err := control("-z"); err != nil {
		return "", err
	}
	if err := requests(); err != nil {
		return "", err
	}
	if err := control("-d"); err != nil {
		return "", err
	}
	// The worker's out file is prefix.<pid>; a dump is prefix.<pid>.<number>.
	dumps, err := filepath.Glob(prefix + "." + worker + ".*")
	if err != nil || len(dumps) == 0 {
		return "", fmt.Errorf("no callgrind dump of worker %s", worker)
	}
	return dumps[len(dumps)-1], nil
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
