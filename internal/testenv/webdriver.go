package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Chromium drives headless Chromium browsers through chromedriver (Debian's chromium
// and chromium-driver), by the W3C WebDriver protocol over HTTP.
type Chromium struct {
	tb  testing.TB
	url string
}

// StartChromium starts chromedriver on a free port for the test; it is stopped at the
// end of the test. The test is skipped when chromedriver is missing, unless in CI.
func StartChromium(tb testing.TB) *Chromium {
	tb.Helper()
	driver, err := exec.LookPath("chromedriver")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("chromedriver not found: make test installs chromium and chromium-driver")
		}
		tb.Skip("chromedriver not found (Debian: chromium chromium-driver; make deps installs them)")
	}
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port))
	log := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &Chromium{tb: tb, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(c.url + "/status"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("chromedriver did not answer:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// Tab is one browser (its own profile, so its own cookies) with one window.
type Tab struct {
	c  *Chromium
	id string
}

// Browser starts a headless browser with a fresh profile; it is closed at the end of
// the test.
func (c *Chromium) Browser() *Tab {
	c.tb.Helper()
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"goog:chromeOptions": map[string]any{"args": []string{"--headless", "--no-sandbox", "--disable-gpu",
			"--disable-background-networking", "--disable-dev-shm-usage", "--user-data-dir=" + c.tb.TempDir()}},
	}}}
	var v struct {
		SessionID string `json:"sessionId"`
	}
	c.call("POST", "/session", caps, &v)
	t := &Tab{c: c, id: v.SessionID}
	c.tb.Cleanup(func() { c.call("DELETE", "/session/"+t.id, nil, nil) })
	return t
}

// call sends one WebDriver command and decodes its "value" into out; any failure
// fails the test.
func (c *Chromium) call(method, path string, body, out any) {
	c.tb.Helper()
	status, raw, err := c.send(method, path, body)
	if err != nil {
		c.tb.Fatalf("WebDriver %s %s: %v", method, path, err)
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || status != http.StatusOK {
		c.tb.Fatalf("WebDriver %s %s: HTTP %d: %s", method, path, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(env.Value, out); err != nil {
			c.tb.Fatalf("WebDriver %s %s: %v: %s", method, path, err, raw)
		}
	}
}

// send sends one WebDriver command and returns the HTTP status and body of its answer.
func (c *Chromium) send(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// Open loads url and waits for the page to load.
func (t *Tab) Open(url string) {
	t.c.tb.Helper()
	t.c.call("POST", "/session/"+t.id+"/url", map[string]string{"url": url}, nil)
}

// elementKey is the W3C name of an element reference's member.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// find returns the reference of the element the CSS selector matches.
func (t *Tab) find(selector string) string {
	t.c.tb.Helper()
	var v map[string]string
	t.c.call("POST", "/session/"+t.id+"/element", map[string]string{"using": "css selector", "value": selector}, &v)
	return v[elementKey]
}

// Text returns the rendered text of the element the CSS selector matches.
func (t *Tab) Text(selector string) string {
	t.c.tb.Helper()
	var s string
	t.c.call("GET", "/session/"+t.id+"/element/"+t.find(selector)+"/text", nil, &s)
	return s
}

// Count returns how many elements the CSS selector matches.
func (t *Tab) Count(selector string) int {
	t.c.tb.Helper()
	var v []map[string]string
	t.c.call("POST", "/session/"+t.id+"/elements", map[string]string{"using": "css selector", "value": selector}, &v)
	return len(v)
}

// Click clicks the element the CSS selector matches, one that loads another page (a
// form's button, a link), and waits up to 30 s for that page to replace the one shown:
// WebDriver's click returns as soon as the click is dispatched, often before the
// browser has even sent the request.
func (t *Tab) Click(selector string) {
	t.c.tb.Helper()
	shown := t.find("html")
	t.c.call("POST", "/session/"+t.id+"/element/"+t.find(selector)+"/click", map[string]any{}, nil)
	for deadline := time.Now().Add(30 * time.Second); ; {
		// The element of a page that was replaced is stale: 404, "stale element reference".
		status, raw, err := t.c.send("GET", "/session/"+t.id+"/element/"+shown+"/name", nil)
		if err == nil && status == http.StatusNotFound && bytes.Contains(raw, []byte("stale element reference")) {
			break
		}
		if time.Now().After(deadline) {
			t.c.tb.Fatalf("clicking %s: no new page loaded in 30 s (HTTP %d: %s, %v)", selector, status, raw, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The new page's document may still be loading: wait for it to be complete.
	var state string
	for deadline := time.Now().Add(30 * time.Second); state != "complete"; time.Sleep(50 * time.Millisecond) {
		t.c.call("POST", "/session/"+t.id+"/execute/sync",
			map[string]any{"script": "return document.readyState", "args": []any{}}, &state)
		if time.Now().After(deadline) {
			t.c.tb.Fatalf("clicking %s: the new page was still %q after 30 s", selector, state)
		}
	}
}
