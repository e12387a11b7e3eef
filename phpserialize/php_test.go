package phpserialize

// Differential tests against the real PHP CLI: what Go encodes, PHP reads
// back to the same value (it serializes it again to the same bytes), and
// what PHP serializes, Go decodes and encodes to the same bytes. They are
// skipped only where no php binary is on PATH.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lookPHP returns the php binary or skips the test.
func lookPHP(t *testing.T) string {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php CLI not found: " + err.Error())
	}
	return php
}

// lockedBuffer collects a child's stderr; the exec package writes it from
// another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// phpWorker is a running roundtrip.php (see the protocol there).
type phpWorker struct {
	t      *testing.T
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *lockedBuffer
}

func startPHPWorker(t *testing.T) *phpWorker {
	t.Helper()
	cmd := exec.Command(lookPHP(t), filepath.Join(samplesDir, "roundtrip.php"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("roundtrip.php: %v\nstderr:\n%s", err, stderr)
		}
	})
	return &phpWorker{t: t, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: stderr}
}

// call sends one request and returns PHP's answer: the bytes, or an error
// message when PHP reported failure.
func (w *phpWorker) call(mode string, data []byte) (out []byte, phpErr string) {
	w.t.Helper()
	if _, err := fmt.Fprintf(w.stdin, "%s %d\n%s", mode, len(data), data); err != nil {
		w.t.Fatalf("writing to roundtrip.php: %v\nstderr:\n%s", err, w.stderr)
	}
	header, err := w.stdout.ReadString('\n')
	if err != nil {
		w.t.Fatalf("reading from roundtrip.php: %v\nstderr:\n%s", err, w.stderr)
	}
	status, size, ok := strings.Cut(strings.TrimSuffix(header, "\n"), " ")
	n, convErr := strconv.Atoi(size)
	if !ok || convErr != nil || (status != "ok" && status != "error") {
		w.t.Fatalf("bad response header %q\nstderr:\n%s", header, w.stderr)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(w.stdout, body); err != nil {
		w.t.Fatalf("reading from roundtrip.php: %v", err)
	}
	if status == "error" {
		return nil, string(body)
	}
	return body, ""
}

func clip(b []byte) string {
	if len(b) > 600 {
		return strconv.Quote(string(b[:600])) + "..."
	}
	return strconv.Quote(string(b))
}

// TestPHPGenReproducesSamples runs gen.php into a fresh directory and
// checks that it writes exactly the checked-in samples.
func TestPHPGenReproducesSamples(t *testing.T) {
	php := lookPHP(t)
	dir := t.TempDir()
	out, err := exec.Command(php, filepath.Join(samplesDir, "gen.php"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("gen.php: %v\n%s", err, out)
	}
	fresh := loadSamplesFrom(t, dir)
	stored := map[string][]byte{}
	for _, s := range loadSamples(t) {
		stored[s.name] = s.data
	}
	for _, s := range fresh {
		want, ok := stored[s.name]
		switch {
		case !ok:
			t.Errorf("gen.php writes %s, which is not checked in", s.name)
		case !bytes.Equal(s.data, want):
			t.Errorf("%s: gen.php now writes %s, checked in is %s", s.name, clip(s.data), clip(want))
		}
		delete(stored, s.name)
	}
	for name := range stored {
		t.Errorf("%s is checked in, but gen.php no longer writes it", name)
	}
}

// TestPHPReadsHandWrittenValues sends values PHP never writes itself
// but must read back unchanged.
func TestPHPReadsHandWrittenValues(t *testing.T) {
	w := startPHPWorker(t)
	cases := []string{
		`a:2:{i:0;i:1;i:1;R:2;}`,
		`a:3:{i:0;O:8:"stdClass":0:{}i:1;r:2;i:2;R:2;}`,
		`O:8:"stdClass":2:{s:1:"a";i:1;s:1:"b";R:2;}`,
		`O:12:"GoUnknownCls":2:{s:4:"` + "\x00*\x00p" + `";i:1;s:15:"` + "\x00GoUnknownCls\x00q" + `";i:2;}`,
		`a:1:{s:3:"` + "\xff\x00\x01" + `";s:3:"` + "\x00\xfe\xff" + `";}`,
		`C:6:"Opaque":0:{}`,
		`E:13:"Status:Active";`,
		`a:2:{i:0;E:11:"Suit:Hearts";i:1;r:2;}`,
		`i:-9223372036854775808;`,
		`d:4.9406564584124654E-324;`,
	}
	for _, c := range cases {
		v, err := Decode([]byte(c))
		if err != nil {
			t.Errorf("Decode(%q): %v", c, err)
			continue
		}
		enc, err := Encode(v)
		if err != nil {
			t.Errorf("Encode(Decode(%q)): %v", c, err)
			continue
		}
		got, phpErr := w.call("value", enc)
		if phpErr != "" {
			t.Errorf("PHP rejects %q: %s", enc, phpErr)
			continue
		}
		want := enc
		if v, ok := v.(Float); ok {
			want, _ = Encode(Float{Value: v.Value}) // PHP rewrites old float text
		}
		if !bytes.Equal(got, want) {
			t.Errorf("PHP re-serializes %q as %q", enc, got)
		}
	}
}

// TestPHPReadsGoEncodedValues encodes random values in Go and checks that
// PHP serializes what it unserialized to the same bytes.
func TestPHPReadsGoEncodedValues(t *testing.T) {
	w := startPHPWorker(t)
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range n {
		g := newValueGen(uint64(seed))
		var v Value
		if seed%4 == 0 {
			v = g.value(0) // any kind of value at the top
		} else {
			v = g.array(0)
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("seed %d: Encode: %v", seed, err)
		}
		got, phpErr := w.call("value", enc)
		if phpErr != "" {
			t.Fatalf("seed %d: PHP rejects %s: %s", seed, clip(enc), phpErr)
		}
		if !bytes.Equal(got, enc) {
			t.Fatalf("seed %d: PHP re-serializes\n%s\nas\n%s", seed, clip(enc), clip(got))
		}
	}
}

// TestPHPReadsGoEncodedSessions does the same for sessions in each
// handler's format, with references across variables.
func TestPHPReadsGoEncodedSessions(t *testing.T) {
	w := startPHPWorker(t)
	n := 600
	if testing.Short() {
		n = 100
	}
	for _, handler := range []string{HandlerPHP, HandlerPHPBinary, HandlerPHPSerialize} {
		for seed := range n {
			g := newValueGen(uint64(seed))
			s := g.session(handler)
			enc, err := EncodeSession(handler, s)
			if err != nil {
				t.Fatalf("%s seed %d: EncodeSession: %v", handler, seed, err)
			}
			got, phpErr := w.call("session:"+handler, enc)
			if phpErr != "" {
				t.Fatalf("%s seed %d: PHP rejects %s: %s", handler, seed, clip(enc), phpErr)
			}
			if !bytes.Equal(got, enc) && !(handler == HandlerPHPSerialize && len(s.Vars) == 0) {
				t.Fatalf("%s seed %d: PHP re-encodes\n%s\nas\n%s", handler, seed, clip(enc), clip(got))
			}
		}
	}
}

// TestPHPReadsGoRoundTrippedSamples checks that PHP reads every sample
// after it went through Decode and Encode (and, since the bytes are
// unchanged, that PHP writes them the same way again).
func TestPHPReadsGoRoundTrippedSamples(t *testing.T) {
	w := startPHPWorker(t)
	for _, s := range loadSamples(t) {
		enc, err := s.roundTrip()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		mode := "value"
		if s.handler != "" {
			mode = "session:" + s.handler
		}
		got, phpErr := w.call(mode, enc)
		if phpErr != "" {
			t.Errorf("%s: PHP rejects it: %s", s.name, phpErr)
			continue
		}
		if !bytes.Equal(got, enc) {
			t.Errorf("%s: PHP re-serializes %s as %s", s.name, clip(enc), clip(got))
		}
	}
}

// TestGoReadsPHPRandomValues lets PHP serialize random object graphs with
// shared objects and references, and checks that Go decodes and encodes
// them to the same bytes, and renders them as JSON.
func TestGoReadsPHPRandomValues(t *testing.T) {
	w := startPHPWorker(t)
	n := 1500
	if testing.Short() {
		n = 150
	}
	for seed := range n {
		data, phpErr := w.call("random-value", []byte(strconv.Itoa(seed)))
		if phpErr != "" {
			t.Fatalf("seed %d: %s", seed, phpErr)
		}
		v, err := Decode(data)
		if err != nil {
			t.Fatalf("seed %d: Decode(%s): %v", seed, clip(data), err)
		}
		enc, err := Encode(v)
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("seed %d: Encode = %s, %v; want %s", seed, clip(enc), err, clip(data))
		}
		if _, err := JSON(v); err != nil {
			t.Fatalf("seed %d: JSON: %v", seed, err)
		}
	}
	for _, handler := range []string{HandlerPHP, HandlerPHPBinary, HandlerPHPSerialize} {
		for seed := range n / 3 {
			data, phpErr := w.call("random-session:"+handler, []byte(strconv.Itoa(seed)))
			if phpErr != "" {
				t.Fatalf("%s seed %d: %s", handler, seed, phpErr)
			}
			s, err := DecodeSession(handler, data)
			if err != nil {
				t.Fatalf("%s seed %d: DecodeSession(%s): %v", handler, seed, clip(data), err)
			}
			enc, err := EncodeSession(handler, s)
			if err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("%s seed %d: EncodeSession = %s, %v; want %s", handler, seed, clip(enc), err, clip(data))
			}
			if _, err := SessionJSON(handler, s); err != nil {
				t.Fatalf("%s seed %d: SessionJSON: %v", handler, seed, err)
			}
		}
	}
}

// TestPHPAgreesOnDepthLimit checks MaxDepth against PHP's default
// unserialize_max_depth: the same inputs pass and fail on both sides.
func TestPHPAgreesOnDepthLimit(t *testing.T) {
	w := startPHPWorker(t)
	nested := func(levels int, inner string) []byte {
		return []byte(strings.Repeat("a:1:{i:0;", levels) + inner + strings.Repeat("}", levels))
	}
	objects := func(levels int) []byte {
		return []byte(strings.Repeat(`O:8:"stdClass":1:{s:1:"p";`, levels-1) + `O:8:"stdClass":0:{}` + strings.Repeat("}", levels-1))
	}
	cases := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"MaxDepth arrays", nested(MaxDepth, "i:1;"), true},
		{"MaxDepth+1 arrays", nested(MaxDepth+1, "i:1;"), false},
		{"MaxDepth arrays around an empty one", nested(MaxDepth, "a:0:{}"), true},
		{"MaxDepth arrays around an empty object", nested(MaxDepth, `O:8:"stdClass":0:{}`), false},
		{"MaxDepth objects", objects(MaxDepth), true},
		{"MaxDepth+1 objects", objects(MaxDepth + 1), false},
	}
	for _, c := range cases {
		_, phpErr := w.call("value", c.data)
		if phpOK := phpErr == ""; phpOK != c.ok {
			t.Errorf("%s: PHP accepts: %v, want %v", c.name, phpOK, c.ok)
		}
		_, err := Decode(c.data)
		if goOK := err == nil; goOK != c.ok {
			t.Errorf("%s: Decode error %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestPHPRejectsWhatGoRejects checks, for malformed inputs, that PHP's
// unserialize() fails too, so the decoder is not inventing errors where
// PHP only differs in strictness (those cases are listed in the package
// documentation and excluded here).
func TestPHPRejectsWhatGoRejects(t *testing.T) {
	w := startPHPWorker(t)
	for _, c := range invalidValues {
		if c.phpAccepts {
			continue
		}
		if _, err := Decode([]byte(c.in)); err == nil {
			t.Errorf("Decode(%q) succeeded", c.in)
		}
		if out, phpErr := w.call("value", []byte(c.in)); phpErr == "" {
			t.Errorf("PHP accepts %q (re-serialized as %q)", c.in, out)
		}
	}
}
