package bench

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary doubles as the processes whose CPU TestTreeCPU measures: with
// BENCH_CPU_HELPER set it runs as one of them instead of the tests.
func init() {
	switch os.Getenv("BENCH_CPU_HELPER") {
	case "":
		return
	case "burn":
		burn()
		// A child that lives on: burn, say so, then wait for stdin to close.
		if os.Getenv("BENCH_CPU_STAY") != "" {
			os.Stdout.WriteString("burnt\n")
			io.Copy(io.Discard, os.Stdin)
		}
		os.Exit(0)
	case "parent":
		parent()
		os.Exit(0)
	}
}

// burn uses about a tenth of a second of CPU.
func burn() {
	start := SelfCPU().Total()
	x := 1.0
	for SelfCPU().Total()-start < 0.1 {
		for i := 0; i < 100000; i++ {
			x = x*1.0000001 + 1e-9
		}
	}
	if x == 0 {
		os.Exit(1)
	}
}

// parent runs one burning child to its end and waits for it (its CPU goes into the
// parent's reaped time), starts a second one that stays, then says "ready" and waits
// for stdin to close.
func parent() {
	helper := func(stay bool) *exec.Cmd {
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "BENCH_CPU_HELPER=burn")
		if stay {
			c.Env = append(c.Env, "BENCH_CPU_STAY=1")
		}
		return c
	}
	if err := helper(false).Run(); err != nil {
		panic(err)
	}
	stay := helper(true)
	in, _ := stay.StdinPipe()
	out, _ := stay.StdoutPipe()
	if err := stay.Start(); err != nil {
		panic(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "burnt\n" {
		panic("child: " + line)
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	in.Close()
	stay.Wait()
}

func TestTreeCPUCountsLiveAndReapedChildren(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BENCH_CPU_HELPER=parent")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	procs := Procs()
	pid := cmd.Process.Pid
	p, ok := procs[pid]
	if !ok {
		t.Fatalf("process %d not in the snapshot", pid)
	}
	if p.PPID != os.Getpid() || !strings.HasPrefix(p.Name, "bench") {
		t.Fatalf("stat of the helper: %+v", p)
	}
	if p.Reaped() <= 0 {
		t.Fatalf("the exited child's CPU is not in its parent's reaped time: %+v", p)
	}
	tree, err := TreeCPU(procs, pid)
	if err != nil {
		t.Fatal(err)
	}
	if live := tree.Total() - p.Own() - p.Reaped(); live <= 0 {
		t.Fatalf("the live child's CPU is not in the tree: tree %.2f s, parent own %.2f s + reaped %.2f s", tree.Total(), p.Own(), p.Reaped())
	}
	// The helpers burn in user mode: most of the tree's time is user time.
	if tree.User < tree.System {
		t.Fatalf("tree: user %.2f s, system %.2f s: the burning children's time is not user time", tree.User, tree.System)
	}
	if _, err := TreeCPU(procs, 1<<30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

func TestParseStat(t *testing.T) {
	p, err := ParseStat("4242 (php-fpm: pool (x)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 7 3 20 0 1 0 123 0 0")
	want := ProcStat{Name: "php-fpm: pool (x)", PPID: 17, Utime: 250, Stime: 31, Cutime: 7, Cstime: 3}
	if err != nil || p != want {
		t.Fatalf("got %+v %v", p, err)
	}
	if p.Own() != 2.81 || p.Reaped() != 0.1 {
		t.Fatalf("own %v reaped %v", p.Own(), p.Reaped())
	}
	for _, bad := range []string{"garbage", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 1 0 0 20"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestCPUUsePerRequest(t *testing.T) {
	comps := []Component{{Name: CPUFPM}, {Name: CPUDaemon}}
	got := cpuUse(comps, []CPUTime{{1, 0.5}, {2, 0}, {10, 1}}, []CPUTime{{2.5, 1}, {2.25, 0.25}, {10.5, 1}}, 1000)
	want := []CPUUse{
		{Name: CPUFPM, Seconds: 2, UserSeconds: 1.5, MsPerRequest: 2, UserMsPerRequest: 1.5},
		{Name: CPUDaemon, Seconds: 0.5, UserSeconds: 0.25, MsPerRequest: 0.5, UserMsPerRequest: 0.25},
		{Name: CPUGenerator, Seconds: 0.5, UserSeconds: 0.5, MsPerRequest: 0.5, UserMsPerRequest: 0.5},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %+v, want %+v", got[i], want[i])
		}
	}
	r := &Result{CPU: got}
	if v, ok := r.CPUms(CPUDaemon); !ok || v != 0.5 {
		t.Fatalf("CPUms %v %v", v, ok)
	}
	if _, ok := r.CPUms(CPUPostgres); ok {
		t.Fatal("postgres measured")
	}
}
