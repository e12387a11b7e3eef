package phpserialize

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// compactJSON checks that out is valid JSON and returns it compacted,
// so that the expected values can be written on one line.
func compactJSON(t *testing.T, out []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, out); err != nil {
		t.Fatalf("invalid JSON %s: %v", out, err)
	}
	return b.String()
}

func TestJSON(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{`N;`, `null`},
		{`b:1;`, `true`},
		{`i:-9223372036854775808;`, `-9223372036854775808`},
		{`d:1;`, `1.0`},
		{`d:-0;`, `-0.0`},
		{`d:0.10000000000000001;`, `0.1`},
		{`d:1.0E+25;`, `1.0E+25`},
		{`d:NAN;`, `{"float":"NAN"}`},
		{`d:-INF;`, `{"float":"-INF"}`},
		{`s:7:"a"\` + "\n\x00\t\x7f" + `";`, `"a\"\\\n\u0000\t\u007f"`},
		{"s:3:\"\xe2\x80\xa8\";", `"\u2028"`},
		{"s:3:\"\x00\xff\xfe\";", `{"base64":"AP/+"}`},
		{`S:3:"a\62c";`, `"abc"`},
		{`a:0:{}`, `[]`},
		{`a:2:{i:0;s:1:"a";i:1;s:1:"b";}`, `["a","b"]`},
		{`a:2:{i:1;s:1:"a";i:0;s:1:"b";}`, `{"1":"a","0":"b"}`},
		{`a:2:{s:1:"x";i:1;i:5;i:2;}`, `{"x":1,"5":2}`},
		// Keys that would print alike, or are not UTF-8: entries.
		{`a:2:{s:1:"5";i:1;i:5;i:2;}`, `{"entries":[{"key":"5","value":1},{"key":5,"value":2}]}`},
		{`a:2:{s:1:"a";i:1;s:1:"a";i:2;}`, `{"entries":[{"key":"a","value":1},{"key":"a","value":2}]}`},
		{"a:1:{s:1:\"\xff\";i:1;}", `{"entries":[{"key":{"base64":"/w=="},"value":1}]}`},
		{"O:3:\"Foo\":4:{s:1:\"a\";i:1;s:4:\"\x00*\x00b\";i:2;s:6:\"\x00Foo\x00c\";i:3;i:7;i:4;}",
			`{"class":"Foo","properties":[` +
				`{"name":"a","visibility":"public","value":1},` +
				`{"name":"b","visibility":"protected","value":2},` +
				`{"name":"c","visibility":"private","class":"Foo","value":3},` +
				`{"key":7,"value":4}]}`},
		{"O:1:\"A\":1:{s:2:\"\x00x\";N;}", `{"class":"A","properties":[{"key":"\u0000x","value":null}]}`},
		{`C:6:"Opaque":3:{a;b}`, `{"class":"Opaque","serialized":"a;b"}`},
		{`E:11:"Suit:Hearts";`, `{"enum":"Suit","case":"Hearts"}`},
		{`a:3:{s:1:"o";O:1:"A":1:{s:1:"p";s:1:"v";}s:1:"r";r:2;s:1:"R";R:3;}`,
			`{"o":{"class":"A","properties":[{"name":"p","visibility":"public","value":"v"}]},` +
				`"r":{"objectRef":2,"target":"$value['o']"},` +
				`"R":{"reference":3,"target":"$value['o']->p"}}`},
		{`a:1:{s:4:"it's";a:1:{i:0;R:2;}}`, `{"it's":[{"reference":2,"target":"$value['it\\'s']"}]}`},
		{"a:1:{s:1:\"\x00\";O:1:\"A\":1:{s:5:\"my-id\";a:1:{i:0;R:3;}}}",
			`{"\u0000":{"class":"A","properties":[{"name":"my-id","visibility":"public","value":[{"reference":3,"target":"$value[\"\\x00\"]->{'my-id'}"}]}]}}`},
		// Past a Serializable payload, slots cannot be located.
		{`a:2:{i:0;C:1:"A":0:{}i:1;r:9;}`, `[{"class":"A","serialized":""},{"objectRef":9}]`},
	}
	for _, c := range cases {
		v, err := Decode([]byte(c.in))
		if err != nil {
			t.Errorf("Decode(%q): %v", c.in, err)
			continue
		}
		out, err := JSON(v)
		if err != nil {
			t.Errorf("JSON(Decode(%q)): %v", c.in, err)
			continue
		}
		if got := compactJSON(t, out); got != c.want {
			t.Errorf("JSON(Decode(%q)):\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestJSONIndented(t *testing.T) {
	out, err := JSON(&Array{Entries: []Entry{{String("a"), Int(1)}}})
	if want := "{\n  \"a\": 1\n}\n"; err != nil || string(out) != want {
		t.Errorf("JSON = %q, %v; want %q", out, err, want)
	}
}

func TestJSONLongPaths(t *testing.T) {
	// A reference deep down shows the start and end of its target's path.
	const levels = 100
	in := strings.Repeat(`a:1:{s:3:"key";`, levels) + `a:2:{i:0;i:1;i:1;R:` + "102" + `;}` + strings.Repeat("}", levels)
	v, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	var target string
	for line := range strings.Lines(string(out)) {
		if _, after, ok := strings.Cut(line, `"target": `); ok {
			if err := json.Unmarshal([]byte(strings.TrimSpace(after)), &target); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !strings.HasPrefix(target, "$value…") || !strings.HasSuffix(target, "['key'][0]") || len(target) > maxPathLen+len("$value…") {
		t.Errorf("target = %q", target)
	}
}

func TestSessionJSON(t *testing.T) {
	cases := []struct {
		handler, in, want string
	}{
		{"php", ``, `{"handler":"php","vars":{}}`},
		{"php", `a|O:1:"A":0:{}b|r:1;!c|d|R:1;`,
			`{"handler":"php","vars":{"a":{"class":"A","properties":[]},"b":{"objectRef":1,"target":"$_SESSION['a']"},"c":{"undefined":true},"d":{"reference":1,"target":"$_SESSION['a']"}}}`},
		{"php_binary", "\x01ai:1;\x01bR:1;",
			`{"handler":"php_binary","vars":{"a":1,"b":{"reference":1,"target":"$_SESSION['a']"}}}`},
		{"PHP_SERIALIZE", `a:3:{s:1:"a";i:1;i:7;R:2;s:1:"r";R:1;}`,
			`{"handler":"php_serialize","vars":{"a":1,"7":{"reference":2,"target":"$_SESSION['a']"},"r":{"reference":1,"target":"$_SESSION"}}}`},
		{"php", "a|i:1;a|i:2;\xff|N;",
			`{"handler":"php","vars":[{"name":"a","value":1},{"name":"a","value":2},{"name":{"base64":"/w=="},"value":null}]}`},
	}
	for _, c := range cases {
		s, err := DecodeSession(c.handler, []byte(c.in))
		if err != nil {
			t.Errorf("DecodeSession(%q, %q): %v", c.handler, c.in, err)
			continue
		}
		out, err := SessionJSON(c.handler, s)
		if err != nil {
			t.Errorf("SessionJSON: %v", err)
			continue
		}
		if got := compactJSON(t, out); got != c.want {
			t.Errorf("SessionJSON(%q, %q):\n got %s\nwant %s", c.handler, c.in, got, c.want)
		}
	}
	if _, err := SessionJSON("nope", &Session{}); err == nil {
		t.Error("SessionJSON with an unknown handler succeeded")
	}
	if _, err := SessionJSON("php", nil); err == nil {
		t.Error("SessionJSON of nil succeeded")
	}
}

func TestJSONErrors(t *testing.T) {
	cyclic := &Object{Class: "A"}
	cyclic.Props = []Entry{{String("self"), cyclic}}
	for _, v := range []Value{nil, (*Array)(nil), (*Object)(nil), &Array{Entries: []Entry{{nil, Null{}}}}, &Object{Class: "A", Props: []Entry{{nil, Null{}}}}, cyclic} {
		if out, err := JSON(v); err == nil {
			t.Errorf("JSON(%#v) = %s, want an error", v, out)
		}
	}
}
