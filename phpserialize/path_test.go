package phpserialize

import (
	"math"
	"testing"
)

func TestLookupFollowsArrayKeysAndPropertiesOfAnyVisibility(t *testing.T) {
	// $_SESSION = ['user' => ['id' => 42, 'tags' => [5 => 'x']], 'n' => 3,
	//   'acct' => new Account (public name 'ann', private id "7", protected role 'admin')]
	data := `user|a:2:{s:2:"id";i:42;s:4:"tags";a:1:{i:5;s:1:"x";}}n|i:3;` +
		`acct|O:7:"Account":3:{s:4:"name";s:3:"ann";s:11:"` + "\x00Account\x00id" + `";s:1:"7";s:7:"` + "\x00*\x00role" + `";s:5:"admin";}`
	s, err := DecodeSession(HandlerPHP, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		want  string // JSON scalar it must equal, "" for no value
		found bool
	}{
		{"user.id", "42", true},
		{"user.id", `"42"`, true},
		{"user.tags.5", `"x"`, true},
		{"n", "3.0", true},
		{"acct.name", `"ann"`, true},
		{"acct.id", "7", true},
		{"acct.role", `"admin"`, true},
		{"user.missing", "", false},
		{"n.deeper", "", false},
		{"nobody", "", false},
	} {
		path, err := ParsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		v, found := s.Lookup(path)
		if found != tc.found {
			t.Fatalf("%s: found %v", tc.path, found)
		}
		if !found {
			continue
		}
		want, err := ParseScalar(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !want.Equal(v) {
			t.Errorf("%s: %#v does not equal %s", tc.path, v, tc.want)
		}
	}
}

func TestScalarEqualIsPHP8LooseComparisonOfScalars(t *testing.T) {
	for _, tc := range []struct {
		want  string
		v     Value
		equal bool
	}{
		{"42", Int(42), true},
		{"42", Float{Value: 42}, true},
		{"42", String("42"), true},
		{"42", String(" 42"), true},
		{"42", String("42abc"), false},
		{"42", Int(43), false},
		{"9007199254740993", Int(9007199254740993), true},
		{"9007199254740993", Int(9007199254740992), false},
		{`"42"`, Int(42), true},
		{`"42.0"`, String("42"), true},
		{`"abc"`, String("abc"), true},
		{`"abc"`, Int(0), false},
		{`"0"`, String(""), false},
		{`"INF"`, Float{Value: math.Inf(1)}, false},
		{"true", Bool(true), true},
		{"true", Int(1), false},
		{"false", Bool(false), true},
		{"null", Null{}, true},
		{"null", String(""), false},
		{"1", &Array{}, false},
	} {
		s, err := ParseScalar(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Equal(tc.v); got != tc.equal {
			t.Errorf("%s == %#v: %v, want %v", tc.want, tc.v, got, tc.equal)
		}
	}
	for _, bad := range []string{"", "[1]", `{"a":1}`, "1 2", "nope"} {
		if _, err := ParseScalar(bad); err == nil {
			t.Errorf("ParseScalar(%q) accepted", bad)
		}
	}
	if _, err := ParsePath("user..id"); err == nil {
		t.Error("an empty path element was accepted")
	}
}

// FuzzScalar: ParseScalar never panics, what it accepts prints back as JSON it accepts
// again, and comparing it with any kind of value does not panic.
func FuzzScalar(f *testing.F) {
	for _, seed := range []string{"42", `"42"`, "true", "null", "1e400", "-0", `"\u0000"`, "[1]", ""} {
		f.Add(seed)
	}
	values := []Value{Null{}, Bool(true), Int(42), Float{Value: 42}, String("42"), &Array{}, &Object{}, Enum{}}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseScalar(text)
		if err != nil {
			return
		}
		if _, err := ParseScalar(s.String()); err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", text, s, err)
		}
		for _, v := range values {
			s.Equal(v)
		}
	})
}
