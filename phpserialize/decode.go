package phpserialize

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// MaxDepth is the deepest nesting of arrays and objects that Decode,
// DecodeSession, Encode, EncodeSession, JSON and SessionJSON accept. It
// equals the default of PHP's unserialize_max_depth, so whatever PHP reads
// back with default settings this package reads too. As in PHP, an empty
// array does not count as a level; an object, even an empty one, does.
const MaxDepth = 4096

// minEntrySize is the fewest bytes one array element or property can take
// ("i:0;N;"): a declared count larger than the remaining input divided by
// it is a lie, rejected before anything is allocated.
const minEntrySize = 6

// SyntaxError describes input that is not serialized PHP data this
// package accepts: Msg says what was expected and Offset is the 0-based
// byte offset in the input (the whole session data, for DecodeSession)
// where the problem was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error returns "phpserialize: offset <Offset>: <Msg>".
func (e *SyntaxError) Error() string {
	return "phpserialize: offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Decode parses data, which must hold exactly one serialized value and
// nothing after it, as PHP's unserialize() does, and returns the value.
// Encode of the result returns data byte for byte. Every failure is a
// *SyntaxError. Decode accepts what unserialize() accepts, with the
// exceptions listed in the package documentation; it never runs or looks
// up PHP classes, so it cannot reject data for naming a class that does
// not exist.
func Decode(data []byte) (Value, error) {
	d := newDecoder(data)
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.pos != len(data) {
		return nil, d.errorf(d.pos, "expected end of input after the value, found %s", d.found(d.pos))
	}
	return v, nil
}

// decoder parses serialized values from data, one slot table spanning
// all values it reads (as PHP's var_hash spans a session's variables).
type decoder struct {
	data  []byte
	pos   int
	depth int
	// budget is how many entries may still be preallocated from declared
	// counts. Honest counts never sum to more than the input can hold;
	// the budget stops nested dishonest ones from each reserving memory
	// for the whole remaining input.
	budget int
	slots  slotTable
}

func newDecoder(data []byte) *decoder {
	return &decoder{data: data, budget: len(data)/minEntrySize + 1}
}

func (d *decoder) errorf(offset int, format string, args ...any) error {
	return &SyntaxError{Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// found describes the byte at offset i for an error message.
func (d *decoder) found(i int) string {
	if i >= len(d.data) {
		return "end of input"
	}
	return describeByte(d.data[i])
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}

// expect consumes byte c or fails with "expected 'c' <context>, found
// ...", where context is the concatenated parts: built only on failure, so
// that the happy path allocates nothing.
func (d *decoder) expect(c byte, context ...string) error {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return nil
	}
	return d.errorf(d.pos, "expected %s %s, found %s", strconv.QuoteRune(rune(c)), strings.Join(context, ""), d.found(d.pos))
}

// value parses one value, giving it its reference slot first, as PHP
// does before it parses the value's contents.
func (d *decoder) value() (Value, error) {
	if d.pos >= len(d.data) {
		return nil, d.errorf(d.pos, "expected a value, found end of input")
	}
	switch d.data[d.pos] {
	case 'N':
		d.slots.push(false, false)
		if err := d.expect2('N', ';', "null"); err != nil {
			return nil, err
		}
		return Null{}, nil
	case 'b':
		d.slots.push(false, false)
		return d.bool()
	case 'i':
		d.slots.push(false, false)
		return d.int()
	case 'd':
		d.slots.push(false, false)
		return d.float()
	case 's':
		d.slots.push(false, false)
		return d.string()
	case 'S':
		d.slots.push(false, false)
		return d.escapedString()
	case 'a':
		d.slots.push(false, false)
		return d.array()
	case 'O':
		d.slots.push(true, false)
		return d.object()
	case 'C':
		d.slots.push(true, true)
		return d.serializable()
	case 'E':
		d.slots.push(true, false)
		return d.enum()
	case 'r':
		d.slots.push(true, false)
		n, err := d.reference(true)
		return ObjectRef{Slot: n}, err
	case 'R':
		n, err := d.reference(false)
		return Reference{Slot: n}, err
	}
	return nil, d.errorf(d.pos, "expected a value (N, b, i, d, s, S, a, O, C, E, r or R), found %s", d.found(d.pos))
}

// key parses an array key or property name: i:, s: or S:. Keys take no
// reference slot.
func (d *decoder) key() (Key, error) {
	if d.pos < len(d.data) {
		switch d.data[d.pos] {
		case 'i':
			return d.int()
		case 's':
			return d.string()
		case 'S':
			return d.escapedString()
		}
	}
	return nil, d.errorf(d.pos, "expected a key (i:, s: or S:), found %s", d.found(d.pos))
}

// expect2 consumes the two bytes a, b that open (or, for N;, are) a token.
func (d *decoder) expect2(a, b byte, token ...string) error {
	if d.pos+1 < len(d.data) && d.data[d.pos] == a && d.data[d.pos+1] == b {
		d.pos += 2
		return nil
	}
	name := strings.Join(token, "")
	if err := d.expect(a, "to start ", name); err != nil {
		return err
	}
	return d.expect(b, "after ", string(a), " in ", name)
}

func (d *decoder) bool() (Value, error) {
	if err := d.expect2('b', ':', "bool"); err != nil {
		return nil, err
	}
	var v Bool
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
	case d.pos < len(d.data) && d.data[d.pos] == '1':
		v = true
	default:
		return nil, d.errorf(d.pos, "expected '0' or '1' in bool, found %s", d.found(d.pos))
	}
	d.pos++
	if err := d.expect(';', "after bool"); err != nil {
		return nil, err
	}
	return v, nil
}

func (d *decoder) int() (Int, error) {
	if err := d.expect2('i', ':', "integer"); err != nil {
		return 0, err
	}
	start := d.pos
	end := start
	if end < len(d.data) && (d.data[end] == '-' || d.data[end] == '+') {
		end++
	}
	digits := countDigits(d.data[end:])
	if digits == 0 {
		return 0, d.errorf(end, "expected digits in integer, found %s", d.found(end))
	}
	end += digits
	n, ok := parseCanonicalInt(d.data[start:end])
	if !ok {
		text := d.data[start:end]
		if text[0] == '+' || (digits > 1 && d.data[end-digits] == '0') || string(text) == "-0" {
			return 0, d.errorf(start, "integer %s is not written the way PHP writes integers (no '+', no leading zeros, no -0)", quoteBytes(text))
		}
		return 0, d.errorf(start, "integer %s is outside the int64 range", quoteBytes(text))
	}
	d.pos = end
	if err := d.expect(';', "after integer"); err != nil {
		return 0, err
	}
	return Int(n), nil
}

func (d *decoder) float() (Value, error) {
	if err := d.expect2('d', ':', "float"); err != nil {
		return nil, err
	}
	start := d.pos
	semi := bytes.IndexByte(d.data[start:], ';')
	if semi < 0 {
		return nil, d.errorf(len(d.data), "expected ';' after float, found end of input")
	}
	text := d.data[start : start+semi]
	f, ok := parseFloatText(text)
	if !ok {
		return nil, d.errorf(start, "expected a float (digits, '.', exponent, INF, -INF or NAN) before ';', found %s", quoteBytes(text))
	}
	d.pos = start + semi + 1
	v := Float{Value: f}
	var canonical [32]byte
	if !bytes.Equal(appendFloat(canonical[:0], f), text) {
		v.text = string(text)
	}
	return v, nil
}

// length parses the unsigned decimal of a length or count, written
// without leading zeros as PHP writes it. Values larger than the whole
// input cannot be honest and are reported as such without overflowing.
func (d *decoder) length(whatParts ...string) (int, error) {
	start := d.pos
	digits := countDigits(d.data[start:])
	if digits == 0 {
		return 0, d.errorf(start, "expected digits in %s, found %s", strings.Join(whatParts, ""), d.found(start))
	}
	if digits > 1 && d.data[start] == '0' {
		return 0, d.errorf(start, "%s has a leading zero, which PHP never writes", strings.Join(whatParts, ""))
	}
	n := 0
	for _, c := range d.data[start : start+digits] {
		n = n*10 + int(c-'0')
		if n > len(d.data) {
			return 0, d.errorf(start, "%s %s exceeds the input length %s", strings.Join(whatParts, ""), string(d.data[start:start+digits]), strconv.Itoa(len(d.data)))
		}
	}
	d.pos = start + digits
	return n, nil
}

// quoted parses `<len>:"<len bytes>"` and returns the bytes.
func (d *decoder) quoted(what string) ([]byte, error) {
	lengthAt := d.pos
	n, err := d.length(what, " length")
	if err != nil {
		return nil, err
	}
	if err := d.expect(':', "after ", what, " length"); err != nil {
		return nil, err
	}
	if err := d.expect('"', "to open ", what); err != nil {
		return nil, err
	}
	if n > len(d.data)-d.pos {
		return nil, d.errorf(lengthAt, "%s length %s exceeds the %s bytes remaining", what, strconv.Itoa(n), strconv.Itoa(len(d.data)-d.pos))
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		return nil, d.errorf(d.pos, "expected '\"' to close the %s-byte %s, found %s", strconv.Itoa(n), what, d.found(d.pos))
	}
	d.pos++
	return b, nil
}

func (d *decoder) string() (String, error) {
	if err := d.expect2('s', ':', "string"); err != nil {
		return "", err
	}
	b, err := d.quoted("string")
	if err != nil {
		return "", err
	}
	if err := d.expect(';', "after string"); err != nil {
		return "", err
	}
	return String(b), nil
}

func (d *decoder) escapedString() (EscapedString, error) {
	if err := d.expect2('S', ':', "escaped string"); err != nil {
		return EscapedString{}, err
	}
	lengthAt := d.pos
	n, err := d.length("escaped string length")
	if err != nil {
		return EscapedString{}, err
	}
	if err := d.expect(':', "after escaped string length"); err != nil {
		return EscapedString{}, err
	}
	if err := d.expect('"', "to open escaped string"); err != nil {
		return EscapedString{}, err
	}
	if n > len(d.data)-d.pos {
		return EscapedString{}, d.errorf(lengthAt, "escaped string length %s exceeds the %s bytes remaining", strconv.Itoa(n), strconv.Itoa(len(d.data)-d.pos))
	}
	start := d.pos
	value := make([]byte, 0, n)
	for len(value) < n {
		if d.pos >= len(d.data) {
			return EscapedString{}, d.errorf(d.pos, "expected %s more escaped string bytes, found end of input", strconv.Itoa(n-len(value)))
		}
		c := d.data[d.pos]
		if c != '\\' {
			value = append(value, c)
			d.pos++
			continue
		}
		hi, ok1 := unhex(d.data, d.pos+1)
		lo, ok2 := unhex(d.data, d.pos+2)
		if !ok1 || !ok2 {
			return EscapedString{}, d.errorf(d.pos, "expected two hex digits after '\\' in escaped string")
		}
		value = append(value, hi<<4|lo)
		d.pos += 3
	}
	raw := d.data[start:d.pos]
	if err := d.expect('"', "to close escaped string"); err != nil {
		return EscapedString{}, err
	}
	if err := d.expect(';', "after escaped string"); err != nil {
		return EscapedString{}, err
	}
	return EscapedString{Value: string(value), raw: string(raw)}, nil
}

func unhex(b []byte, i int) (byte, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// count parses `<n>:{` after a: or an object's class name, checks n
// against the remaining input and enters one nesting level if the
// container counts as one (see MaxDepth).
func (d *decoder) count(what string, tokenAt int, alwaysNested bool) (int, error) {
	countAt := d.pos
	n, err := d.length(what, " count")
	if err != nil {
		return 0, err
	}
	if err := d.expect(':', "after ", what, " count"); err != nil {
		return 0, err
	}
	if err := d.expect('{', "to open ", what); err != nil {
		return 0, err
	}
	room := (len(d.data) - d.pos - 1) / minEntrySize // -1 for the closing '}'
	if n > room {
		return 0, d.errorf(countAt, "%s count %s is more than the %s bytes remaining can hold", what, strconv.Itoa(n), strconv.Itoa(len(d.data)-d.pos))
	}
	if n > 0 || alwaysNested {
		if d.depth >= MaxDepth {
			return 0, d.errorf(tokenAt, "arrays and objects are nested more than MaxDepth (%s) levels deep", strconv.Itoa(MaxDepth))
		}
		d.depth++
	}
	return n, nil
}

// entries parses n key/value pairs and the closing '}', leaving the
// nesting level entered by count.
func (d *decoder) entries(n int, what string, nested bool) ([]Entry, error) {
	var entries []Entry
	if n > 0 {
		prealloc := min(n, d.budget)
		d.budget -= prealloc
		entries = make([]Entry, 0, prealloc)
	}
	for range n {
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		entries = append(entries, Entry{Key: k, Value: v})
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '}' {
		return nil, d.errorf(d.pos, "expected '}' after %s %s entries, found %s", strconv.Itoa(n), what, d.found(d.pos))
	}
	d.pos++
	if nested {
		d.depth--
	}
	return entries, nil
}

func (d *decoder) array() (*Array, error) {
	tokenAt := d.pos
	if err := d.expect2('a', ':', "array"); err != nil {
		return nil, err
	}
	n, err := d.count("array", tokenAt, false)
	if err != nil {
		return nil, err
	}
	entries, err := d.entries(n, "array", n > 0)
	if err != nil {
		return nil, err
	}
	return &Array{Entries: entries}, nil
}

func (d *decoder) className(token string) (string, error) {
	at := d.pos
	b, err := d.quoted("class name")
	if err != nil {
		return "", err
	}
	if msg := checkClassName(b); msg != "" {
		return "", d.errorf(at, "%s: %s", token, msg)
	}
	return string(b), nil
}

// checkClassName applies unserialize()'s checks of a class name: not
// empty, not starting with '\', only letters, digits, '_', '\' and bytes
// from 0x80 up.
func checkClassName[T string | []byte](name T) string {
	if len(name) == 0 {
		return "class name is empty"
	}
	if name[0] == '\\' {
		return "class name starts with '\\'"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '\\' || c >= 0x80) {
			return "class name " + quoteBytes(name) + " contains " + describeByte(c)
		}
	}
	return ""
}

func (d *decoder) object() (*Object, error) {
	tokenAt := d.pos
	if err := d.expect2('O', ':', "object"); err != nil {
		return nil, err
	}
	class, err := d.className("object")
	if err != nil {
		return nil, err
	}
	if err := d.expect(':', "after object class name"); err != nil {
		return nil, err
	}
	n, err := d.count("object property", tokenAt, true)
	if err != nil {
		return nil, err
	}
	props, err := d.entries(n, "object property", true)
	if err != nil {
		return nil, err
	}
	return &Object{Class: class, Props: props}, nil
}

func (d *decoder) serializable() (Value, error) {
	if err := d.expect2('C', ':', "Serializable object"); err != nil {
		return nil, err
	}
	class, err := d.className("Serializable object")
	if err != nil {
		return nil, err
	}
	if err := d.expect(':', "after Serializable class name"); err != nil {
		return nil, err
	}
	lengthAt := d.pos
	n, err := d.length("Serializable payload length")
	if err != nil {
		return nil, err
	}
	if err := d.expect(':', "after Serializable payload length"); err != nil {
		return nil, err
	}
	if err := d.expect('{', "to open Serializable payload"); err != nil {
		return nil, err
	}
	if n > len(d.data)-d.pos {
		return nil, d.errorf(lengthAt, "Serializable payload length %s exceeds the %s bytes remaining", strconv.Itoa(n), strconv.Itoa(len(d.data)-d.pos))
	}
	payload := d.data[d.pos : d.pos+n]
	d.pos += n
	if d.pos >= len(d.data) || d.data[d.pos] != '}' {
		return nil, d.errorf(d.pos, "expected '}' after the %s-byte Serializable payload, found %s", strconv.Itoa(n), d.found(d.pos))
	}
	d.pos++
	return Serializable{Class: class, Data: string(payload)}, nil
}

func (d *decoder) enum() (Value, error) {
	if err := d.expect2('E', ':', "enum"); err != nil {
		return nil, err
	}
	at := d.pos
	b, err := d.quoted("enum name")
	if err != nil {
		return nil, err
	}
	colon := bytes.IndexByte(b, ':')
	if colon < 0 {
		return nil, d.errorf(at, "enum name %s has no ':' between class and case", quoteBytes(b))
	}
	if msg := checkClassName(b[:colon]); msg != "" {
		return nil, d.errorf(at, "enum: %s", msg)
	}
	if colon == len(b)-1 {
		return nil, d.errorf(at, "enum name %s has an empty case name", quoteBytes(b))
	}
	if err := d.expect(';', "after enum"); err != nil {
		return nil, err
	}
	return Enum{Class: string(b[:colon]), Case: string(b[colon+1:])}, nil
}

// reference parses r:<n>; (objectRef) or R:<n>; and checks n against the
// slots so far.
func (d *decoder) reference(objectRef bool) (int, error) {
	tokenAt := d.pos
	token := "R:"
	if objectRef {
		token = "r:"
	}
	if err := d.expect2(token[0], ':', token[:1], " reference"); err != nil {
		return 0, err
	}
	start := d.pos
	digits := countDigits(d.data[start:])
	if digits == 0 {
		return 0, d.errorf(start, "expected digits in %s reference, found %s", token[:1], d.found(start))
	}
	text := d.data[start : start+digits]
	n, ok := parseCanonicalInt(text)
	if !ok || n > int64(maxInt) {
		return 0, d.errorf(start, "slot number %s is not a canonical number in range", quoteBytes(text))
	}
	d.pos = start + digits
	if err := d.expect(';', "after ", token[:1], " reference"); err != nil {
		return 0, err
	}
	if _, msg := d.slots.check(int(n), objectRef); msg != "" {
		return 0, d.errorf(tokenAt, "%s%s %s", token, string(text), msg)
	}
	return int(n), nil
}

const maxInt = int(^uint(0) >> 1)

// quoteBytes quotes b for an error message, cut to 40 bytes.
func quoteBytes[T string | []byte](b T) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "..."
	}
	return strconv.Quote(string(b))
}
