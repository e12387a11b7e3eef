package phpserialize

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samplesDir holds the samples written by real PHP (gen.php there
// regenerates them) and the PHP files the differential tests use.
const samplesDir = "../testdata/phpserialize"

// sample is one file of samplesDir: serialize() output when handler is
// empty, else session_encode() output under that handler.
type sample struct {
	name    string
	handler string
	data    []byte
}

// sampleHandler tells the handler of a sample from its file name, or
// "" for a value sample. ok is false for files that are not samples.
func sampleHandler(name string) (handler string, ok bool) {
	switch {
	case strings.HasPrefix(name, "value_") && strings.HasSuffix(name, ".txt"):
		return "", true
	case !strings.HasSuffix(name, ".bin"):
		return "", false
	case strings.HasPrefix(name, "session_php_binary_"):
		return HandlerPHPBinary, true
	case strings.HasPrefix(name, "session_php_serialize_"):
		return HandlerPHPSerialize, true
	case strings.HasPrefix(name, "session_php_"):
		return HandlerPHP, true
	}
	return "", false
}

func loadSamplesFrom(t testing.TB, dir string) []sample {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var samples []sample
	for _, e := range entries {
		handler, ok := sampleHandler(e.Name())
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{name: e.Name(), handler: handler, data: data})
	}
	if len(samples) == 0 {
		t.Fatalf("no samples in %s", dir)
	}
	return samples
}

func loadSamples(t testing.TB) []sample {
	return loadSamplesFrom(t, samplesDir)
}

// roundTrip decodes s and encodes the result again.
func (s sample) roundTrip() ([]byte, error) {
	if s.handler == "" {
		v, err := Decode(s.data)
		if err != nil {
			return nil, err
		}
		return Encode(v)
	}
	sess, err := DecodeSession(s.handler, s.data)
	if err != nil {
		return nil, err
	}
	return EncodeSession(s.handler, sess)
}

func TestSamplesRoundTrip(t *testing.T) {
	for _, s := range loadSamples(t) {
		t.Run(s.name, func(t *testing.T) {
			got, err := s.roundTrip()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, s.data) && !(s.handler == HandlerPHPSerialize && len(s.data) == 0) {
				t.Errorf("round trip changed the bytes:\n got %q\nwant %q", got, s.data)
			}
		})
	}
}

func TestSamplesCoverEveryToken(t *testing.T) {
	seen := map[byte]bool{}
	handlers := map[string]bool{}
	for _, s := range loadSamples(t) {
		handlers[s.handler] = true
		for _, c := range []byte("NbidsaOCErR") {
			if bytes.Contains(s.data, []byte{c, ':'}) || c == 'N' && bytes.Contains(s.data, []byte("N;")) {
				seen[c] = true
			}
		}
	}
	for _, c := range []byte("NbidsaOCErR") {
		if !seen[c] {
			t.Errorf("no sample contains %c", c)
		}
	}
	for _, h := range []string{"", HandlerPHP, HandlerPHPBinary, HandlerPHPSerialize} {
		if !handlers[h] {
			t.Errorf("no sample for handler %q", h)
		}
	}
}
