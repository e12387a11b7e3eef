package phpserialize

import (
	"math"
	"testing"
)

func TestArrayKey(t *testing.T) {
	cases := []struct {
		in   string
		want Key
	}{
		{"0", Int(0)},
		{"10", Int(10)},
		{"-5", Int(-5)},
		{"9223372036854775807", Int(math.MaxInt64)},
		{"-9223372036854775808", Int(math.MinInt64)},
		{"010", String("010")},
		{"-0", String("-0")},
		{"+1", String("+1")},
		{"1.5", String("1.5")},
		{" 1", String(" 1")},
		{"1 ", String("1 ")},
		{"", String("")},
		{"-", String("-")},
		{"9223372036854775808", String("9223372036854775808")},
		{"-9223372036854775809", String("-9223372036854775809")},
		{"99999999999999999999", String("99999999999999999999")},
		{"1e3", String("1e3")},
		{"0x1A", String("0x1A")},
	}
	for _, c := range cases {
		if got := ArrayKey(c.in); got != c.want {
			t.Errorf("ArrayKey(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestArraySetGet(t *testing.T) {
	var a Array
	a.Set(String("10"), String("ten"))
	a.Set(String("010"), String("oh-ten"))
	a.Set(Int(-5), Null{})
	a.Set(String("name"), String("Ann"))
	a.Set(Int(10), String("TEN")) // same key as "10": replaced in place
	a.Set(EscapedString{Value: "-5"}, Bool(true))
	want := []Entry{
		{Int(10), String("TEN")},
		{String("010"), String("oh-ten")},
		{Int(-5), Bool(true)},
		{String("name"), String("Ann")},
	}
	if !sameEntries(a.Entries, want) {
		t.Fatalf("entries = %#v, want %#v", a.Entries, want)
	}
	enc, err := Encode(&a)
	const wantEnc = `a:4:{i:10;s:3:"TEN";s:3:"010";s:6:"oh-ten";i:-5;b:1;s:4:"name";s:3:"Ann";}`
	if err != nil || string(enc) != wantEnc {
		t.Errorf("Encode = %s, %v; want %s", enc, err, wantEnc)
	}
	if v, ok := a.Get(String("10")); !ok || v != String("TEN") {
		t.Errorf(`Get("10") = %v, %v`, v, ok)
	}
	if v, ok := a.Get(Int(-5)); !ok || v != Bool(true) {
		t.Errorf("Get(-5) = %v, %v", v, ok)
	}
	if _, ok := a.Get(String("missing")); ok {
		t.Error(`Get("missing") found something`)
	}
	// Get normalizes decoded keys too: a string "1" key answers to 1.
	v, err := Decode([]byte(`a:1:{s:1:"1";s:3:"one";}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := v.(*Array).Get(Int(1)); !ok || got != String("one") {
		t.Errorf("Get(1) on a string \"1\" key = %v, %v", got, ok)
	}
}

func TestMangleProperty(t *testing.T) {
	cases := []struct {
		vis         Visibility
		class, name string
		key         string
	}{
		{Public, "", "pub", "pub"},
		{Public, "Ignored", "pub", "pub"},
		{Protected, "", "prot", "\x00*\x00prot"},
		{Private, "Foo", "priv", "\x00Foo\x00priv"},
		{Private, `Ns\Foo`, "p", "\x00Ns\\Foo\x00p"},
	}
	for _, c := range cases {
		if got := MangleProperty(c.vis, c.class, c.name); got != c.key {
			t.Errorf("MangleProperty(%v, %q, %q) = %q, want %q", c.vis, c.class, c.name, got, c.key)
		}
		vis, class, name, ok := UnmangleProperty(c.key)
		wantClass := c.class
		if c.vis != Private {
			wantClass = ""
		}
		if !ok || vis != c.vis || class != wantClass || name != c.name {
			t.Errorf("UnmangleProperty(%q) = %v, %q, %q, %v", c.key, vis, class, name, ok)
		}
	}
}

func TestUnmanglePropertyOddNames(t *testing.T) {
	cases := []struct {
		key   string
		vis   Visibility
		class string
		name  string
		ok    bool
	}{
		{"", Public, "", "", true},
		{"a\x00b", Public, "", "a\x00b", true},
		{"\x00", Public, "", "", false},
		{"\x00\x00x", Public, "", "", false},
		{"\x00ab", Public, "", "", false},
		{"\x00A\x00", Public, "", "", false}, // PHP calls an empty mangled name corrupt
		{"\x00A\x00p\x00q", Private, "A\x00p", "q", true},
		// An anonymous class name holds a NUL itself.
		{"\x00class@anonymous\x00/x.php:3$0\x00p", Private, "class@anonymous\x00/x.php:3$0", "p", true},
	}
	for _, c := range cases {
		vis, class, name, ok := UnmangleProperty(c.key)
		if vis != c.vis || class != c.class || name != c.name || ok != c.ok {
			t.Errorf("UnmangleProperty(%q) = %v, %q, %q, %v; want %v, %q, %q, %v", c.key, vis, class, name, ok, c.vis, c.class, c.name, c.ok)
		}
	}
}

func TestVisibilityString(t *testing.T) {
	for v, want := range map[Visibility]string{Public: "public", Protected: "protected", Private: "private", 7: "Visibility(7)"} {
		if got := v.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", v, got, want)
		}
	}
}
