package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phpsessd/phpsessd/handler"
)

// ProtoConfig is a protocol-level run against the daemon: each client keeps one
// connection and repeats the cycle a PHP request makes, HELLO, READ, WRITE, CLOSE.
type ProtoConfig struct {
	Listen   string        `json:"listen"` // unix:/path or tcp:host:port
	Secret   string        `json:"-"`
	Clients  int           `json:"clients"`
	Sessions int           `json:"sessions"`
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Data is written by every WRITE.
	Data string `json:"-"`
	// DataSize is len(Data), for the report.
	DataSize int `json:"data_size"`
	// IDPrefix + n (1..Sessions) are the session ids, as pgsess.PgbenchScript names
	// them ("bench-").
	IDPrefix string `json:"id_prefix"`
	// Sequential picks sessions round-robin; by default they are picked uniformly at
	// random, as pgbench's random(1, sessions) does.
	Sequential bool `json:"sequential"`
}

// ProtoResult is what a protocol-level run measured.
type ProtoResult struct {
	Config ProtoConfig `json:"config"`
	// Pairs is the READ+WRITE pairs (whole cycles) completed in the measured window.
	Pairs      int64            `json:"pairs"`
	Seconds    float64          `json:"seconds"`
	PairsPerS  float64          `json:"pairs_per_s"`
	Latency    Latency          `json:"cycle_latency_ms"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	Samples    []string         `json:"error_samples,omitempty"`
}

// protoConn is one client connection speaking the daemon's protocol.
type protoConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
	id  uint32
}

func dialProto(listen string) (*protoConn, error) {
	network, address, err := SplitAddr(listen)
	if err != nil {
		return nil, err
	}
	c, err := net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &protoConn{c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// call sends one request and reads its reply, which must be OK.
func (p *protoConn) call(op handler.Op, fields ...[]byte) (handler.Reply, error) {
	p.buf = p.buf[:0]
	p.queue(op, fields...)
	if _, err := p.c.Write(p.buf); err != nil {
		return handler.Reply{}, err
	}
	return p.reply(op, p.id)
}

// queue appends a request to the send buffer, for sending several in one write.
func (p *protoConn) queue(op handler.Op, fields ...[]byte) uint32 {
	p.id++
	if p.id == 0 {
		p.id = 1
	}
	p.buf = handler.AppendRequest(p.buf, handler.Request{Op: op, ID: p.id, Fields: fields})
	return p.id
}

// reply reads the reply to request id, which must be OK.
func (p *protoConn) reply(op handler.Op, id uint32) (handler.Reply, error) {
	payload, err := handler.ReadFrame(p.r, 1<<30)
	if err != nil {
		return handler.Reply{}, err
	}
	rep, err := handler.ParseReply(payload)
	if err != nil {
		return rep, err
	}
	if rep.ID != id {
		return rep, fmt.Errorf("%s: reply id %d, expected %d", op, rep.ID, id)
	}
	if rep.Status != handler.StatusOK {
		msg := ""
		if len(rep.Fields) > 0 {
			msg = string(rep.Fields[0])
		}
		return rep, &statusError{op, rep.Status, msg}
	}
	return rep, nil
}

type statusError struct {
	op     handler.Op
	status handler.Status
	msg    string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.op, e.status, e.msg)
}

func (p *protoConn) hello(secret string) error {
	_, err := p.call(handler.OpHello, []byte("1"), []byte(secret), []byte("PHPSESSID"), []byte("127.0.0.1"))
	return err
}

// Proto runs the protocol-level benchmark.
func Proto(ctx context.Context, cfg ProtoConfig) (*ProtoResult, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 16
	}
	if cfg.Sessions <= 0 {
		cfg.Sessions = 256
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = "bench-"
	}
	cfg.DataSize = len(cfg.Data)
	conns := make([]*protoConn, cfg.Clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := dialProto(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", cfg.Listen, err)
		}
		conns[i] = c
	}
	ids := make([][]byte, cfg.Sessions)
	for i := range ids {
		ids[i] = []byte(cfg.IDPrefix + strconv.Itoa(i+1))
	}
	data := []byte(cfg.Data)
	zero, empty := []byte("0"), []byte{}

	var errs errorLog
	var next atomic.Uint64
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	stopAt := measureFrom.Add(cfg.Duration)
	lat := make([][]time.Duration, cfg.Clients)
	lastEnd := make([]time.Time, cfg.Clients)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := conns[i]
			// Unblocks a call when the run is cancelled.
			c0 := pc.c
			stop := context.AfterFunc(ctx, func() { c0.SetDeadline(time.Now()) })
			defer func() { stop() }()
			mine := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stopAt) {
					break
				}
				var s int
				if cfg.Sequential {
					s = int((next.Add(1) - 1) % uint64(cfg.Sessions))
				} else {
					s = rand.IntN(cfg.Sessions)
				}
				err := pc.cycle(cfg.Secret, ids[s], data, zero, empty)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					if se, ok := err.(*statusError); ok {
						errs.add(fmt.Sprintf("%s status %d", se.op, se.status), err.Error())
						continue
					}
					errs.add(ErrTransport, err.Error())
					// The stream may hold a stale reply: start over on a new connection.
					stop()
					pc.c.Close()
					nc, derr := dialProto(cfg.Listen)
					if derr != nil {
						errs.add(ErrTransport, derr.Error())
						break
					}
					pc, conns[i] = nc, nc
					nconn := nc.c
					stop = context.AfterFunc(ctx, func() { nconn.SetDeadline(time.Now()) })
					continue
				}
				if t0.Before(measureFrom) {
					continue
				}
				mine = append(mine, t1.Sub(t0))
				lastEnd[i] = t1
			}
			lat[i] = mine
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &ProtoResult{Config: cfg}
	var all []time.Duration
	end := measureFrom
	for i := range lat {
		all = append(all, lat[i]...)
		if lastEnd[i].After(end) {
			end = lastEnd[i]
		}
	}
	res.Pairs = int64(len(all))
	res.Seconds = end.Sub(measureFrom).Seconds()
	if res.Seconds > 0 {
		res.PairsPerS = float64(res.Pairs) / res.Seconds
	}
	res.Latency = Summarize(all)
	res.Errors, res.ErrorKinds, res.Samples = errs.total, errs.kinds, errs.samples
	return res, nil
}

// cycle is one PHP request's exchange as the PHP client makes it: HELLO and READ in
// one write, then WRITE, which ends the lock (no CLOSE).
func (p *protoConn) cycle(secret string, id, data, zero, empty []byte) error {
	p.buf = p.buf[:0]
	hello := p.queue(handler.OpHello, []byte("1"), []byte(secret), []byte("PHPSESSID"), []byte("127.0.0.1"))
	read := p.queue(handler.OpRead, id)
	if _, err := p.c.Write(p.buf); err != nil {
		return err
	}
	if _, err := p.reply(handler.OpHello, hello); err != nil {
		return err
	}
	if _, err := p.reply(handler.OpRead, read); err != nil {
		return err
	}
	_, err := p.call(handler.OpWrite, id, data, empty, zero, zero, zero, empty)
	return err
}

// IdleRSS opens n connections to the daemon listening on listen, sends HELLO on each,
// and returns the VmRSS of process pid (in KiB) before opening them and once they are
// all open and idle. The connections are closed before it returns.
func IdleRSS(listen, secret string, pid, n int) (before, after int64, err error) {
	before, err = ProcRSS(pid)
	if err != nil {
		return 0, 0, err
	}
	conns := make([]*protoConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.c.Close()
		}
	}()
	for range n {
		c, err := dialProto(listen)
		if err != nil {
			return before, 0, fmt.Errorf("connection %d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
		c.c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.hello(secret); err != nil {
			return before, 0, fmt.Errorf("connection %d: %w", len(conns), err)
		}
	}
	// Let the daemon settle: its goroutines are parked on their reads.
	time.Sleep(500 * time.Millisecond)
	after, err = ProcRSS(pid)
	return before, after, err
}

// ProcRSS returns the VmRSS of a process in KiB, from /proc/<pid>/status.
func ProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(string(b))
}

// ParseVmRSS extracts VmRSS (in KiB) from the text of /proc/<pid>/status.
func ParseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no VmRSS line in /proc status")
}

// ParsePgbenchTPS extracts the transactions per second from pgbench's output: the
// "tps = N (without initial connection time)" line (PostgreSQL 14+), or failing that
// the first "tps = N" line.
func ParsePgbenchTPS(out string) (float64, error) {
	var first string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		v, ok := strings.CutPrefix(line, "tps = ")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(v, " ")
		if strings.Contains(line, "without initial connection") {
			return strconv.ParseFloat(num, 64)
		}
		if first == "" {
			first = num
		}
	}
	if first == "" {
		return 0, fmt.Errorf("no \"tps = \" line in pgbench's output")
	}
	return strconv.ParseFloat(first, 64)
}
