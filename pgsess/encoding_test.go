package pgsess

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlainTextIsStoredAsIs(t *testing.T) {
	for _, s := range []string{"", "n|i:1;", `a:1:{s:1:"a";i:1;}`, "\x05count i:1;", "ünïcödé|s:2:\"ü\";"} {
		if got := encodeText([]byte(s)); got != s {
			t.Errorf("encodeText(%q) = %q", s, got)
		}
	}
}

func TestBinaryAndPrefixedDataRoundTrip(t *testing.T) {
	for _, b := range [][]byte{
		{0}, []byte("a|O:1:\"A\":1:{s:4:\"\x00A\x00p\";i:1;}"), {0xff, 0xfe}, []byte(binaryPrefix), []byte(binaryPrefix + "AAAA"),
	} {
		enc := encodeText(b)
		if !strings.HasPrefix(enc, binaryPrefix) || strings.IndexByte(enc, 0) >= 0 || !utf8.ValidString(enc) {
			t.Errorf("encodeText(%q) = %q: not a safe text value", b, enc)
		}
		if got := decodeText(enc); !bytes.Equal(got, b) {
			t.Errorf("decodeText(encodeText(%q)) = %q", b, got)
		}
	}
}

func TestPrefixWithoutValidBase64IsKeptAsText(t *testing.T) {
	s := binaryPrefix + "not base64!"
	if got := decodeText(s); string(got) != s {
		t.Fatalf("decodeText(%q) = %q", s, got)
	}
}

// FuzzTextEncoding checks that every byte string survives the text column and that
// decoding arbitrary stored text never fails or panics.
func FuzzTextEncoding(f *testing.F) {
	for _, s := range []string{"", "n|i:1;", "\x00", binaryPrefix, binaryPrefix + "AA==", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		enc := encodeText(b)
		if strings.IndexByte(enc, 0) >= 0 || !utf8.ValidString(enc) {
			t.Fatalf("encodeText(%q) = %q: PostgreSQL text cannot hold it", b, enc)
		}
		if got := decodeText(enc); !bytes.Equal(got, b) {
			t.Fatalf("round trip of %q gave %q", b, got)
		}
		decodeText(string(b))
	})
}
