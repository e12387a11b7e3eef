package phpserialize

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// dataPHPPrelude declares the classes of the dataCases' PHP expressions.
const dataPHPPrelude = `error_reporting(E_ALL & ~E_DEPRECATED);
class User { public $id = 42; protected $token = 't'; private $hash = 'h'; }
class Base { private $id = 1; }
class Child extends Base { public $id = 2; }
class Pair { function __serialize(): array { return [1, 2]; } function __unserialize(array $a): void {} }
class Legacy implements Serializable { function serialize() { return 'x:1'; } function unserialize($s) {} }
enum Suit { case Hearts; }
`

// dataCases are session data and the JSON SessionDataJSON maps it to. php, when set,
// is the PHP code of a function body returning the session's variables, and PHP's
// session_encode() with the php handler writes the data; otherwise in is the data,
// hand-written for what PHP 8 does not write.
var dataCases = []struct {
	name, php, in, want string
}{
	{name: "array", php: `return ['user' => ['id' => 42, 'name' => 'Ann']];`,
		want: `{"user":{"id":42,"name":"Ann"}}`},
	{name: "list", php: `return ['cart' => ['apple', 'pear']];`,
		want: `{"cart":["apple","pear"]}`},
	{name: "int keys", php: `return ['seen' => [7 => 'a', 3 => 'b']];`,
		want: `{"seen":{"7":"a","3":"b"}}`},
	{name: "list out of order", php: `return ['l' => [1 => 'a', 0 => 'b']];`,
		want: `{"l":{"1":"a","0":"b"}}`},
	{name: "mixed keys", php: `return ['m' => ['x' => 1, 5 => 2]];`,
		want: `{"m":{"x":1,"5":2}}`},
	{name: "at sign keys", php: `$o = new stdClass; $o->{'@type'} = 'x'; return ['@k' => ['@entries' => 1], 'o' => $o];`,
		want: `{"@@k":{"@@entries":1},"o":{"@class":"stdClass","@@type":"x"}}`},
	{name: "object", php: `return ['user' => new User];`,
		want: `{"user":{"@class":"User","id":42,"@protected":{"token":"t"},"@private":{"User":{"hash":"h"}}}}`},
	{name: "private of a parent", php: `return ['c' => new Child];`,
		want: `{"c":{"@class":"Child","id":2,"@private":{"Base":{"id":1}}}}`},
	{name: "__serialize int keys", php: `return ['p' => new Pair];`,
		want: `{"p":{"@class":"Pair","0":1,"1":2}}`},
	{name: "Serializable", php: `return ['l' => new Legacy];`,
		want: `{"l":{"@class":"Legacy","@serialized":"x:1"}}`},
	{name: "enum", php: `return ['suit' => Suit::Hearts];`,
		want: `{"suit":{"@enum":"Suit","@case":"Hearts"}}`},
	{name: "strings", php: `return ['utf8' => "h\u{e9}llo\n", 'nul' => "a\0b", 'bin' => "\xff\xfe"];`,
		want: `{"utf8":"héllo\n","nul":{"@base64":"YQBi"},"bin":{"@base64":"//4="}}`},
	{name: "floats", php: `return ['f' => [1.0, 0.1, -0.0, INF, -INF, NAN, 1e25]];`,
		want: `{"f":[1.0,0.1,-0.0,{"@float":"INF"},{"@float":"-INF"},{"@float":"NAN"},1.0E+25]}`},
	{name: "big ints", php: `return ['max' => PHP_INT_MAX, 'min' => PHP_INT_MIN];`,
		want: `{"max":9223372036854775807,"min":-9223372036854775808}`},
	{name: "reference", php: `$s = ['a' => 1]; $s['b'] = &$s['a']; return $s;`,
		want: `{"a":1,"b":{"@reference":1,"@target":"$_SESSION['a']"}}`},
	{name: "object reference", php: `$o = new stdClass; $o->id = 5; return ['a' => $o, 'b' => [$o]];`,
		want: `{"a":{"@class":"stdClass","id":5},"b":[{"@objectRef":1,"@target":"$_SESSION['a']"}]}`},
	{name: "empty", php: `return [];`, want: `{}`},
	// What PHP 8 does not write.
	{name: "undefined", in: `!gone|user|i:1;`, want: `{"gone":{"@undefined":true},"user":1}`},
	{name: "duplicate names", in: `a|i:1;a|i:2;`,
		want: `{"@entries":[{"key":"a","value":1},{"key":"a","value":2}]}`},
	{name: "int and string key alike", in: `m|a:2:{s:1:"5";i:1;i:5;i:2;}`,
		want: `{"m":{"@entries":[{"key":"5","value":1},{"key":5,"value":2}]}}`},
	{name: "key with NUL", in: "m|a:1:{s:3:\"a\x00b\";i:1;}",
		want: `{"m":{"@entries":[{"key":{"@base64":"YQBi"},"value":1}]}}`},
	{name: "property twice", in: `o|O:1:"A":2:{s:1:"p";i:1;s:1:"p";i:2;}`,
		want: `{"o":{"@class":"A","@properties":[{"name":"p","visibility":"public","value":1},{"name":"p","visibility":"public","value":2}]}}`},
	{name: "malformed property name", in: "o|O:1:\"A\":1:{s:2:\"\x00x\";N;}",
		want: `{"o":{"@class":"A","@properties":[{"key":{"@base64":"AHg="},"value":null}]}}`},
	{name: "legacy S: string", in: `s|S:3:"a\62c";`, want: `{"s":"abc"}`},
}

// encodeWithPHP returns, for each case with PHP code, the data PHP's session_encode()
// writes for it.
func encodeWithPHP(t *testing.T) map[string][]byte {
	php := lookPHP(t)
	var script strings.Builder
	script.WriteString(dataPHPPrelude)
	script.WriteString("session_start(['use_cookies' => 0, 'save_path' => " + `'` + t.TempDir() + `'` + ", 'serialize_handler' => 'php']);\n")
	for _, c := range dataCases {
		if c.php != "" {
			script.WriteString("$_SESSION = (function () { " + c.php + " })(); echo base64_encode(session_encode()), \"\\n\";\n")
		}
	}
	cmd := exec.Command(php, "-n", "-d", "session.save_handler=files", "-r", script.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, stderr.String())
	}
	encoded := map[string][]byte{}
	lines := bufio.NewScanner(bytes.NewReader(out))
	for _, c := range dataCases {
		if c.php == "" {
			continue
		}
		if !lines.Scan() {
			t.Fatalf("php wrote too few lines:\n%s\n%s", out, stderr.String())
		}
		data, err := base64.StdEncoding.DecodeString(lines.Text())
		if err != nil {
			t.Fatal(err)
		}
		encoded[c.name] = data
	}
	return encoded
}

// dataCaseInputs returns each case's session data (php handler), by name.
func dataCaseInputs(t *testing.T) map[string][]byte {
	inputs := encodeWithPHP(t)
	for _, c := range dataCases {
		if c.php == "" {
			inputs[c.name] = []byte(c.in)
		}
	}
	return inputs
}

func TestSessionDataJSON(t *testing.T) {
	inputs := dataCaseInputs(t)
	for _, c := range dataCases {
		s, err := DecodeSession(HandlerPHP, inputs[c.name])
		if err != nil {
			t.Errorf("%s: DecodeSession(%q): %v", c.name, inputs[c.name], err)
			continue
		}
		out, err := SessionDataJSON(HandlerPHP, s)
		if err != nil {
			t.Errorf("%s: SessionDataJSON: %v", c.name, err)
			continue
		}
		if string(out) != c.want {
			t.Errorf("%s: SessionDataJSON(%q):\n got %s\nwant %s", c.name, inputs[c.name], out, c.want)
		}
		if !json.Valid(out) {
			t.Errorf("%s: invalid JSON %s", c.name, out)
		}
	}
}

func TestSessionDataJSONHandlers(t *testing.T) {
	// With php_serialize, $_SESSION is slot 1 and its entries count from 2.
	for _, c := range []struct{ handler, in, want string }{
		{"php_serialize", `a:2:{s:1:"a";i:1;s:1:"b";R:2;}`, `{"a":1,"b":{"@reference":2,"@target":"$_SESSION['a']"}}`},
		{"php_binary", "\x01ai:1;\x01bR:1;", `{"a":1,"b":{"@reference":1,"@target":"$_SESSION['a']"}}`},
		{"php_serialize", ``, `{}`},
	} {
		s, err := DecodeSession(c.handler, []byte(c.in))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := SessionDataJSON(c.handler, s); err != nil || string(out) != c.want {
			t.Errorf("SessionDataJSON(%s, %q) = %s, %v; want %s", c.handler, c.in, out, err, c.want)
		}
	}
	if _, err := SessionDataJSON("nope", &Session{}); err == nil {
		t.Error("SessionDataJSON with an unknown handler succeeded")
	}
	if _, err := SessionDataJSON(HandlerPHP, nil); err == nil {
		t.Error("SessionDataJSON of nil succeeded")
	}
}

func TestDataJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`i:1;`, `1`},
		{`d:NAN;`, `{"@float":"NAN"}`},
		{`a:1:{i:0;a:1:{i:0;R:2;}}`, `[[{"@reference":2,"@target":"$value[0]"}]]`},
		// Past a Serializable payload, slots cannot be located.
		{`a:2:{i:0;C:1:"A":0:{}i:1;r:9;}`, `[{"@class":"A","@serialized":""},{"@objectRef":9}]`},
		// An anonymous class's name holds a NUL: its private properties use the list.
		{"O:8:\"stdClass\":1:{s:6:\"\x00a\x00b\x00c\";i:1;}", `{"@class":"stdClass","@properties":[{"name":"c","visibility":"private","class":{"@base64":"YQBi"},"value":1}]}`},
		{"O:1:\"A\":3:{s:4:\"\x00*\x00p\";i:1;s:1:\"q\";a:0:{}s:4:\"\x00*\x00r\";i:3;}",
			`{"@class":"A","q":[],"@protected":{"p":1,"r":3}}`},
	} {
		v, err := Decode([]byte(c.in))
		if err != nil {
			t.Fatalf("Decode(%q): %v", c.in, err)
		}
		if out, err := DataJSON(v); err != nil || string(out) != c.want {
			t.Errorf("DataJSON(%q) = %s, %v; want %s", c.in, out, err, c.want)
		}
	}
	cyclic := &Object{Class: "A"}
	cyclic.Props = []Entry{{String("self"), cyclic}}
	for _, v := range []Value{nil, (*Array)(nil), &Object{Class: "A", Props: []Entry{{nil, Null{}}}}, cyclic} {
		if out, err := DataJSON(v); err == nil {
			t.Errorf("DataJSON(%#v) = %s, want an error", v, out)
		}
	}
}

// FuzzSessionData checks that the data mapping of any input that decodes, as a value
// and as each session format, never panics, is valid JSON, comes out the same twice
// and holds no NUL in a string or member name (which jsonb rejects).
func FuzzSessionData(f *testing.F) {
	addSeeds(f)
	for _, c := range dataCases {
		if c.in != "" {
			f.Add([]byte(c.in))
		}
	}
	check := func(t *testing.T, what string, data, out []byte, err error, again func() ([]byte, error)) {
		if err != nil {
			t.Fatalf("%s(%q): %v", what, data, err)
		}
		var parsed any
		if err := json.Unmarshal(out, &parsed); err != nil || !json.Valid(out) {
			t.Fatalf("%s(%q) = %s: invalid JSON: %v", what, data, out, err)
		}
		if hasNUL(parsed) {
			t.Fatalf("%s(%q) = %s: a NUL in a string", what, data, out)
		}
		if second, err := again(); err != nil || !bytes.Equal(second, out) {
			t.Fatalf("%s(%q) = %s, then %s, %v", what, data, out, second, err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := Decode(data); err == nil {
			out, err := DataJSON(v)
			check(t, "DataJSON", data, out, err, func() ([]byte, error) { return DataJSON(v) })
		}
		for _, h := range fuzzHandlers {
			s, err := DecodeSession(h, data)
			if err != nil {
				continue
			}
			out, err := SessionDataJSON(h, s)
			check(t, "SessionDataJSON "+h, data, out, err, func() ([]byte, error) {
				s, err := DecodeSession(h, data)
				if err != nil {
					return nil, err
				}
				return SessionDataJSON(h, s)
			})
		}
	})
}

// hasNUL reports whether a value parsed by encoding/json holds a NUL in a string or a
// member name.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}
