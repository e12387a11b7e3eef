// Package bench is phpsessd's load generator: many clients, each carrying its own
// session cookie, drive a PHP-FPM pool over FastCGI (with gofast's client) with a page
// that reads the session, increments a counter, keeps a payload and writes back
// (testdata/bench/bench.php). It measures requests/s and latency, counts errors, and
// at the end reads every session back to count lost updates.
//
// It also holds the protocol-level benchmark of the daemon (Proto), the daemon's RSS
// with idle connections (IdleRSS), and the report formats (text, JSON, SVG) that
// internal/cmd/loadgen and internal/cmd/benchrun print and write.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run against one PHP-FPM pool.
type Config struct {
	// FPM is the pool's FastCGI address: unix:/path/fpm.sock or tcp:host:port. Several
	// addresses separated by commas drive several pools at once, as one load: client c
	// sends every request to address c modulo their number, all on the same sessions,
	// and Result.PerFPM tells each pool's share.
	FPM string `json:"fpm"`
	// Script is the absolute path of the page PHP-FPM runs (SCRIPT_FILENAME).
	Script string `json:"script"`
	// Clients is the number of concurrent clients; each has at most one request in
	// flight.
	Clients int `json:"clients"`
	// Sessions is the number of distinct sessions. Clients take them round-robin from
	// one shared sequence, so with Sessions >= Clients no two requests of a session
	// overlap in the steady state, and with Sessions < Clients they do (locking).
	Sessions int `json:"sessions"`
	// Warmup is run before Duration; its requests count for lost updates only.
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Payload is the size in bytes of the string the page keeps in the session.
	Payload int `json:"payload"`
	// Timeout bounds one request; default 60s.
	Timeout time.Duration `json:"timeout_ns"`
	// KeepAlive reuses one FastCGI connection per client (FCGI_KEEP_CONN), which
	// spares the load generator and PHP-FPM a connect, accept and close per request
	// (about a fifth of the generator's CPU on a small VM). Off, each request gets its
	// own connection, as nginx does by default. With it on, an FPM worker serves one
	// client's connection until it closes, so Clients must not exceed the pool's
	// workers.
	KeepAlive bool `json:"keepalive"`
	// Params are extra FastCGI parameters sent with every request.
	Params map[string]string `json:"params,omitempty"`
	// SessionName is the session cookie's name; default PHPSESSID.
	SessionName string `json:"session_name"`
	// CPU lists the process groups whose CPU the run measures over its measured
	// window, beside the load generator's own (Result.CPU).
	CPU []Component `json:"cpu_components,omitempty"`
	// Read, when set, makes every request only read its session (the page's ?read=):
	// ReadLocked with read_and_close, which waits for the session's lock; ReadUnlocked
	// with session_pgsql_start_read_only(), which does not. Each session is written
	// once before the run, so that there is something to read.
	Read string `json:"read,omitempty"`
}

// The pages' ways of only reading a session (Config.Read).
const (
	ReadLocked   = "locked"
	ReadUnlocked = "unlocked"
)

func (c *Config) defaults() error {
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.Sessions <= 0 {
		c.Sessions = 256
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Payload < 0 {
		return fmt.Errorf("bench: negative payload %d", c.Payload)
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.SessionName == "" {
		c.SessionName = "PHPSESSID"
	}
	if c.Read != "" && c.Read != ReadLocked && c.Read != ReadUnlocked {
		return fmt.Errorf("bench: read %q: want %q or %q", c.Read, ReadLocked, ReadUnlocked)
	}
	if !filepath.IsAbs(c.Script) {
		return fmt.Errorf("bench: -script %q must be an absolute path (PHP-FPM's SCRIPT_FILENAME)", c.Script)
	}
	for _, a := range c.addrs() {
		if _, _, err := SplitAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// addrs returns the FPM addresses of the run.
func (c *Config) addrs() []string { return strings.Split(c.FPM, ",") }

// SplitAddr splits unix:/path or tcp:host:port into a network and an address for
// net.Dial.
func SplitAddr(addr string) (network, address string, err error) {
	network, address, ok := strings.Cut(addr, ":")
	if !ok || address == "" || (network != "unix" && network != "tcp") {
		return "", "", fmt.Errorf("bench: address %q: want unix:/path or tcp:host:port", addr)
	}
	return network, address, nil
}

// Result is what one run measured.
type Result struct {
	Label  string `json:"label,omitempty"`
	Config Config `json:"config"`

	// Requests is the successful requests started in the measured window, Seconds the
	// window (from its start until the last of them ended).
	Requests      int64   `json:"requests"`
	Seconds       float64 `json:"seconds"`
	RequestsPerS  float64 `json:"requests_per_s"`
	Latency       Latency `json:"latency_ms"`
	WarmupRequest int64   `json:"warmup_requests"`

	// Errors counts every failed request: warmup, measured and read-back.
	Errors       int64            `json:"errors"`
	ErrorKinds   map[string]int64 `json:"error_kinds,omitempty"`
	ErrorSamples []string         `json:"error_samples,omitempty"`

	// Lost-update accounting over all sessions (see Tally).
	Made       int64 `json:"made"`
	Lost       int64 `json:"lost_updates"`
	LostIn     int   `json:"sessions_with_lost_updates"`
	Unverified int   `json:"unverified_sessions"`

	// GeneratorCPU is the CPU time (user+system) this process spent during the run,
	// warmup and read-back included: the share of the machine the load generator took
	// from the servers it measures.
	GeneratorCPU float64 `json:"generator_cpu_s"`
	// WallSeconds is the run's whole duration, warmup and read-back included.
	WallSeconds float64 `json:"wall_s"`

	// CPU is the CPU each of Config.CPU's components, and the generator, used from
	// the start of the measured window until its last request ended, and per
	// request of the window.
	CPU []CPUUse `json:"cpu,omitempty"`
	// PerFPM is each pool's part of a run that drives several (Config.FPM).
	PerFPM []FPMShare `json:"per_fpm,omitempty"`
	// Slices is how many runs Merge made this one of (0 or 1: a single run).
	Slices int `json:"slices,omitempty"`

	// The measured requests' latencies, all and by pool, which Merge summarizes anew.
	latencies     []time.Duration
	poolLatencies [][]time.Duration
}

// FPMShare is one pool's part of a run that drives several.
type FPMShare struct {
	FPM     string `json:"fpm"`
	Clients int    `json:"clients"`
	// Requests is its successful requests in the measured window, Share their
	// fraction of the run's.
	Requests int64   `json:"requests"`
	Share    float64 `json:"share"`
	Latency  Latency `json:"latency_ms"`
}

// CPUms returns the CPU per request of the window, in milliseconds, of the named
// component, and whether it was measured.
func (r *Result) CPUms(name string) (float64, bool) {
	u, ok := r.cpuUse(name)
	return u.MsPerRequest, ok
}

// CPUSummary lists each component's CPU per request, in ms: "php-fpm 0.250, daemon
// 0.120, …".
func (r *Result) CPUSummary() string {
	parts := make([]string, len(r.CPU))
	for i, u := range r.CPU {
		parts[i] = fmt.Sprintf("%s %.3f", u.Name, u.MsPerRequest)
	}
	return strings.Join(parts, ", ")
}

// cpuUse returns the named component's CPU, and whether it was measured.
func (r *Result) cpuUse(name string) (CPUUse, bool) {
	for _, u := range r.CPU {
		if u.Name == name {
			return u, true
		}
	}
	return CPUUse{}, false
}

// Error kinds.
const (
	ErrTransport = "transport" // dial, FastCGI or timeout
	ErrStatus    = "status"    // HTTP status other than 200
	ErrStderr    = "stderr"    // output on FastCGI's stderr stream
	ErrBody      = "body"      // not a bare positive counter (a PHP warning, say)
)

// errorLog counts errors by kind and keeps the first few messages.
type errorLog struct {
	mu      sync.Mutex
	total   int64
	kinds   map[string]int64
	samples []string
}

const maxSamples = 5

func (e *errorLog) add(kind, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kinds == nil {
		e.kinds = map[string]int64{}
	}
	e.total++
	e.kinds[kind]++
	if len(e.samples) < maxSamples {
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		e.samples = append(e.samples, kind+": "+msg)
	}
}

// requester sends one request of the page for a session and returns what came back.
type requester interface {
	get(ctx context.Context, query, cookie string) (status int, body, stderr []byte, err error)
	close()
}

var counterRE = regexp.MustCompile(`^[0-9]+$`)

// check classifies a response: the counter it carries, or an error kind and message.
func check(status int, body, stderr []byte, err error) (n int64, kind, msg string) {
	switch {
	case err != nil:
		return 0, ErrTransport, err.Error()
	case status != 200:
		return 0, ErrStatus, fmt.Sprintf("HTTP %d: %s", status, strings.TrimSpace(string(body)))
	case len(stderr) > 0:
		return 0, ErrStderr, strings.TrimSpace(string(stderr))
	}
	b := strings.TrimSpace(string(body))
	if !counterRE.MatchString(b) {
		return 0, ErrBody, fmt.Sprintf("unexpected body %q", b)
	}
	n, perr := strconv.ParseInt(b, 10, 64)
	if perr != nil || n < 1 {
		return 0, ErrBody, fmt.Sprintf("unexpected counter %q", b)
	}
	return n, "", ""
}

// SessionIDs returns n session ids with a random prefix, so that runs never reuse
// each other's sessions. They use PHP's id alphabet.
func SessionIDs(n int) []string {
	var r [6]byte
	rand.Read(r[:])
	prefix := "bench" + hex.EncodeToString(r[:]) + "-"
	ids := make([]string, n)
	for i := range ids {
		ids[i] = prefix + strconv.Itoa(i)
	}
	return ids
}

// Merge combines runs of the same Config but their durations (taken at different
// times, in turn with other runs, so that a slower spell of the machine weighs on
// every runner alike) into one: requests, errors, updates and CPU are summed, the
// rates, CPU per request, shares and latency percentiles computed over all of them.
// Its Config is the first run's with Warmup and Duration the sums.
func Merge(runs ...*Result) *Result {
	if len(runs) == 0 {
		return nil
	}
	m := &Result{Label: runs[0].Label, Config: runs[0].Config}
	m.Config.Warmup, m.Config.Duration = 0, 0
	for _, r := range runs {
		m.Config.Warmup += r.Config.Warmup
		m.Config.Duration += r.Config.Duration
		m.Requests += r.Requests
		m.Seconds += r.Seconds
		m.WarmupRequest += r.WarmupRequest
		m.Errors += r.Errors
		for k, n := range r.ErrorKinds {
			if m.ErrorKinds == nil {
				m.ErrorKinds = map[string]int64{}
			}
			m.ErrorKinds[k] += n
		}
		for _, sample := range r.ErrorSamples {
			if len(m.ErrorSamples) < maxSamples {
				m.ErrorSamples = append(m.ErrorSamples, sample)
			}
		}
		m.Made += r.Made
		m.Lost += r.Lost
		m.LostIn += r.LostIn
		m.Unverified += r.Unverified
		m.GeneratorCPU += r.GeneratorCPU
		m.WallSeconds += r.WallSeconds
		m.latencies = append(m.latencies, r.latencies...)
		for i, u := range r.CPU {
			if i == len(m.CPU) {
				m.CPU = append(m.CPU, CPUUse{Name: u.Name})
			}
			m.CPU[i].Seconds += u.Seconds
			m.CPU[i].UserSeconds += u.UserSeconds
		}
		for i, p := range r.PerFPM {
			if i == len(m.PerFPM) {
				m.PerFPM = append(m.PerFPM, FPMShare{FPM: p.FPM, Clients: p.Clients})
				m.poolLatencies = append(m.poolLatencies, nil)
			}
			m.PerFPM[i].Requests += p.Requests
			if i < len(r.poolLatencies) {
				m.poolLatencies[i] = append(m.poolLatencies[i], r.poolLatencies[i]...)
			}
		}
		m.Slices += max(1, r.Slices)
	}
	if m.Seconds > 0 {
		m.RequestsPerS = float64(m.Requests) / m.Seconds
	}
	m.Latency = Summarize(m.latencies)
	for i := range m.CPU {
		m.CPU[i].perRequest(m.Requests)
	}
	for i := range m.PerFPM {
		m.PerFPM[i].Share = ratio(float64(m.PerFPM[i].Requests), float64(m.Requests))
		m.PerFPM[i].Latency = Summarize(m.poolLatencies[i])
	}
	return m
}

// Run drives the pool for cfg.Warmup + cfg.Duration, then reads every session back.
// A cancelled ctx ends the run early with ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	addrs := cfg.addrs()
	// gofast allocates about 200 KiB of buffers per request; collecting them less
	// often leaves more of a small machine's CPU to the servers being measured.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	// newReq returns a requester for client c.
	newReq := func(c int) requester {
		network, address, _ := SplitAddr(addrs[c%len(addrs)])
		return newFCGI(network, address, &cfg)
	}
	return run(ctx, cfg, len(addrs), newReq)
}

func run(ctx context.Context, cfg Config, pools int, newReq func(client int) requester) (*Result, error) {
	ids := SessionIDs(cfg.Sessions)
	cookies := make([]string, len(ids))
	for i, id := range ids {
		cookies[i] = cfg.SessionName + "=" + id
	}
	query := "payload=" + strconv.Itoa(cfg.Payload)
	tally := NewTally(cfg.Sessions)
	var errs errorLog
	if cfg.Read != "" {
		// Something to read: each session written once, by one request of the page.
		seed := newReq(0)
		for s := range cookies {
			if _, kind, msg := check(seed.get(ctx, query, cookies[s])); kind != "" {
				seed.close()
				return nil, fmt.Errorf("bench: writing session %d before a read-only run: %s", s, msg)
			}
			tally.Made(s)
		}
		seed.close()
	}
	// What the clients send; the read-back at the end writes, as the seed did.
	load := query
	if cfg.Read != "" {
		load += "&read=" + cfg.Read
	}

	// Probe each pool once so that a wrong socket, script or pool fails fast with its
	// message.
	for p := 0; p < pools; p++ {
		probe := newReq(p)
		_, kind, msg := check(probe.get(ctx, "payload=0&probe=1", ""))
		probe.close()
		if kind != "" {
			return nil, fmt.Errorf("bench: %s %s: %s", cfg.addrs()[p], cfg.Script, msg)
		}
	}

	cpuRun0 := SelfCPU()
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	stopAt := measureFrom.Add(cfg.Duration)
	// The components' CPU is read when the measured window starts, and again once
	// its last request has ended.
	var cpu0 []CPUTime
	var cpuErr error
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		select {
		case <-time.After(time.Until(measureFrom)):
			cpu0, cpuErr = sampleCPU(cfg.CPU)
		case <-ctx.Done():
		}
	}()
	var next atomic.Uint64
	lat := make([][]time.Duration, cfg.Clients)
	lastEnd := make([]time.Time, cfg.Clients)
	warm := make([]int64, cfg.Clients)
	var wg sync.WaitGroup
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := newReq(c)
			defer r.close()
			mine := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stopAt) {
					break
				}
				s := int((next.Add(1) - 1) % uint64(cfg.Sessions))
				_, kind, msg := check(r.get(ctx, load, cookies[s]))
				t1 := time.Now()
				if kind != "" {
					if ctx.Err() == nil {
						errs.add(kind, msg)
					}
					continue
				}
				if cfg.Read == "" { // a read changes nothing to count
					tally.Made(s)
				}
				if t0.Before(measureFrom) {
					warm[c]++
					continue
				}
				mine = append(mine, t1.Sub(t0))
				lastEnd[c] = t1
			}
			lat[c] = mine
		}(c)
	}
	wg.Wait()
	<-sampled
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cpu1, err := sampleCPU(cfg.CPU)
	if err == nil {
		err = cpuErr
	}
	if err != nil {
		return nil, fmt.Errorf("bench: measuring CPU: %w", err)
	}

	// Read every session back: the page increments once more and returns the count.
	var sess atomic.Int64
	for c := 0; c < min(cfg.Clients, cfg.Sessions); c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := newReq(c)
			defer r.close()
			for {
				s := int(sess.Add(1) - 1)
				if s >= cfg.Sessions || ctx.Err() != nil {
					return
				}
				n, kind, msg := check(r.get(ctx, query, cookies[s]))
				if kind != "" {
					errs.add(kind, "read-back: "+msg)
					continue
				}
				tally.Final(s, n)
			}
		}(c)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := &Result{Config: cfg, GeneratorCPU: SelfCPU().Total() - cpuRun0.Total(), WallSeconds: time.Since(start).Seconds()}
	var all []time.Duration
	end := measureFrom
	for c := range lat {
		all = append(all, lat[c]...)
		res.WarmupRequest += warm[c]
		if lastEnd[c].After(end) {
			end = lastEnd[c]
		}
	}
	res.Requests = int64(len(all))
	res.Seconds = end.Sub(measureFrom).Seconds()
	if res.Seconds > 0 {
		res.RequestsPerS = float64(res.Requests) / res.Seconds
	}
	res.Latency, res.latencies = Summarize(all), all
	res.CPU = cpuUse(cfg.CPU, cpu0, cpu1, res.Requests)
	if pools > 1 {
		for p, addr := range cfg.addrs() {
			share := FPMShare{FPM: addr}
			var mine []time.Duration
			for c := p; c < cfg.Clients; c += pools {
				share.Clients++
				mine = append(mine, lat[c]...)
			}
			share.Requests = int64(len(mine))
			share.Share = ratio(float64(share.Requests), float64(res.Requests))
			share.Latency = Summarize(mine)
			res.PerFPM = append(res.PerFPM, share)
			res.poolLatencies = append(res.poolLatencies, mine)
		}
	}
	res.Errors, res.ErrorKinds, res.ErrorSamples = errs.total, errs.kinds, errs.samples
	lost := tally.Lost()
	res.Made, res.Lost, res.LostIn, res.Unverified = lost.Made, lost.Lost, lost.Sessions, lost.Unverified
	return res, nil
}
