package pgsess

import (
	"bytes"
	"encoding/base64"
	"unicode/utf8"
)

// binaryPrefix marks a text value that holds base64 of arbitrary bytes.
//
// PostgreSQL text cannot hold NUL bytes or, in a UTF8 database, invalid UTF-8, yet PHP
// session data holds both (private and protected property names start with NUL). Plain
// text is stored as is, so rows stay readable by old readers and rows written by the old
// extension read back unchanged. Anything else is stored as binaryPrefix followed by its
// standard base64.
//
// No output of PHP's session serializers can be mistaken for this form:
//   - php: a non-empty payload always contains '|' after each name; base64 never does.
//   - php_serialize: always starts with "a:".
//   - php_binary: the first byte 'p' (0x70) would be a name length of 112, and the value
//     after that name would have to start with a type letter followed by ':' or ';',
//     neither of which is in the base64 alphabet.
//
// Text that happens to start with binaryPrefix is itself encoded, so decoding is
// unambiguous for every value this package writes.
const binaryPrefix = "phpsessd:base64:"

// encodeText returns b as it is stored in a text column.
func encodeText(b []byte) string {
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 && !bytes.HasPrefix(b, []byte(binaryPrefix)) {
		return string(b)
	}
	return binaryPrefix + base64.StdEncoding.EncodeToString(b)
}

// decodeText reverses encodeText. A value that carries binaryPrefix but whose remainder
// is not valid base64 was not written by encodeText; it is returned as is rather than
// lost.
func decodeText(s string) []byte {
	if len(s) >= len(binaryPrefix) && s[:len(binaryPrefix)] == binaryPrefix {
		if b, err := base64.StdEncoding.DecodeString(s[len(binaryPrefix):]); err == nil {
			return b
		}
	}
	return []byte(s)
}
