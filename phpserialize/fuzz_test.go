package phpserialize

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// addSeeds seeds a fuzz corpus with every sample PHP wrote, the malformed
// inputs of the decoder tests and old-PHP session markers.
func addSeeds(f *testing.F) {
	for _, s := range loadSamples(f) {
		f.Add(s.data)
	}
	for _, c := range invalidValues {
		f.Add([]byte(c.in))
	}
	for _, s := range []string{"!gone|a|i:1;", "\x84gone\x01ai:1;\x80", `S:3:"a\62c";`, `d:0.10000000000000001;`} {
		f.Add([]byte(s))
	}
}

var fuzzHandlers = []string{HandlerPHP, HandlerPHPBinary, HandlerPHPSerialize}

// checkDecodeError fails unless err is a *SyntaxError inside the input.
func checkDecodeError(t *testing.T, what string, data []byte, err error) {
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) || se.Msg == "" {
		t.Fatalf("%s(%q): error %v is not a *SyntaxError within the input", what, data, err)
	}
}

// FuzzDecode checks that decoding any input as a value and as each
// session format never panics, fails only with a *SyntaxError, and, when
// it succeeds, encodes back to the input byte for byte and renders valid
// JSON.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := Decode(data); err != nil {
			checkDecodeError(t, "Decode", data, err)
		} else {
			enc, err := Encode(v)
			if err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("Encode(Decode(%q)) = %q, %v", data, enc, err)
			}
			out, err := JSON(v)
			if err != nil || !json.Valid(out) {
				t.Fatalf("JSON(Decode(%q)) = %s, %v", data, out, err)
			}
		}
		for _, h := range fuzzHandlers {
			s, err := DecodeSession(h, data)
			if err != nil {
				checkDecodeError(t, "DecodeSession "+h, data, err)
				continue
			}
			enc, err := EncodeSession(h, s)
			if err != nil || !bytes.Equal(enc, data) && !(h == HandlerPHPSerialize && len(data) == 0) {
				t.Fatalf("EncodeSession(%s, DecodeSession(%q)) = %q, %v", h, data, enc, err)
			}
			out, err := SessionJSON(h, s)
			if err != nil || !json.Valid(out) {
				t.Fatalf("SessionJSON(%s, DecodeSession(%q)) = %s, %v", h, data, out, err)
			}
		}
	})
}

// FuzzRoundTrip checks decode → encode → decode: the second decode
// succeeds and yields the same value or session as the first.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := Decode(data); err == nil {
			enc, err := Encode(v)
			if err != nil {
				t.Fatalf("Encode(Decode(%q)): %v", data, err)
			}
			again, err := Decode(enc)
			if err != nil || !sameValue(again, v) {
				t.Fatalf("Decode(Encode(Decode(%q))) = %#v, %v; want %#v", data, again, err, v)
			}
		}
		for _, h := range fuzzHandlers {
			s, err := DecodeSession(h, data)
			if err != nil {
				continue
			}
			enc, err := EncodeSession(h, s)
			if err != nil {
				t.Fatalf("EncodeSession(%s, DecodeSession(%q)): %v", h, data, err)
			}
			again, err := DecodeSession(h, enc)
			if err != nil || !sameSession(again, s) {
				t.Fatalf("%s: DecodeSession(EncodeSession(DecodeSession(%q))) = %#v, %v; want %#v", h, data, again, err, s)
			}
		}
	})
}

// TestEncodeDecodeGenerated checks encode → decode on values built in Go
// rather than decoded, which exercises the encoder's own formatting
// (floats, escaping, normalized keys).
func TestEncodeDecodeGenerated(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	for seed := range n {
		g := newValueGen(uint64(seed) + 1<<32)
		v := g.array(0)
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("seed %d: Encode: %v", seed, err)
		}
		back, err := Decode(enc)
		if err != nil || !sameValue(back, v) {
			t.Fatalf("seed %d: Decode(%q) = %#v, %v", seed, enc, back, err)
		}
		for _, h := range fuzzHandlers {
			g := newValueGen(uint64(seed))
			s := g.session(h)
			enc, err := EncodeSession(h, s)
			if err != nil {
				t.Fatalf("seed %d %s: EncodeSession: %v", seed, h, err)
			}
			back, err := DecodeSession(h, enc)
			if err != nil || !sameSession(back, s) {
				t.Fatalf("seed %d %s: DecodeSession(%q) = %#v, %v", seed, h, enc, back, err)
			}
		}
	}
}
