package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PGAutoCtl is pg_auto_failover's command (Debian: pg-auto-failover-cli, with the
// server extension in postgresql-15-auto-failover).
const PGAutoCtl = "/usr/bin/pg_autoctl"

// autoFailoverPackages names the Debian packages pg_auto_failover comes in.
const autoFailoverPackages = "postgresql-15-auto-failover pg-auto-failover-cli"

// RequireAutoFailover skips the test when pg_auto_failover is not installed, unless it
// runs in CI (CI=true), where that fails it.
func RequireAutoFailover(tb testing.TB) {
	tb.Helper()
	_, errCmd := os.Stat(PGAutoCtl)
	_, errExt := os.Stat("/usr/share/postgresql/15/extension/pgautofailover.control")
	if errCmd == nil && errExt == nil {
		return
	}
	msg := "pg_auto_failover is not installed (apt-get install " + autoFailoverPackages + "; make deps installs them)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// AutoFailover is a pg_auto_failover formation of the test's own: a monitor and two
// PostgreSQL nodes with synchronous replication (the secondary is in the write quorum:
// a commit returns once it has the commit too), on free loopback ports under a
// temporary directory. The monitor's health checks are tightened so that it promotes
// the secondary within seconds of the primary stopping.
type AutoFailover struct {
	// URI is the formation's connection string (pg_autoctl show uri --formation
	// default: every node, with target_session_attrs=read-write), as the postgres
	// superuser.
	URI     string
	Dir     string
	env     []string
	cred    *syscall.Credential
	monitor *autoctl
	// Nodes are the PostgreSQL nodes, the first one created (the first primary) first.
	Nodes []*AutoFailoverNode
}

// AutoFailoverNode is one node of a formation, run by its pg_autoctl service.
type AutoFailoverNode struct {
	Name string
	PG   *PG // its PostgreSQL, for Query
	svc  *autoctl
}

// autoctl is a pg_autoctl service (pg_autoctl run) and its data directory.
type autoctl struct {
	pgdata string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartAutoFailover creates and starts a formation (RequireAutoFailover first), stopped
// and removed when the test ends, and returns once its secondary replicates.
func StartAutoFailover(tb testing.TB) *AutoFailover {
	tb.Helper()
	RequireAutoFailover(tb)
	af, err := startAutoFailover()
	if af != nil {
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("pg_auto_failover logs:\n%s", af.logs())
			}
			af.stop()
		})
	}
	if err != nil {
		tb.Fatalf("pg_auto_failover: %v", err)
	}
	return af
}

func startAutoFailover() (*AutoFailover, error) {
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "phpsessd-paf-")
	if err != nil {
		return nil, err
	}
	af := &AutoFailover{Dir: dir, cred: cred, env: append(os.Environ(),
		"PATH="+PGBin+":"+os.Getenv("PATH"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "share"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
	)}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return af, err
		}
	}
	common := []string{"--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--pgctl", filepath.Join(PGBin, "pg_ctl")}

	port, err := FreePort()
	if err != nil {
		return af, err
	}
	af.monitor = &autoctl{pgdata: filepath.Join(dir, "monitor")}
	if err := af.run(append([]string{"create", "monitor", "--pgdata", af.monitor.pgdata, "--pgport", strconv.Itoa(port)}, common...)...); err != nil {
		return af, err
	}
	if err := af.start(af.monitor); err != nil {
		return af, err
	}
	mon := &PG{Host: "127.0.0.1", Port: port}
	if err := waitQuery(mon, "pg_auto_failover"); err != nil {
		return af, err
	}
	// Notice a stopped node in about two seconds, not twenty, and let the secondary
	// take over from a primary that cannot be told to demote after two more, not 30.
	for _, set := range []string{"health_check_period = 1000", "health_check_timeout = 1000",
		"health_check_max_retries = 1", "health_check_retry_delay = 500",
		"node_considered_unhealthy_timeout = 2000", "primary_demote_timeout = 2000"} {
		if err := mon.ExecSQL("pg_auto_failover", "ALTER SYSTEM SET pgautofailover."+set); err != nil {
			return af, err
		}
	}
	if err := mon.ExecSQL("pg_auto_failover", "SELECT pg_reload_conf()"); err != nil {
		return af, err
	}
	monitorURI := fmt.Sprintf("postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable", port)

	for i := 1; i <= 2; i++ {
		port, err := FreePort()
		if err != nil {
			return af, err
		}
		n := &AutoFailoverNode{Name: fmt.Sprintf("node%d", i), PG: &PG{Host: "127.0.0.1", Port: port},
			svc: &autoctl{pgdata: filepath.Join(dir, fmt.Sprintf("node%d", i))}}
		af.Nodes = append(af.Nodes, n)
		if err := af.run(append([]string{"create", "postgres", "--pgdata", n.svc.pgdata, "--pgport", strconv.Itoa(port),
			"--name", n.Name, "--listen", "127.0.0.1", "--monitor", monitorURI}, common...)...); err != nil {
			return af, err
		}
		if err := af.start(n.svc); err != nil {
			return af, err
		}
		// Alone, the first node is "single"; the second makes it "primary".
		if err := af.WaitState(n.Name, map[int]string{1: "single", 2: "secondary"}[i], time.Minute); err != nil {
			return af, err
		}
	}
	if err := af.WaitState(af.Nodes[0].Name, "primary", time.Minute); err != nil {
		return af, err
	}
	uri, err := af.output("show", "uri", "--pgdata", af.monitor.pgdata, "--formation", "default")
	if err != nil {
		return af, err
	}
	// As it shows it, with the nodes' superuser.
	af.URI = strings.Replace(strings.TrimSpace(uri), "postgres://", "postgres://postgres@", 1)
	return af, nil
}

// command is pg_autoctl with args, as the postgres user when running as root.
func (af *AutoFailover) command(args ...string) *exec.Cmd {
	cmd := exec.Command(PGAutoCtl, args...)
	cmd.Env = af.env
	cmd.Dir = af.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: af.cred, Setpgid: true}
	return cmd
}

// run runs pg_autoctl with args to completion.
func (af *AutoFailover) run(args ...string) error {
	_, err := af.output(args...)
	return err
}

// output runs pg_autoctl with args and returns its standard output.
func (af *AutoFailover) output(args ...string) (string, error) {
	cmd := af.command(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pg_autoctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// start runs a pg_autoctl service on a created data directory, logging beside it.
func (af *AutoFailover) start(a *autoctl) error {
	logf, err := os.Create(a.pgdata + ".log")
	if err != nil {
		return err
	}
	defer logf.Close()
	a.cmd = af.command("run", "--pgdata", a.pgdata)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		return err
	}
	a.exited = make(chan struct{})
	go func() { a.cmd.Wait(); close(a.exited) }()
	return nil
}

// waitQuery waits until pg answers in database db.
func waitQuery(pg *PG, db string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := pg.Query(db, "SELECT 1")
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops node's pg_autoctl service and its PostgreSQL (pg_autoctl stop, a fast
// shutdown) and waits until they have exited.
func (af *AutoFailover) Stop(n *AutoFailoverNode) error {
	if err := af.run("stop", "--pgdata", n.svc.pgdata); err != nil {
		return err
	}
	select {
	case <-n.svc.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("pg_autoctl of %s did not stop", n.Name)
	}
}

// Kill ends node's pg_autoctl service and its PostgreSQL with SIGKILL, as a crash of
// its host would, and waits until the service has exited.
func (af *AutoFailover) Kill(n *AutoFailoverNode) error {
	if err := syscall.Kill(-n.svc.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return err
	}
	<-n.svc.exited
	return nil
}

// State returns the state the monitor last heard node report (primary, secondary,
// wait_primary, …), or "" when the monitor does not answer.
func (af *AutoFailover) State(node string) string {
	out, err := af.output("show", "state", "--pgdata", af.monitor.pgdata, "--json")
	if err != nil {
		return ""
	}
	var nodes []struct {
		Name     string `json:"nodename"`
		Reported string `json:"current_group_state"`
	}
	json.Unmarshal([]byte(out), &nodes)
	for _, n := range nodes {
		if n.Name == node {
			return n.Reported
		}
	}
	return ""
}

// WaitState waits up to timeout for node to report state to the monitor.
func (af *AutoFailover) WaitState(node, state string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := af.State(node)
		if got == state {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is %q after %s, not %q", node, got, timeout, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logs returns the services' logs, for a test that failed.
func (af *AutoFailover) logs() string {
	var b strings.Builder
	for _, a := range af.services() {
		log, _ := os.ReadFile(a.pgdata + ".log")
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(a.pgdata), log)
	}
	return b.String()
}

func (af *AutoFailover) services() []*autoctl {
	var all []*autoctl
	for _, n := range af.Nodes {
		all = append(all, n.svc)
	}
	if af.monitor != nil {
		all = append(all, af.monitor)
	}
	return all
}

// stop stops every service still running, the nodes before the monitor, and removes
// the directory.
func (af *AutoFailover) stop() {
	for _, a := range af.services() {
		if a.cmd == nil {
			continue
		}
		select {
		case <-a.exited:
			continue
		default:
		}
		af.run("stop", "--pgdata", a.pgdata, "--immediate")
		select {
		case <-a.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.exited
		}
	}
	// A PostgreSQL left running by a service that was killed.
	for _, a := range af.services() {
		if _, err := os.Stat(filepath.Join(a.pgdata, "postmaster.pid")); err == nil {
			cmd := exec.Command(filepath.Join(PGBin, "pg_ctl"), "stop", "-D", a.pgdata, "-m", "immediate")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: af.cred}
			cmd.Run()
		}
	}
	os.RemoveAll(af.Dir)
}
