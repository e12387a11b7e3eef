package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/yookoala/gofast"
)

// fcgiClient sends the bench page's requests to PHP-FPM with gofast's client.
type fcgiClient struct {
	factory gofast.ClientFactory
	script  string
	base    map[string]string // parameters every request carries
	timeout time.Duration
	keep    bool
	client  gofast.Client // the kept connection when keep is set
}

func newFCGI(network, address string, cfg *Config) *fcgiClient {
	return &fcgiClient{
		factory: gofast.SimpleClientFactory(bufferedConnFactory(network, address)),
		script:  cfg.Script,
		base:    BaseParams(cfg.Script, cfg.Params),
		timeout: cfg.Timeout,
		keep:    cfg.KeepAlive,
	}
}

// BaseParams returns the FastCGI parameters of a GET of script, as a web server in
// front of PHP-FPM sends them (the same set as gofast's NewPHPFS), without the query
// string and cookie; extra ones are added last.
func BaseParams(script string, extra map[string]string) map[string]string {
	name := "/" + filepath.Base(script)
	p := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE":   "phpsessd-bench",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_NAME":       "localhost",
		"SERVER_PORT":       "80",
		"HTTP_HOST":         "localhost",
		"REMOTE_ADDR":       "127.0.0.1",
		"REMOTE_PORT":       "40000",
		"REQUEST_SCHEME":    "http",
		"REQUEST_METHOD":    "GET",
		"REDIRECT_STATUS":   "200",
		"CONTENT_TYPE":      "",
		"CONTENT_LENGTH":    "0",
		"DOCUMENT_ROOT":     filepath.Dir(script),
		"SCRIPT_FILENAME":   script,
		"SCRIPT_NAME":       name,
		"DOCUMENT_URI":      name,
		"PATH_INFO":         "",
	}
	maps.Copy(p, extra)
	return p
}

func (f *fcgiClient) params(query, cookie string) map[string]string {
	p := make(map[string]string, len(f.base)+4)
	maps.Copy(p, f.base)
	p["QUERY_STRING"] = query
	p["REQUEST_URI"] = p["SCRIPT_NAME"] + "?" + query
	if cookie != "" {
		p["HTTP_COOKIE"] = cookie
	}
	return p
}

func (f *fcgiClient) get(ctx context.Context, query, cookie string) (status int, body, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c := f.client
	if c == nil {
		if c, err = f.factory(); err != nil {
			return 0, nil, nil, err
		}
	}
	// gofast takes the request's deadline from its http.Request.
	raw, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/", nil)
	if err != nil {
		c.Close()
		return 0, nil, nil, err
	}
	req := gofast.NewRequest(raw)
	req.Params = f.params(query, cookie)
	resp, err := c.Do(req)
	if err != nil {
		c.Close()
		f.client = nil
		return 0, nil, nil, err
	}
	var rec recorder
	var errBuf bytes.Buffer
	werr := resp.WriteTo(&rec, &errBuf)
	switch {
	case werr != nil || ctx.Err() != nil:
		c.Close()
		f.client = nil
		if werr == nil {
			werr = ctx.Err()
		}
		return rec.status, rec.body.Bytes(), errBuf.Bytes(), fmt.Errorf("%v %s", werr, errBuf.Bytes())
	case f.keep:
		f.client = c
	default:
		c.Close()
	}
	return rec.status, rec.body.Bytes(), errBuf.Bytes(), nil
}

func (f *fcgiClient) close() {
	if f.client != nil {
		f.client.Close()
		f.client = nil
	}
}

// recorder is a minimal http.ResponseWriter that keeps the status and body.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Get requests script from the PHP-FPM pool at addr (unix:/path or tcp:host:port)
// with a query string, a Cookie header (may be empty) and extra FastCGI parameters,
// and returns the HTTP status, the body and what came on FastCGI's stderr stream.
func Get(ctx context.Context, addr, script, query, cookie string, params map[string]string) (status int, body, stderr []byte, err error) {
	network, address, err := SplitAddr(addr)
	if err != nil {
		return 0, nil, nil, err
	}
	c := newFCGI(network, address, &Config{Script: script, Params: params, Timeout: time.Minute})
	defer c.close()
	return c.get(ctx, query, cookie)
}

// bufferedConnFactory dials connections that save gofast most of its system calls:
// gofast writes every FastCGI record with its own write and reads every record header
// and body with their own reads. Writes are held until the record that ends the
// request (an empty FCGI_STDIN record) and then sent at once; reads go through a
// buffer. On a small machine the load generator then leaves more CPU to the servers
// it measures. gofast writes from one goroutine and reads from another, so the write
// and read sides never share state.
func bufferedConnFactory(network, address string) gofast.ConnFactory {
	return func() (net.Conn, error) {
		c, err := net.Dial(network, address)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 8<<10)}, nil
	}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
	w []byte
}

const (
	fcgiHeaderLen = 8
	fcgiStdin     = 5
)

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.w = append(c.w, p...)
	// An empty stdin record ends the request: send everything.
	if len(p) >= fcgiHeaderLen && p[1] == fcgiStdin && p[4] == 0 && p[5] == 0 {
		_, err := c.Conn.Write(c.w)
		c.w = c.w[:0]
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
