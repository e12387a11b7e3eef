package phpserialize

import (
	"errors"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// sameValue compares values structurally, floats by sameFloat and
// remembered text, so that NaN equals NaN and -0 differs from 0.
func sameValue(a, b Value) bool {
	switch a := a.(type) {
	case Float:
		b, ok := b.(Float)
		return ok && sameFloat(a.Value, b.Value) && a.text == b.text
	case *Array:
		b, ok := b.(*Array)
		return ok && sameEntries(a.Entries, b.Entries)
	case *Object:
		b, ok := b.(*Object)
		return ok && a.Class == b.Class && sameEntries(a.Props, b.Props)
	}
	return a == b
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameValue(a[i].Key, b[i].Key) || !sameValue(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func TestDecodeValues(t *testing.T) {
	cases := []struct {
		in   string
		want Value
	}{
		{`N;`, Null{}},
		{`b:0;`, Bool(false)},
		{`b:1;`, Bool(true)},
		{`i:0;`, Int(0)},
		{`i:-17;`, Int(-17)},
		{`i:9223372036854775807;`, Int(math.MaxInt64)},
		{`i:-9223372036854775808;`, Int(math.MinInt64)},
		{`d:0.1;`, Float{Value: 0.1}},
		{`d:-0;`, Float{Value: math.Copysign(0, -1)}},
		{`d:1.0E+25;`, Float{Value: 1e25}},
		{`d:-1.0E-10;`, Float{Value: -1e-10}},
		{`d:INF;`, Float{Value: math.Inf(1)}},
		{`d:-INF;`, Float{Value: math.Inf(-1)}},
		{`d:NAN;`, Float{Value: math.NaN()}},
		// Text older PHP versions wrote, kept for the round trip.
		{`d:0.10000000000000001;`, Float{Value: 0.1, text: "0.10000000000000001"}},
		{`d:1e25;`, Float{Value: 1e25, text: "1e25"}},
		{`d:.5;`, Float{Value: 0.5, text: ".5"}},
		{`d:5.;`, Float{Value: 5, text: "5."}},
		{`d:+1.5E+3;`, Float{Value: 1500, text: "+1.5E+3"}},
		{`d:1e999;`, Float{Value: math.Inf(1), text: "1e999"}},
		{`d:1e-999;`, Float{Value: 0, text: "1e-999"}},
		{`s:0:"";`, String("")},
		{`s:5:"a"b;}";`, String(`a"b;}`)},
		{"s:3:\"\x00\xff\n\";", String("\x00\xff\n")},
		{`S:3:"a\62c";`, EscapedString{Value: "abc", raw: `a\62c`}},
		{`S:2:"\5C\00";`, EscapedString{Value: "\\\x00", raw: `\5C\00`}},
		{`a:0:{}`, &Array{}},
		{`a:2:{i:0;s:1:"x";s:1:"k";N;}`, &Array{Entries: []Entry{{Int(0), String("x")}, {String("k"), Null{}}}}},
		// Decoding keeps what is in the input: a string "1" key, duplicates.
		{`a:2:{s:1:"1";i:1;i:1;i:2;}`, &Array{Entries: []Entry{{String("1"), Int(1)}, {Int(1), Int(2)}}}},
		{`a:1:{S:1:"\6b";i:1;}`, &Array{Entries: []Entry{{EscapedString{Value: "k", raw: `\6b`}, Int(1)}}}},
		{`O:8:"stdClass":0:{}`, &Object{Class: "stdClass"}},
		{`O:3:"A\B":2:{s:4:"` + "\x00*\x00p" + `";i:1;i:0;b:1;}`, &Object{Class: `A\B`, Props: []Entry{{String("\x00*\x00p"), Int(1)}, {Int(0), Bool(true)}}}},
		{`C:3:"Foo":5:{a;b}c}`, Serializable{Class: "Foo", Data: "a;b}c"}},
		{`C:3:"Foo":0:{}`, Serializable{Class: "Foo"}},
		{`E:11:"Suit:Hearts";`, Enum{Class: "Suit", Case: "Hearts"}},
		{`E:7:"A:b:c:d";`, Enum{Class: "A", Case: "b:c:d"}},
		{`a:2:{i:0;O:1:"A":0:{}i:1;r:2;}`, &Array{Entries: []Entry{{Int(0), &Object{Class: "A"}}, {Int(1), ObjectRef{Slot: 2}}}}},
		{`a:2:{i:0;i:5;i:1;R:2;}`, &Array{Entries: []Entry{{Int(0), Int(5)}, {Int(1), Reference{Slot: 2}}}}},
		{`a:1:{i:0;R:1;}`, &Array{Entries: []Entry{{Int(0), Reference{Slot: 1}}}}},
		{`O:1:"A":1:{s:1:"a";r:1;}`, &Object{Class: "A", Props: []Entry{{String("a"), ObjectRef{Slot: 1}}}}},
	}
	for _, c := range cases {
		got, err := Decode([]byte(c.in))
		if err != nil {
			t.Errorf("Decode(%q): %v", c.in, err)
			continue
		}
		if !sameValue(got, c.want) {
			t.Errorf("Decode(%q) = %#v, want %#v", c.in, got, c.want)
		}
		enc, err := Encode(got)
		if err != nil || string(enc) != c.in {
			t.Errorf("Encode(Decode(%q)) = %q, %v", c.in, enc, err)
		}
	}
}

// invalidValues are inputs Decode rejects, with the offset and message it
// reports. phpAccepts marks the few that PHP's unserialize() accepts (see
// "Differences from PHP" in the package documentation).
var invalidValues = []struct {
	in         string
	offset     int
	msg        string
	phpAccepts bool
}{
	{``, 0, "expected a value, found end of input", false},
	{`x`, 0, "expected a value (N, b, i, d, s, S, a, O, C, E, r or R), found 'x'", false},
	{`N`, 1, "expected ';' after N in null, found end of input", false},
	{`b:2;`, 2, "expected '0' or '1' in bool, found '2'", false},
	{`i:12x`, 4, "expected ';' after integer, found 'x'", false},
	{`i:;`, 2, "expected digits in integer, found ';'", false},
	{`i:+1;`, 2, `integer "+1" is not written the way PHP writes integers`, true},
	{`i:01;`, 2, `integer "01" is not written the way PHP writes integers`, true},
	{`i:-0;`, 2, `integer "-0" is not written the way PHP writes integers`, true},
	{`i:9223372036854775808;`, 2, `integer "9223372036854775808" is outside the int64 range`, true},
	{`d:1.5`, 5, "expected ';' after float, found end of input", false},
	{`d:1.5.5;`, 2, `expected a float (digits, '.', exponent, INF, -INF or NAN) before ';', found "1.5.5"`, false},
	{`d:inf;`, 2, `expected a float`, false},
	{`d:0x10;`, 2, `expected a float`, false},
	{`d:;`, 2, `expected a float`, false},
	{`d:1e;`, 2, `expected a float`, false},
	{`s:6:"abc";`, 2, "string length 6 exceeds the 5 bytes remaining", false},
	{`s:3:"abc"`, 9, "expected ';' after string, found end of input", false},
	{`s:3:"abcd";`, 8, `expected '"' to close the 3-byte string, found 'd'`, false},
	{`s:2:abc;`, 4, `expected '"' to open string, found 'a'`, false},
	{`s:03:"abc";`, 2, "string length has a leading zero, which PHP never writes", true},
	{`s:99999999999999999999999:"";`, 2, "string length 99999999999999999999999 exceeds the input length 29", false},
	{`S:3:"a\6";`, 6, "expected two hex digits after '\\' in escaped string", false},
	{`S:5:"ab";`, 2, "escaped string length 5 exceeds the 4 bytes remaining", false},
	{`a:1:{i:0;i:1;`, 13, "expected '}' after 1 array entries, found end of input", false},
	{`a:2:{i:0;i:1;}`, 2, "array count 2 is more than the 9 bytes remaining can hold", false},
	{`a:1000000000:{}`, 2, "array count 1000000000 exceeds the input length 15", false},
	{`a:1:{d:1;i:1;}`, 5, "expected a key (i:, s: or S:), found 'd'", false},
	{`a:1:{N;i:1;}`, 5, "expected a key (i:, s: or S:), found 'N'", false},
	{`a:1:{a:0:{}i:1;}`, 5, "expected a key (i:, s: or S:), found 'a'", false},
	{`a:1:{i:0;}`, 2, "array count 1 is more than the 5 bytes remaining can hold", false},
	{`a:1:{i:0;}       `, 9, "expected a value (N, b, i, d, s, S, a, O, C, E, r or R), found '}'", false},
	{`i:1;i:2;`, 4, "expected end of input after the value, found 'i'", true},
	{`O:0:"":0:{}`, 2, "object: class name is empty", false},
	{`O:2:"\A":0:{}`, 2, `object: class name starts with '\'`, false},
	{`O:3:"A-B":0:{}`, 2, `object: class name "A-B" contains '-'`, false},
	{"O:2:\"A\x00\":0:{}", 2, `object: class name "A\x00" contains byte 0x00`, false},
	{`O:1:"A":1:{}`, 8, "object property count 1 is more than the 1 bytes remaining can hold", false},
	{`O:1:"A":0:{`, 11, "expected '}' after 0 object property entries, found end of input", false},
	{`C:1:"A":5:{ab}`, 8, "Serializable payload length 5 exceeds the 3 bytes remaining", false},
	{`C:1:"A":1:{ab}`, 12, "expected '}' after the 1-byte Serializable payload, found 'b'", false},
	{`E:4:"Suit";`, 2, `enum name "Suit" has no ':' between class and case`, false},
	{`E:5:"Suit:";`, 2, `enum name "Suit:" has an empty case name`, false},
	{`E:6:":Heart";`, 2, "enum: class name is empty", false},
	{`r:1;`, 0, "r:1 refers to slot 1, but only 0 slots precede it", false},
	{`R:1;`, 0, "R:1 refers to slot 1, but only 0 slots precede it", false},
	{`a:1:{i:0;r:0;}`, 9, "r:0 slot numbers start at 1", false},
	{`a:1:{i:0;r:1;}`, 9, "r:1 refers to slot 1, which holds no object", false},
	{`a:1:{i:0;r:2;}`, 9, "r:2 refers to slot 2, but only 1 slots precede it", false},
	{`a:1:{i:0;R:2;}`, 9, "R:2 refers to slot 2, but only 1 slots precede it", false},
	{`a:1:{i:0;R:01;}`, 11, `slot number "01" is not a canonical number in range`, true},
	{`a:1:{i:0;R:99999999999999999999;}`, 11, `slot number "99999999999999999999" is not a canonical number in range`, false},
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range invalidValues {
		_, err := Decode([]byte(c.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Decode(%q) = %v, want a *SyntaxError", c.in, err)
			continue
		}
		if se.Offset != c.offset || !strings.HasPrefix(se.Msg, c.msg) {
			t.Errorf("Decode(%q):\n got offset %d: %s\nwant offset %d: %s", c.in, se.Offset, se.Msg, c.offset, c.msg)
		}
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, err := Decode([]byte(`a:1:{i:0;i:12x}`))
	const want = "phpserialize: offset 13: expected ';' after integer, found 'x'"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestDecodeSlotsAfterSerializable checks that references past the first
// Serializable are accepted, as their slots may lie inside its payload.
func TestDecodeSlotsAfterSerializable(t *testing.T) {
	ok := []string{
		// PHP writes this: slot 4 is inside the payload.
		`a:3:{i:0;C:6:"Nested":22:{a:1:{i:0;O:1:"N":0:{}}}i:1;r:4;i:2;r:4;}`,
		`a:2:{i:0;C:1:"A":0:{}i:1;R:99;}`,
		`a:2:{i:0;C:1:"A":0:{}i:1;r:2;}`,
	}
	for _, in := range ok {
		if _, err := Decode([]byte(in)); err != nil {
			t.Errorf("Decode(%q): %v", in, err)
		}
	}
	bad := []string{
		`a:2:{i:0;i:1;i:1;C:1:"A":0:{}i:2;r:2;}`, // slot 2 precedes the payload: checked
		`a:2:{i:0;C:1:"A":0:{}i:1;r:0;}`,
	}
	for _, in := range bad {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) succeeded", in)
		}
	}
}

// TestDecodeHostileInputs checks that lying lengths and counts fail
// without allocating for what they declare, and that deep nesting stops
// at MaxDepth.
func TestDecodeHostileInputs(t *testing.T) {
	cases := map[string][]byte{
		"huge string length":   []byte(`s:9223372036854775807:"x";`),
		"huge array count":     []byte(`a:9223372036854775807:{}`),
		"count over remaining": []byte(`a:100:{` + strings.Repeat(`i:0;N;`, 99) + `}`),
		"deep nesting":         []byte(strings.Repeat(`a:1:{i:0;`, MaxDepth+1) + `N;` + strings.Repeat(`}`, MaxDepth+1)),
		"deep objects":         []byte(strings.Repeat(`O:1:"A":1:{i:0;`, MaxDepth+1) + `N;` + strings.Repeat(`}`, MaxDepth+1)),
		"huge payload":         []byte(`C:1:"A":4611686018427387903:{}`),
		"unterminated escape":  []byte(`S:1000:"` + strings.Repeat(`\`, 10)),
	}
	for name, in := range cases {
		if _, err := Decode(in); err == nil {
			t.Errorf("%s: Decode succeeded", name)
		}
	}
}

// TestDecodeMemoryBounded feeds nested arrays that each claim as many
// elements as the rest of the input could hold, and checks that memory
// stays proportional to the input rather than to the claims.
func TestDecodeMemoryBounded(t *testing.T) {
	const levels = 2000
	var b strings.Builder
	for range levels {
		// Each level claims (remaining/6) elements but holds one.
		b.WriteString("a:1:{i:0;")
	}
	b.WriteString("N;")
	b.WriteString(strings.Repeat("}", levels))
	honest := b.String()
	// Now make every count as large as the check allows at its position.
	in := []byte(honest)
	var lying []byte
	pos := 0
	for range levels {
		remaining := len(in) - pos - len("a:1:{")
		claim := (remaining - 1) / minEntrySize
		lying = append(lying, "a:"...)
		lying = strconv.AppendInt(lying, int64(claim), 10)
		lying = append(lying, ":{i:0;"...)
		pos += len("a:1:{i:0;")
	}
	lying = append(lying, in[pos:]...)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(lying)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("Decode of lying counts succeeded")
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if limit := uint64(64 * len(lying)); allocated > limit {
		t.Errorf("decoding %d bytes allocated %d bytes, over %d", len(lying), allocated, limit)
	}
}

func TestFloatText(t *testing.T) {
	cases := []struct {
		f    float64
		text string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{1, "1"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{0.30000000000000004, "0.30000000000000004"},
		{1e15, "1000000000000000"},
		{1e16, "10000000000000000"},
		{1e17, "1.0E+17"},
		{1.5e17, "1.5E+17"},
		{123456789012345678, "1.2345678901234568E+17"},
		{0.0001, "0.0001"},
		{0.00012, "0.00012"},
		{0.00001, "1.0E-5"},
		{1e25, "1.0E+25"},
		{-1e-10, "-1.0E-10"},
		{2.220446049250313e-16, "2.220446049250313E-16"},
		{5e-324, "5.0E-324"},
		{math.MaxFloat64, "1.7976931348623157E+308"},
		{1e100, "1.0E+100"},
		{math.Inf(1), "INF"},
		{math.Inf(-1), "-INF"},
		{math.NaN(), "NAN"},
	}
	for _, c := range cases {
		if got := string(appendFloat(nil, c.f)); got != c.text {
			t.Errorf("appendFloat(%v) = %s, want %s", c.f, got, c.text)
		}
		f, ok := parseFloatText([]byte(c.text))
		if !ok || !sameFloat(f, c.f) {
			t.Errorf("parseFloatText(%s) = %v, %v", c.text, f, ok)
		}
	}
}
