package e2e

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// startDemo builds and starts what make run starts (internal/cmd/demo) and returns the
// URL of its page.
func startDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	if out, err := exec.Command("go", "build", "-o", bin, "../internal/cmd/demo").CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-phpsessd", testenv.Binary(t), "-addr", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &testenv.SyncBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("demo's log:\n%s", log.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`open (http://\S+/)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url := <-found:
		return url
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo printed no URL:\n%s", log.String())
	}
	return ""
}

// The page of make run, in two headless Chromium browsers: it counts, shows the
// session decoded beside its row and the live sessions, and its button logs the other
// browser out.
func TestMakeRunPageShowsTheSessionAndEndsTheOtherBrowsers(t *testing.T) {
	chromium := testenv.StartChromium(t)
	url := startDemo(t)

	a := chromium.Browser()
	a.Open(url)
	a.Open(url)
	if v := a.Text("#visits"); v != "2" {
		t.Fatalf("visits %q after loading the page twice", v)
	}
	if d := a.Text("#decoded"); !strings.Contains(d, `"visits": 2`) || !strings.Contains(d, `"id": "demo"`) {
		t.Fatalf("decoded session:\n%s", d)
	}
	if row := a.Text("#row"); !strings.Contains(row, "visits|i:2;") || !strings.Contains(row, "sess_counter 2") {
		t.Fatalf("stored row:\n%s", row)
	}
	aID := a.Text("#session-id")

	b := chromium.Browser()
	b.Open(url)
	bID := b.Text("#session-id")
	if v := b.Text("#visits"); v != "1" || bID == aID {
		t.Fatalf("second browser: visits %q, session %q (first %q)", v, bID, aID)
	}
	a.Open(url)
	if n := a.Count(`#sessions tr[data-id="` + bID + `"]`); n != 1 {
		t.Fatalf("the other browser's session is not listed:\n%s", a.Text("#sessions"))
	}
	a.Click("#end-others")
	if e := a.Text("#ended"); !strings.Contains(e, "Ended 1 other") {
		t.Fatalf("after the button: %q", e)
	}
	if n := a.Count(`#sessions tr[data-id="` + bID + `"]`); n != 0 {
		t.Fatalf("the ended session is still listed:\n%s", a.Text("#sessions"))
	}
	if v := a.Text("#visits"); v != "4" {
		t.Fatalf("this browser's own session: visits %q, want 4", v)
	}
	b.Open(url) // starts afresh (under the same id: the demo leaves use_strict_mode off)
	if v := b.Text("#visits"); v != "1" {
		t.Fatalf("the other browser after being logged out: visits %q", v)
	}
}
