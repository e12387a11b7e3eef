package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yookoala/gofast"
)

// FPMBin is Debian's PHP-FPM 8.2.
const FPMBin = "/usr/sbin/php-fpm8.2"

// FPM is a running PHP-FPM pool whose php.ini prepends the phpsessd PHP client.
type FPM struct {
	Socket  string // the pool's FastCGI Unix socket
	DocRoot string // where the test pages live (testdata/www of the repository)
	Dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// FPMOptions configure a pool.
type FPMOptions struct {
	Workers int    // static pool size; default 4
	INI     string // extra php.ini lines
	DocRoot string // default: testdata/www of the repository
	// Prepend is the auto_prepend_file; default php-client/bootstrap.php. "none" prepends nothing.
	Prepend string
	// Wrap, when set, is a command that runs PHP-FPM (its arguments followed by
	// PHP-FPM's command line): valgrind, for make bench's instruction counts.
	Wrap []string
}

var (
	sharedFPM     *FPM
	sharedFPMErr  error
	sharedFPMOnce sync.Once
)

// RequirePHP skips the test when PHP-FPM is not installed, except under CI=true where
// it fails: make test installs PHP, so a CI run must never skip.
func RequirePHP(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(FPMBin); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not found; make test installs php8.2-fpm", FPMBin)
		}
		tb.Skipf("%s not found (apt-get install php8.2-fpm, or run make test)", FPMBin)
	}
}

// SharedFPM returns the package's PHP-FPM pool, starting it on first use.
func SharedFPM(tb testing.TB) *FPM {
	tb.Helper()
	RequirePHP(tb)
	sharedFPMOnce.Do(func() {
		sharedFPM, sharedFPMErr = StartFPM(FPMOptions{Workers: 6})
		if sharedFPMErr == nil {
			atExit(sharedFPM.Stop)
		}
	})
	if sharedFPMErr != nil {
		tb.Fatalf("PHP-FPM: %v", sharedFPMErr)
	}
	return sharedFPM
}

// StartFPM starts a PHP-FPM master with one static pool on a Unix socket.
func StartFPM(o FPMOptions) (*FPM, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.DocRoot == "" {
		o.DocRoot = filepath.Join(root, "testdata", "www")
	}
	if o.Prepend == "" {
		o.Prepend = filepath.Join(root, "php-client", "bootstrap.php")
	}
	if o.Prepend == "none" {
		o.Prepend = ""
	}
	dir, err := os.MkdirTemp("", "phpsessd-fpm-")
	if err != nil {
		return nil, err
	}
	f := &FPM{Socket: filepath.Join(dir, "fpm.sock"), DocRoot: o.DocRoot, Dir: dir}
	ini := fmt.Sprintf(`; php.ini of a test pool
error_reporting = E_ALL
display_errors = Off
log_errors = On
error_log = %s
auto_prepend_file = %q
session.save_path = %q
session.gc_probability = 0
session.use_strict_mode = 0
session.lazy_write = 1
session.cookie_httponly = 1
%s
`, filepath.Join(dir, "php-error.log"), o.Prepend, dir, o.INI)
	conf := fmt.Sprintf(`[global]
error_log = %s
pid = %s
daemonize = no
[pool]
listen = %s
listen.mode = 0666
pm = static
pm.max_children = %d
clear_env = yes
catch_workers_output = yes
request_terminate_timeout = 120
`, filepath.Join(dir, "fpm.log"), filepath.Join(dir, "fpm.pid"), f.Socket, o.Workers)
	if err := os.WriteFile(filepath.Join(dir, "php.ini"), []byte(ini), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "fpm.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	args := []string{"--nodaemonize", "--fpm-config", filepath.Join(dir, "fpm.conf"), "-c", filepath.Join(dir, "php.ini")}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-to-run-as-root")
	}
	args = append([]string{FPMBin}, args...)
	startTimeout := 15 * time.Second
	if len(o.Wrap) > 0 {
		args = append(append([]string{}, o.Wrap...), args...)
		startTimeout = 2 * time.Minute // valgrind is slow to start
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f.cmd, f.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(f.exited) }()
	if err := waitDial("unix", f.Socket, startTimeout, f.exited); err != nil {
		f.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "fpm.log"))
		return nil, fmt.Errorf("php-fpm did not start: %v\n%s%s", err, out.String(), log)
	}
	return f, nil
}

// Stop stops the pool and removes its directory.
func (f *FPM) Stop() {
	f.cmd.Process.Signal(syscall.SIGQUIT) // graceful
	select {
	case <-f.exited:
	case <-time.After(10 * time.Second):
		f.cmd.Process.Kill()
		<-f.exited
	}
	os.RemoveAll(f.Dir)
}

// ErrorLog returns what PHP logged so far (warnings of the PHP client land here).
func (f *FPM) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(f.Dir, "php-error.log"))
	return string(b)
}

// Web is an HTTP front for the pool built on gofast: each request is passed to PHP-FPM
// over FastCGI with the given extra parameters (for example PHPSESSD_LISTEN, which
// the PHP client reads with getenv, or PHP_VALUE to set ini values per request).
type Web struct {
	URL    string
	server *httptest.Server
}

// Web starts an HTTP front for the pool, stopped when the test ends.
func (f *FPM) Web(tb testing.TB, params map[string]string) *Web {
	tb.Helper()
	w := &Web{}
	w.server = httptest.NewServer(f.Handler(params))
	w.URL = w.server.URL
	tb.Cleanup(w.server.Close)
	return w
}

// Handler is an HTTP→FastCGI front for the pool built on gofast: PHP files of DocRoot
// are run by PHP-FPM with params added to each request's FastCGI parameters, and an
// X-PHP-Value header (ini settings separated by ';') passed as PHP_VALUE.
func (f *FPM) Handler(params map[string]string) http.Handler {
	return gofast.NewHandler(
		gofast.Chain(gofast.NewPHPFS(f.DocRoot), addParams(params))(gofast.BasicSession),
		gofast.SimpleClientFactory(gofast.SimpleConnFactory("unix", f.Socket)),
	)
}

func addParams(params map[string]string) gofast.Middleware {
	return func(inner gofast.SessionHandler) gofast.SessionHandler {
		return func(c gofast.Client, req *gofast.Request) (*gofast.ResponsePipe, error) {
			for k, v := range params {
				req.Params[k] = v
			}
			if v := req.Raw.Header.Get("X-PHP-Value"); v != "" {
				req.Params["PHP_VALUE"] = strings.ReplaceAll(v, ";", "\n")
			}
			return inner(c, req)
		}
	}
}

// defaultPHPValue restates the pool's php.ini for the settings tests change per request.
const defaultPHPValue = "session.use_strict_mode=0;session.lazy_write=1"

// Browser is one visitor with its own cookie jar.
type Browser struct {
	web    *Web
	client *http.Client
	// PHPValue, when set, is sent as PHP_VALUE: ini settings separated by ';'.
	PHPValue string
}

// Browser returns a new visitor without cookies.
func (w *Web) Browser() *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{web: w, client: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// Get requests path (with query) and returns the status code and body.
func (b *Browser) Get(tb testing.TB, path string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest("GET", b.web.URL+path, nil)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	// FPM keeps PHP_VALUE settings in the worker for later requests, so every request
	// states the settings tests vary, defaults first.
	req.Header.Set("X-PHP-Value", defaultPHPValue+";"+b.PHPValue)
	resp, err := b.client.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Cookie returns the value of the named cookie the browser holds for the site.
func (b *Browser) Cookie(name string) string {
	u, _ := url.Parse(b.web.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetCookie sets a cookie for the site, as a browser replaying a known session id.
func (b *Browser) SetCookie(name, value string) {
	u, _ := url.Parse(b.web.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// waitDial waits until address accepts connections, the process exits, or timeout.
func waitDial(network, address string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial(network, address)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited")
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
