package phpserialize

import (
	"math"
	"strconv"
)

// Value is one PHP value as serialize() writes it. It is implemented only
// by the types of this package: Null, Bool, Int, Float, String,
// EscapedString, *Array, *Object, Serializable, Enum, ObjectRef and
// Reference. A nil Value, a nil *Array and a nil *Object are not values:
// Encode rejects them.
type Value interface {
	phpValue()
}

// Key is an array key or object property name: Int, String or
// EscapedString, the only tokens PHP's unserialize() accepts as keys.
type Key interface {
	Value
	phpKey()
}

// Null is PHP's null, serialized as N;.
type Null struct{}

// Bool is a PHP bool, serialized as b:0; or b:1;.
type Bool bool

// Int is a PHP int, serialized as i:<decimal>; over the full int64 range.
type Int int64

// Float is a PHP float, serialized as d:<text>;.
//
// Encode writes Value the way PHP 7.1 and later do with the default
// serialize_precision of -1 (shortest text that reads back exactly: 0.1,
// 1.0E+25, -0, INF, -INF, NAN). Decode also accepts every other text PHP's
// unserialize() accepts, such as the 17-digit 0.10000000000000001 written
// by PHP before 7.1; such a Float remembers its text so that Encode writes
// it back unchanged, as long as Value still holds the number read.
type Float struct {
	Value float64
	text  string
}

// String is a PHP string: a sequence of any bytes, not necessarily UTF-8,
// serialized as s:<byte length>:"<bytes>";.
type String string

// EscapedString is a string in the legacy S:<length>:"<text>"; form, where
// a backslash and two hex digits stand for one byte. Only PHP 6
// development builds wrote it; unserialize() still reads it. Value holds
// the bytes after unescaping. A decoded EscapedString remembers its
// escaped text so that Encode writes it back unchanged as long as it still
// unescapes to Value; otherwise Encode escapes Value afresh.
type EscapedString struct {
	Value string
	raw   string
}

// Array is a PHP array: an ordered list of entries. Decode keeps the
// entries exactly as they appear in the input, duplicates and key forms
// included; Set applies PHP's key rules when building an array.
type Array struct {
	Entries []Entry
}

// Entry is one key and value of an Array or Object.
type Entry struct {
	Key   Key
	Value Value
}

// Object is a PHP object in the O: form: a class name and its properties
// in order. Each property key is the name PHP stores (see
// MangleProperty): "name" for public, "\x00*\x00name" for protected and
// "\x00Class\x00name" for private properties. For classes with
// __serialize() (PHP 7.4 and later) Props holds the array that method
// returned, so keys may be Int and carry no visibility.
type Object struct {
	Class string
	Props []Entry
}

// Serializable is an object of a class implementing PHP's Serializable
// interface, in the C:<len>:"Class":<len>:{<data>} form. Data is whatever
// the class's serialize() method returned; this package keeps it opaque.
type Serializable struct {
	Class string
	Data  string
}

// Enum is a case of a PHP 8.1 enum, serialized as E:<len>:"Class:Case";.
type Enum struct {
	Class string
	Case  string
}

// ObjectRef is r:<slot>;, a further occurrence of the object already
// serialized in reference slot Slot (see the package documentation for how
// slots are numbered). It occupies a slot of its own.
type ObjectRef struct {
	Slot int
}

// Reference is R:<slot>;, a PHP reference (&) to the value in reference
// slot Slot. Unlike every other value it occupies no slot.
type Reference struct {
	Slot int
}

func (Null) phpValue()          {}
func (Bool) phpValue()          {}
func (Int) phpValue()           {}
func (Float) phpValue()         {}
func (String) phpValue()        {}
func (EscapedString) phpValue() {}
func (*Array) phpValue()        {}
func (*Object) phpValue()       {}
func (Serializable) phpValue()  {}
func (Enum) phpValue()          {}
func (ObjectRef) phpValue()     {}
func (Reference) phpValue()     {}

func (Int) phpKey()           {}
func (String) phpKey()        {}
func (EscapedString) phpKey() {}

// ArrayKey returns the key PHP uses when s indexes an array: Int when s is
// a decimal integer written the way PHP writes ints ("10", "-5", "0") and
// within the int64 range, String(s) otherwise ("010", "-0", "+1", "1.5",
// " 1", "9223372036854775808").
func ArrayKey(s string) Key {
	if n, ok := parseCanonicalInt(s); ok {
		return Int(n)
	}
	return String(s)
}

// Set stores v under key k the way PHP's $a[k] = v does: k is first
// normalized with ArrayKey (an EscapedString key counts as its Value),
// then an entry with an equal key gets the new value in place, or a new
// entry is appended. Set scans all entries, so building an n-entry array
// with it costs O(n²).
func (a *Array) Set(k Key, v Value) {
	k = normalizeKey(k)
	if i := a.index(k); i >= 0 {
		a.Entries[i].Value = v
		return
	}
	a.Entries = append(a.Entries, Entry{Key: k, Value: v})
}

// Get returns the value of the first entry whose key equals k after both
// are normalized with ArrayKey, and whether there is one.
func (a *Array) Get(k Key) (Value, bool) {
	if i := a.index(normalizeKey(k)); i >= 0 {
		return a.Entries[i].Value, true
	}
	return nil, false
}

func (a *Array) index(k Key) int {
	for i, e := range a.Entries {
		if normalizeKey(e.Key) == k {
			return i
		}
	}
	return -1
}

// normalizeKey turns any Key into the Int or String PHP would use.
func normalizeKey(k Key) Key {
	switch k := k.(type) {
	case String:
		return ArrayKey(string(k))
	case EscapedString:
		return ArrayKey(k.Value)
	}
	return k
}

// parseCanonicalInt parses s if it is "0" or -?[1-9][0-9]* within the
// int64 range: exactly the ints PHP writes, and exactly the strings PHP
// turns into integer array keys.
func parseCanonicalInt[T string | []byte](s T) (int64, bool) {
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 || digits[0] < '0' || digits[0] > '9' {
		return 0, false
	}
	if digits[0] == '0' && len(s) > 1 { // leading zero, or "-0"
		return 0, false
	}
	var u uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow uint64
	}
	if s[0] == '-' {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true // u ≤ 2^63, so -u wraps to the right int64
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// Visibility is the visibility of an object property, encoded in its
// serialized name.
type Visibility uint8

// The three property visibilities of PHP.
const (
	Public Visibility = iota
	Protected
	Private
)

// String returns "public", "protected" or "private".
func (v Visibility) String() string {
	switch v {
	case Public:
		return "public"
	case Protected:
		return "protected"
	case Private:
		return "private"
	}
	return "Visibility(" + strconv.Itoa(int(v)) + ")"
}

// MangleProperty returns the name under which PHP stores property name
// with visibility vis: name itself for Public, "\x00*\x00"+name for
// Protected, "\x00"+class+"\x00"+name for Private, where class is the
// declaring class. class is ignored unless vis is Private.
func MangleProperty(vis Visibility, class, name string) string {
	switch vis {
	case Protected:
		return "\x00*\x00" + name
	case Private:
		return "\x00" + class + "\x00" + name
	}
	return name
}

// UnmangleProperty splits a stored property name into its visibility,
// declaring class (only for Private) and plain name, following PHP's
// zend_unmangle_property_name. ok is false when key starts with a NUL
// byte but is not a well-formed protected or private name; PHP calls
// such names corrupt.
func UnmangleProperty(key string) (vis Visibility, class, name string, ok bool) {
	if key == "" || key[0] != 0 {
		return Public, "", key, true
	}
	if len(key) < 3 || key[1] == 0 {
		return Public, "", "", false
	}
	classLen := indexNUL(key[1 : len(key)-1])
	if classLen < 0 {
		return Public, "", "", false
	}
	// Anonymous class names contain one NUL themselves; PHP treats a
	// further NUL as part of the class name.
	rest := key[classLen+2:]
	if extra := indexNUL(rest); extra >= 0 {
		classLen += extra + 1
	}
	class, name = key[1:1+classLen], key[classLen+2:]
	if class == "*" {
		return Protected, "", name, true
	}
	return Private, class, name, true
}

func indexNUL(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}
