package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// RepoRoot returns the repository's root directory (where go.mod is).
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// Binary builds cmd/phpsessd once per test process (with the race detector when the
// tests run with it) and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "phpsessd-bin-")
		if err != nil {
			binErr = err
			return
		}
		atExit(func() { os.RemoveAll(dir) })
		binPath = filepath.Join(dir, "phpsessd")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/phpsessd")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// Daemon is a running phpsessd process.
type Daemon struct {
	Listen string // the session_pgsql.listen value, e.g. unix:/tmp/.../phpsessd.sock
	INI    string // path of its php.ini
	Dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *SyncBuffer
}

// DaemonINI returns php.ini lines for a daemon listening on a socket in dir and storing
// sessions through dsn. Tests append their own directives (later lines win).
func DaemonINI(dir, dsn string) string {
	return fmt.Sprintf("[session_pgsql]\nsession_pgsql.db = %q\nsession_pgsql.listen = \"unix:%s\"\nsession_pgsql.log_level = debug\n",
		dsn, filepath.Join(dir, "phpsessd.sock"))
}

// StartDaemon writes ini to a php.ini in a new directory and starts phpsessd on it,
// waiting until it listens. The daemon is killed when the test ends.
func StartDaemon(tb testing.TB, dir, ini string) *Daemon {
	tb.Helper()
	return StartDaemonLoggingTo(tb, dir, ini, nil)
}

// StartDaemonLoggingTo is StartDaemon with the daemon's standard error, its log, going
// to stderr instead of Log (when stderr is not nil): for tests of a log reader that
// goes away or stalls.
func StartDaemonLoggingTo(tb testing.TB, dir, ini string, stderr *os.File) *Daemon {
	tb.Helper()
	d, err := startDaemon(Binary(tb), dir, ini, stderr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		d.Kill()
		if tb.Failed() {
			tb.Logf("phpsessd log:\n%s", d.Log())
		}
	})
	return d
}

func startDaemon(bin, dir, ini string, stderr *os.File) (*Daemon, error) {
	path := filepath.Join(dir, "php.ini")
	if err := os.WriteFile(path, []byte(ini), 0o644); err != nil {
		return nil, err
	}
	d := &Daemon{INI: path, Dir: dir, log: &SyncBuffer{}}
	for _, line := range strings.Split(ini, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "session_pgsql.listen" {
			d.Listen = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	d.cmd = exec.Command(bin, "-ini", path, "-log-format", "json")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if stderr != nil {
		d.cmd.Stderr = stderr
	}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	network, address, _ := strings.Cut(d.Listen, ":")
	if err := waitDial(network, address, 20*time.Second, d.exited); err != nil {
		d.Kill()
		return nil, fmt.Errorf("phpsessd did not listen on %s: %v\n%s", d.Listen, err, d.Log())
	}
	return d, nil
}

// Kill stops the daemon with SIGKILL and waits for it.
func (d *Daemon) Kill() {
	d.cmd.Process.Kill()
	<-d.exited
}

// Stop sends SIGTERM and returns the exit code.
func (d *Daemon) Stop() int { return d.Exit(syscall.SIGTERM) }

// Exit sends sig and returns the exit code, -1 when a signal ended the process; it
// kills the daemon if it has not exited after a minute.
func (d *Daemon) Exit(sig os.Signal) int {
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		d.Kill()
	}
	return d.cmd.ProcessState.ExitCode()
}

// Log returns what the daemon logged so far.
func (d *Daemon) Log() string { return d.log.String() }

// Run runs the phpsessd binary with args to completion and returns its exit code and
// combined output.
func Run(tb testing.TB, args ...string) (int, string) {
	tb.Helper()
	return RunInput(tb, "", args...)
}

// RunInput is Run with stdin as the command's standard input.
func RunInput(tb testing.TB, stdin string, args ...string) (int, string) {
	tb.Helper()
	cmd := exec.Command(Binary(tb), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		tb.Fatal(err)
	}
	return 0, string(out)
}

// SyncBuffer is a bytes.Buffer safe for a process or goroutine writing (a log, say)
// while a test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ShortTempDir is a new temporary directory, removed when the test ends, with a path
// short enough for Unix socket addresses (t.TempDir's can exceed their 108 bytes).
func ShortTempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "ps")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Reload rewrites the daemon's php.ini with ini and sends SIGHUP.
func (d *Daemon) Reload(tb testing.TB, ini string) {
	tb.Helper()
	if err := os.WriteFile(d.INI, []byte(ini), 0o644); err != nil {
		tb.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
}
