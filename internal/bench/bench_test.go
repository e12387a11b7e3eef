package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/phpsessd/phpsessd/handler"
)

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 100: 100, 1: 1, 0.5: 1, 99.5: 100} {
		if got := Percentile(d, p); got != want {
			t.Errorf("p%v of 1..100 = %v, want %v", p, got, want)
		}
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one value = %v", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	// Four values: the median is the second (at least half are <= it).
	if got := Percentile([]time.Duration{1, 2, 3, 4}, 50); got != 2 {
		t.Errorf("p50 of 1..4 = %v", got)
	}
}

func TestSummarizeSortsAndConvertsToMilliseconds(t *testing.T) {
	l := Summarize([]time.Duration{ms(4), ms(1), ms(3), ms(2)})
	if l.P50 != 2 || l.P99 != 4 || l.Max != 4 || l.Mean != 2.5 || l.P90 != 4 {
		t.Fatalf("got %+v", l)
	}
	if (Summarize(nil) != Latency{}) {
		t.Fatal("empty summary is not zero")
	}
}

func TestTallyCountsOnlyMissingUpdates(t *testing.T) {
	tl := NewTally(5)
	made := []int{3, 3, 2, 0, 4}
	for s, n := range made {
		for range n {
			tl.Made(s)
		}
	}
	tl.Final(0, 4) // 3 made, read-back sees 3 and returns 4: consistent
	tl.Final(1, 2) // 3 made, only 1 stored: 2 lost
	tl.Final(2, 5) // 2 made, 4 stored (failed requests that did write): not lost
	tl.Final(3, 1) // none made, read-back creates it
	// session 4's read-back failed
	got := tl.Lost()
	want := LostUpdates{Made: 12, Lost: 2, Sessions: 1, Unverified: 1}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestCheckClassifiesResponses(t *testing.T) {
	for _, c := range []struct {
		status       int
		body, stderr string
		err          error
		n            int64
		kind         string
	}{
		{200, "12", "", nil, 12, ""},
		{200, "12\n", "", nil, 12, ""},
		{0, "", "", errors.New("dial"), 0, ErrTransport},
		{500, "12", "", nil, 0, ErrStatus},
		{200, "12", "PHP Warning: x", nil, 0, ErrStderr},
		{200, "\nWarning: session_start(): failed in /x.php on line 2\n1", "", nil, 0, ErrBody},
		{200, "", "", nil, 0, ErrBody},
		{200, "0", "", nil, 0, ErrBody},
	} {
		n, kind, msg := check(c.status, []byte(c.body), []byte(c.stderr), c.err)
		if n != c.n || kind != c.kind || (kind != "" && msg == "") {
			t.Errorf("check(%d, %q, %q, %v) = %d, %q, %q", c.status, c.body, c.stderr, c.err, n, kind, msg)
		}
	}
}

func TestSessionIDsAreFreshAndInPHPsAlphabet(t *testing.T) {
	a, b := SessionIDs(3), SessionIDs(3)
	if a[0] == b[0] {
		t.Fatal("two runs share session ids")
	}
	for _, id := range a {
		for _, r := range id {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ',' || r == '-') {
				t.Fatalf("%q is outside PHP's session id alphabet", id)
			}
		}
	}
}

func TestBaseParamsDescribeTheScript(t *testing.T) {
	p := BaseParams("/srv/bench/bench.php", map[string]string{"X": "y", "SERVER_NAME": "h"})
	if p["SCRIPT_FILENAME"] != "/srv/bench/bench.php" || p["DOCUMENT_ROOT"] != "/srv/bench" ||
		p["SCRIPT_NAME"] != "/bench.php" || p["REQUEST_METHOD"] != "GET" || p["X"] != "y" || p["SERVER_NAME"] != "h" {
		t.Fatalf("got %v", p)
	}
}

// fakePage is the bench page in Go, served over FastCGI by net/http/fcgi: the session's
// counter is incremented under a lock, except for sessions whose writes it drops.
type fakePage struct {
	mu       sync.Mutex
	counters map[string]int
	drop     func(id string) bool // writes of these sessions are lost
	fail     func(n int) string   // a response body that replaces the counter, or ""
	params   map[string]string    // of the first request
	query    string               // of the first request
	reads    int                  // requests with ?read=
}

func (f *fakePage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := "anonymous"
	if c, err := r.Cookie("PHPSESSID"); err == nil {
		id = c.Value
	}
	if r.URL.Query().Get("payload") == "" {
		http.Error(w, "no payload parameter", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := f.counters[id] + 1
	if r.URL.Query().Get("read") != "" {
		n = f.counters[id] // reads only
		f.reads++
	} else if f.drop == nil || !f.drop(id) {
		f.counters[id] = n
	}
	if f.params == nil {
		f.params, f.query = fcgi.ProcessEnv(r), r.URL.RawQuery
	}
	f.mu.Unlock()
	if f.fail != nil {
		if body := f.fail(n); body != "" {
			fmt.Fprint(w, body)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprint(w, n)
}

// serveFCGI serves h over FastCGI on a Unix socket and returns its unix: address.
func serveFCGI(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bench")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "fpm.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go fcgi.Serve(ln, h)
	return "unix:" + sock
}

func shortRun(addr string) Config {
	return Config{
		FPM: addr, Script: "/srv/bench/bench.php", Clients: 4, Sessions: 3,
		Warmup: 20 * time.Millisecond, Duration: 80 * time.Millisecond, Payload: 16,
		Params: map[string]string{"BENCH_EXTRA": "1"},
	}
}

func TestRunReadsEverySessionBack(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepalive=%v", keep), func(t *testing.T) {
			page := &fakePage{counters: map[string]int{}}
			cfg := shortRun(serveFCGI(t, page))
			cfg.KeepAlive = keep
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Lost != 0 || res.Unverified != 0 {
				t.Fatalf("errors %d %v, lost %d, unverified %d", res.Errors, res.ErrorSamples, res.Lost, res.Unverified)
			}
			// Every client makes at least one request; the probe and read-backs add more.
			if res.Made < int64(cfg.Clients) || res.Made != res.Requests+res.WarmupRequest {
				t.Fatalf("made %d, requests %d + warmup %d", res.Made, res.Requests, res.WarmupRequest)
			}
			page.mu.Lock()
			defer page.mu.Unlock()
			total := 0
			for id, n := range page.counters {
				if id != "anonymous" {
					total += n
				}
			}
			if int64(total) != res.Made+int64(cfg.Sessions) {
				t.Fatalf("the page counted %d requests, the generator %d made + %d read-backs", total, res.Made, cfg.Sessions)
			}
			p := page.params
			if p["SCRIPT_FILENAME"] != cfg.Script || page.query != "payload=0&probe=1" || p["BENCH_EXTRA"] != "1" {
				t.Fatalf("FastCGI params: %v", p)
			}
		})
	}
}

func TestReadOnlyRunWritesEachSessionOnceAndCountsNoLoss(t *testing.T) {
	page := &fakePage{counters: map[string]int{}}
	cfg := shortRun(serveFCGI(t, page))
	cfg.Read = ReadUnlocked
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Lost != 0 || res.Unverified != 0 || res.Requests == 0 {
		t.Fatalf("requests %d, errors %d %v, lost %d, unverified %d", res.Requests, res.Errors, res.ErrorSamples, res.Lost, res.Unverified)
	}
	page.mu.Lock()
	defer page.mu.Unlock()
	for id, n := range page.counters {
		if id != "anonymous" && n != 2 {
			t.Fatalf("session %s written %d times, want 2 (before the run, and its read-back)", id, n)
		}
	}
	if int64(page.reads) < res.Requests {
		t.Fatalf("%d reads for %d requests", page.reads, res.Requests)
	}
	cfg.Read = "sometimes"
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("an unknown Read was accepted")
	}
}

func TestRunDrivesSeveralPoolsAsOneLoad(t *testing.T) {
	// Two pools in front of the same sessions, as two web hosts with a daemon each.
	page := &fakePage{counters: map[string]int{}}
	var hits [2]atomic.Int64
	count := func(i int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			page.ServeHTTP(w, r)
		})
	}
	cfg := shortRun(serveFCGI(t, count(0)) + "," + serveFCGI(t, count(1)))
	cfg.CPU = []Component{{Name: CPUFPM, Roots: []int{os.Getpid()}}}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Lost != 0 || res.Unverified != 0 || res.Requests == 0 {
		t.Fatalf("errors %d %v, lost %d, unverified %d, requests %d", res.Errors, res.ErrorSamples, res.Lost, res.Unverified, res.Requests)
	}
	if len(res.PerFPM) != 2 {
		t.Fatalf("per pool: %+v", res.PerFPM)
	}
	var sum int64
	for i, p := range res.PerFPM {
		if p.FPM != strings.Split(cfg.FPM, ",")[i] || p.Clients != cfg.Clients/2 || p.Requests == 0 || hits[i].Load() == 0 {
			t.Errorf("pool %d: %+v, %d hits", i, p, hits[i].Load())
		}
		sum += p.Requests
	}
	if sum != res.Requests || res.PerFPM[0].Share+res.PerFPM[1].Share < 0.999 {
		t.Fatalf("shares %+v of %d requests", res.PerFPM, res.Requests)
	}
	if len(res.CPU) != 2 || res.CPU[0].Name != CPUFPM || res.CPU[1].Name != CPUGenerator {
		t.Fatalf("cpu %+v", res.CPU)
	}
}

func TestRunCountsLostUpdates(t *testing.T) {
	page := &fakePage{counters: map[string]int{}, drop: func(id string) bool { return strings.HasSuffix(id, "-0") }}
	res, err := Run(context.Background(), shortRun(serveFCGI(t, page)))
	if err != nil {
		t.Fatal(err)
	}
	// Session 0 keeps returning 1: every request made on it is lost.
	if res.Lost < 1 || res.LostIn != 1 || res.Errors != 0 {
		t.Fatalf("lost %d in %d sessions, errors %d", res.Lost, res.LostIn, res.Errors)
	}
}

func TestRunCountsErrors(t *testing.T) {
	page := &fakePage{counters: map[string]int{}, fail: func(n int) string {
		if n%2 == 0 {
			return "\nWarning: session_start(): Failed to read session data in /srv/bench.php on line 2\n" + strconv.Itoa(n)
		}
		return ""
	}}
	res, err := Run(context.Background(), shortRun(serveFCGI(t, page)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.ErrorKinds[ErrBody] != res.Errors || len(res.ErrorSamples) == 0 ||
		!strings.Contains(res.ErrorSamples[0], "Warning: session_start()") {
		t.Fatalf("errors %d %v %v", res.Errors, res.ErrorKinds, res.ErrorSamples)
	}
}

func TestRunFailsFastOnAMissingSocket(t *testing.T) {
	cfg := shortRun("unix:" + filepath.Join(t.TempDir(), "nothing.sock"))
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("no error")
	}
	cfg.Script = "bench.php"
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("relative script: %v", err)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	page := &fakePage{counters: map[string]int{}}
	cfg := shortRun(serveFCGI(t, page))
	cfg.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// fakeDaemon speaks the daemon's protocol with handler's framing, keeping sessions in
// memory, and counts the operations it served.
type fakeDaemon struct {
	mu   sync.Mutex
	ops  map[handler.Op]int
	data map[string][]byte
}

func (d *fakeDaemon) serve(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go d.conn(c)
		}
	}()
	return "unix:" + sock
}

func (d *fakeDaemon) conn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		payload, err := handler.ReadFrame(r, 1<<20)
		if err != nil {
			return
		}
		req, err := handler.ParseRequest(payload)
		if err != nil {
			return
		}
		rep := handler.Reply{Status: handler.StatusOK, ID: req.ID}
		d.mu.Lock()
		d.ops[req.Op]++
		switch req.Op {
		case handler.OpHello:
			rep.Fields = [][]byte{[]byte("fake"), []byte("1"), []byte("1048576")}
		case handler.OpRead:
			rep.Fields = [][]byte{d.data[string(req.Fields[0])], nil, []byte("0"), []byte("0"), []byte("0"), nil}
		case handler.OpWrite:
			d.data[string(req.Fields[0])] = bytes.Clone(req.Fields[1])
		}
		d.mu.Unlock()
		if _, err := c.Write(handler.AppendReply(nil, rep)); err != nil {
			return
		}
	}
}

func TestProtoCountsCycles(t *testing.T) {
	d := &fakeDaemon{ops: map[handler.Op]int{}, data: map[string][]byte{}}
	res, err := Proto(context.Background(), ProtoConfig{
		Listen: d.serve(t), Clients: 3, Sessions: 5, Warmup: 10 * time.Millisecond,
		Duration: 50 * time.Millisecond, Data: strings.Repeat("x", 1024),
	})
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if res.Errors != 0 || res.Config.DataSize != 1024 {
		t.Fatalf("errors %d %v", res.Errors, res.Samples)
	}
	if d.ops[handler.OpRead] != d.ops[handler.OpWrite] || d.ops[handler.OpHello] != d.ops[handler.OpRead] || d.ops[handler.OpClose] != 0 ||
		int64(d.ops[handler.OpRead]) < res.Pairs || d.ops[handler.OpRead] < 3 {
		t.Fatalf("ops %v for %d measured pairs", d.ops, res.Pairs)
	}
	for id, v := range d.data {
		if !strings.HasPrefix(id, "bench-") || len(v) != 1024 {
			t.Fatalf("stored %q: %d bytes", id, len(v))
		}
	}
}

func TestIdleRSSOpensAndHelloes(t *testing.T) {
	d := &fakeDaemon{ops: map[handler.Op]int{}, data: map[string][]byte{}}
	before, after, err := IdleRSS(d.serve(t), "", os.Getpid(), 20)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if before <= 0 || after <= 0 || d.ops[handler.OpHello] != 20 {
		t.Fatalf("rss %d → %d KiB, %d HELLOs", before, after, d.ops[handler.OpHello])
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tphpsessd\nVmPeak:\t  1000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n"
	if n, err := ParseVmRSS(status); n != 12345 || err != nil {
		t.Fatalf("got %d, %v", n, err)
	}
	if _, err := ParseVmRSS("Name:\tx\n"); err == nil {
		t.Fatal("no error without VmRSS")
	}
}

func TestParsePgbenchTPS(t *testing.T) {
	out := `pgbench (15.8 (Debian 15.8-0+deb12u1))
transaction type: /tmp/x/script.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
duration: 10 s
number of transactions actually processed: 41234
latency average = 3.880 ms
initial connection time = 12.345 ms
tps = 4123.456789 (without initial connection time)
`
	if tps, err := ParsePgbenchTPS(out); err != nil || tps != 4123.456789 {
		t.Fatalf("got %v, %v", tps, err)
	}
	old := "tps = 100.5 (including connections establishing)\ntps = 101.5 (excluding connections establishing)\n"
	if tps, err := ParsePgbenchTPS(old); err != nil || tps != 100.5 {
		t.Fatalf("old format: got %v, %v", tps, err)
	}
	if _, err := ParsePgbenchTPS("pgbench: error: connection failed"); err == nil {
		t.Fatal("no error")
	}
}

func result(clients, sessions int, rps, p99 float64, lost int64) *Result {
	return &Result{
		Config:       Config{Clients: clients, Sessions: sessions, Duration: 10 * time.Second, Payload: 1024},
		RequestsPerS: rps, Requests: int64(rps * 10), Seconds: 10,
		Latency: Latency{P50: p99 / 2, P99: p99}, Lost: lost,
	}
}

// withCPU adds CPU per request (ms) to r: PHP-FPM's, the daemon's (none when
// negative), PostgreSQL's and the generator's.
func withCPU(r *Result, fpm, daemon, pg float64) *Result {
	use := func(name string, ms float64) CPUUse {
		return CPUUse{Name: name, Seconds: ms * float64(r.Requests) / 1000, MsPerRequest: ms}
	}
	r.CPU = append(r.CPU, use(CPUFPM, fpm))
	if daemon >= 0 {
		r.CPU = append(r.CPU, use(CPUDaemon, daemon))
	}
	r.CPU = append(r.CPU, use(CPUPostgres, pg), use(CPUGenerator, 0.05))
	return r
}

func sampleSuite() *Suite {
	two := withCPU(result(16, 4, 700, 90, 0), 0.25, 0.1, 0.2) // p99 1.8× one daemon's, but 2.6× for daemon 1
	two.PerFPM = []FPMShare{
		{FPM: "unix:/a", Clients: 8, Requests: 3150, Share: 0.45, Latency: Latency{P99: 130}},
		{FPM: "unix:/b", Clients: 8, Requests: 3850, Share: 0.55, Latency: Latency{P99: 110}},
	}
	return &Suite{
		Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Runs: []Row{
			{Mode: ModeDistinct, Handler: HandlerFiles, Result: withCPU(result(16, 256, 2000, 10, 0), 0.25, -1, 0.01)},
			{Mode: ModeDistinct, Handler: HandlerSymfony, Result: withCPU(result(16, 256, 800, 30, 0), 0.5, -1, 0.5)},
			{Mode: ModeDistinct, Handler: HandlerMem, Result: withCPU(result(16, 256, 1900, 10, 0), 0.25, 0.08, 0.01)},
			{Mode: ModeDistinct, Handler: HandlerPhpsessd, Result: withCPU(result(16, 256, 1800, 11, 0), 0.25, 0.1, 0.2)},
			{Mode: ModeShared, Handler: HandlerFiles, Result: withCPU(result(16, 4, 1000, 40, 0), 0.25, -1, 0.01)},
			{Mode: ModeShared, Handler: HandlerSymfony, Result: withCPU(result(16, 4, 300, 90, 0), 0.5, -1, 0.5)},
			{Mode: ModeShared, Handler: HandlerMem, Result: withCPU(result(16, 4, 900, 40, 0), 0.25, 0.08, 0.01)},
			{Mode: ModeShared, Handler: HandlerPhpsessd, Result: withCPU(result(16, 4, 800, 50, 3), 0.25, 0.1, 0.2), PHPLog: 2},
			{Mode: ModeShared, Handler: HandlerTwoDaemons, Result: two},
		},
		Proto:   &ProtoResult{Config: ProtoConfig{Clients: 16, Sessions: 256, DataSize: 1024}, PairsPerS: 5000},
		Pgbench: &Pgbench{Command: "pgbench -c 16", TPS: 4000},
		RSS:     &RSS{Connections: 1000, BeforeKiB: 10 * 1024, AfterKiB: 60 * 1024},
		Callgrind: []Callgrind{
			{Handler: HandlerFiles, Requests: 100, PerRequest: 200000, File: "callgrind.out.files"},
			{Handler: HandlerPhpsessd, Requests: 100, PerRequest: 300000, File: "callgrind.out.phpsessd"},
		},
		Profiles: map[string]string{"phpsessd.pprof": "CPU profile of phpsessd"},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSuiteComputesRatiosAndTargets(t *testing.T) {
	s := sampleSuite()
	s.Compute()
	p := s.find(ModeDistinct, HandlerPhpsessd)
	if p.VsFiles != 0.9 || p.VsSymfony != 2.25 || p.P99VsFiles != 1.1 {
		t.Fatalf("distinct phpsessd ratios: %+v", p)
	}
	if !near(p.FPMVsFiles, 1) || !near(p.DaemonVsMem, 1.25) || !near(p.WebVsFiles, 1.4) || !near(p.PGVsSymfony, 0.4) {
		t.Fatalf("distinct phpsessd CPU ratios: %+v", p)
	}
	if f := s.find(ModeDistinct, HandlerFiles); f.VsFiles != 1 || f.VsSymfony != 0 || f.FPMVsFiles != 0 || f.DaemonVsMem != 0 {
		t.Fatalf("files ratios: %+v", f)
	}
	if m := s.find(ModeDistinct, HandlerMem); m.DaemonVsMem != 0 || !near(m.WebVsFiles, 1.32) || m.PGVsSymfony != 0 {
		t.Fatalf("memdaemon ratios: %+v", m)
	}
	if sy := s.find(ModeDistinct, HandlerSymfony); !near(sy.FPMVsFiles, 2) || !near(sy.WebVsFiles, 2) {
		t.Fatalf("symfony ratios: %+v", sy)
	}
	if s.ProtoVsPgbench != 1.25 {
		t.Fatalf("protocol vs pgbench %v", s.ProtoVsPgbench)
	}
	if s.Callgrind[0].VsFiles != 0 || s.Callgrind[1].VsFiles != 1.5 {
		t.Fatalf("callgrind %+v", s.Callgrind)
	}
	met := map[string]bool{}
	for _, tg := range s.Targets {
		met[tg.Measure] = tg.Met
	}
	want := map[string]bool{
		"PHP-FPM CPU per request vs files (distinct)":                              true,
		"daemon CPU per request vs the in-memory daemon (distinct)":                true,
		"web host (PHP-FPM + daemon) CPU per request vs files' PHP-FPM (distinct)": true,
		"PostgreSQL CPU per request vs Symfony's (distinct)":                       false,
		"p99 latency vs files (distinct)":                                          true,
		"requests/s vs Symfony PdoSessionHandler (distinct)":                       true,
		"requests/s vs Symfony PdoSessionHandler (shared)":                         true,
		"lost updates, 16 clients on 4 shared sessions, one daemon":                false,
		"lost updates, 16 clients on 4 shared sessions, two daemons":               true,
		"two daemons on the same sessions: the smaller one's share of requests":    true,
		"two daemons: the worse one's p99 vs one daemon's (shared)":                false,
		"daemon pairs/s vs pgbench running the same SELECT+UPDATE":                 true,
		"daemon RSS with 1000 idle client connections":                             false,
	}
	if len(met) != len(want) {
		t.Fatalf("targets %v", s.Targets)
	}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("target %q: met=%v (present %v), want %v", k, got, ok, v)
		}
	}
}

func TestFormatSuite(t *testing.T) {
	s := sampleSuite()
	s.Compute()
	var b bytes.Buffer
	FormatSuite(&b, s)
	out := b.String()
	for _, want := range []string{
		"mode      handler", "req/s", "×symfony",
		"1800.0", "2.25", "0.90",
		"CPU per request, ms", "php-fpm", "daemon×mem", "0.250", "(0.010)", "1.25", "1.40", "0.40",
		"shared/2×phpsessd: daemon 1 (8 clients) served 3150 requests, 45.0%, p99 130.00 ms",
		"5000.0 pairs/s", "4000.0 tps", "daemon/pgbench 1.25×", "60.0 MiB with 1000 idle",
		"PHP-FPM instructions per request", "phpsessd  300000  1.50× files  callgrind.out.phpsessd",
		"phpsessd.pprof: CPU profile of phpsessd",
		"MISSED  lost updates", "2 PHP log lines",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every table row has the same width: the columns line up.
	lines := strings.Split(out, "\n")
	aligned := func(table []string) {
		for _, l := range table[1:] {
			if utf8.RuneCountInString(l) != utf8.RuneCountInString(table[0]) {
				t.Errorf("ragged table:\n%s", strings.Join(table, "\n"))
				break
			}
		}
	}
	aligned(lines[0:10])
	for i, l := range lines {
		if strings.HasPrefix(l, "CPU per request") {
			aligned(lines[i+1 : i+11])
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	s := sampleSuite()
	svg := Chart(s)
	dec := xml.NewDecoder(strings.NewReader(svg))
	bars := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			bars++
		}
	}
	// The background, 9 bars of requests/s, 9 stacks of 3 or 4 components (a
	// daemon in 5 runs) and the legend's 4.
	if bars != 1+9+9*3+5+4 {
		t.Fatalf("%d rects", bars)
	}
	for _, want := range []string{">1800<", ">phpsessd<", ">2×phpsessd<", "shared (16 clients, 4 sessions)", "CPU per request", "distinct/phpsessd: daemon 0.100 ms per request"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 0, 1: 1, 1.5: 2, 2300: 5000, 5000: 5000, 5001: 10000, 0.3: 0.5} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}

func TestFormatResult(t *testing.T) {
	r := result(16, 256, 1234.5, 9, 2)
	r.Errors, r.ErrorKinds = 1, map[string]int64{ErrStatus: 1}
	r.ErrorSamples = []string{"status: HTTP 502"}
	r.Config.FPM, r.Config.Script = "unix:/x/fpm.sock", "/srv/bench.php"
	var b bytes.Buffer
	FormatResult(&b, r)
	for _, want := range []string{"unix:/x/fpm.sock /srv/bench.php: 16 clients, 256 sessions, 1024-byte payload",
		"1234.5 req/s", "p99 9.00 ms", "errors        1 (status 1)", "HTTP 502", "lost updates  2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRunFailsFastOnABrokenPage(t *testing.T) {
	page := &fakePage{counters: map[string]int{}, fail: func(int) string { return "File not found." }}
	_, err := Run(context.Background(), shortRun(serveFCGI(t, page)))
	if err == nil || !strings.Contains(err.Error(), "File not found.") {
		t.Fatalf("got %v", err)
	}
}

func TestMergeSumsRunsAndSummarizesTheirLatenciesTogether(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	a := &Result{Config: Config{Warmup: 2 * time.Second, Duration: time.Second}, Requests: 3, Seconds: 1,
		Errors: 1, ErrorKinds: map[string]int64{"http": 1}, Made: 10, Lost: 1, LostIn: 1,
		CPU:       []CPUUse{{Name: CPUFPM, Seconds: 0.3, UserSeconds: 0.1}, {Name: CPUGenerator, Seconds: 0.1}},
		PerFPM:    []FPMShare{{FPM: "p1", Clients: 1, Requests: 2}, {FPM: "p2", Clients: 1, Requests: 1}},
		latencies: ms(1, 2, 3), poolLatencies: [][]time.Duration{ms(1, 2), ms(3)}}
	b := &Result{Config: Config{Warmup: time.Second, Duration: time.Second}, Requests: 1, Seconds: 1,
		Errors: 2, ErrorKinds: map[string]int64{"http": 1, "php": 1}, Made: 5,
		CPU:       []CPUUse{{Name: CPUFPM, Seconds: 0.5, UserSeconds: 0.3}, {Name: CPUGenerator, Seconds: 0.3}},
		PerFPM:    []FPMShare{{FPM: "p1", Clients: 1, Requests: 0}, {FPM: "p2", Clients: 1, Requests: 1}},
		latencies: ms(100), poolLatencies: [][]time.Duration{nil, ms(100)}}

	m := Merge(a, b)
	if m.Requests != 4 || m.Seconds != 2 || m.RequestsPerS != 2 || m.Slices != 2 {
		t.Errorf("requests %d in %v s = %v/s over %d slices, want 4 in 2 = 2/s over 2", m.Requests, m.Seconds, m.RequestsPerS, m.Slices)
	}
	if m.Config.Warmup != 3*time.Second || m.Config.Duration != 2*time.Second {
		t.Errorf("warmup %v, duration %v", m.Config.Warmup, m.Config.Duration)
	}
	if m.Errors != 3 || m.ErrorKinds["http"] != 2 || m.ErrorKinds["php"] != 1 || m.Made != 15 || m.Lost != 1 || m.LostIn != 1 {
		t.Errorf("errors %d %v, made %d, lost %d in %d", m.Errors, m.ErrorKinds, m.Made, m.Lost, m.LostIn)
	}
	if fpm, _ := m.cpuUse(CPUFPM); fpm.MsPerRequest != 200 || fpm.UserMsPerRequest != 100 { // 0.8 s, 0.4 s of it user, over 4 requests
		t.Errorf("PHP-FPM %v ms per request, %v of it user; want 200 and 100", fpm.MsPerRequest, fpm.UserMsPerRequest)
	}
	if m.Latency.Max != 100 || m.Latency.P50 != 2 {
		t.Errorf("latency %+v: want max 100, p50 2 over both runs", m.Latency)
	}
	if p := m.PerFPM; len(p) != 2 || p[0].Requests != 2 || p[1].Requests != 2 || p[1].Share != 0.5 || p[1].Latency.Max != 100 {
		t.Errorf("per pool %+v", p)
	}
	if a.Requests != 3 || len(a.latencies) != 3 {
		t.Error("Merge changed a run it merged")
	}
}
