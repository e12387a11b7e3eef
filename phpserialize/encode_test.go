package phpserialize

import (
	"math"
	"strings"
	"testing"
)

func TestEncodeBuiltValues(t *testing.T) {
	cart := &Array{}
	cart.Set(String("items"), &Array{Entries: []Entry{{Int(0), String("apple")}, {Int(1), String("pear")}}})
	cart.Set(String("total"), Float{Value: 12.5})
	user := &Object{Class: "User", Props: []Entry{
		{String("name"), String("Ann")},
		{String(MangleProperty(Protected, "", "id")), Int(7)},
		{String(MangleProperty(Private, "User", "hash")), String("\x00\xff")},
		{String("self"), ObjectRef{Slot: 1}},
		{String("alias"), Reference{Slot: 2}},
	}}
	cases := []struct {
		v    Value
		want string
	}{
		{Null{}, `N;`},
		{Bool(true), `b:1;`},
		{Int(math.MinInt64), `i:-9223372036854775808;`},
		{Float{Value: 1e25}, `d:1.0E+25;`},
		{Float{Value: math.Copysign(0, -1)}, `d:-0;`},
		{String("héllo"), `s:6:"héllo";`},
		{EscapedString{Value: "a\\b\x00\"é"}, `S:7:"a\5cb\00"\c3\a9";`},
		{cart, `a:2:{s:5:"items";a:2:{i:0;s:5:"apple";i:1;s:4:"pear";}s:5:"total";d:12.5;}`},
		{user, "O:4:\"User\":5:{s:4:\"name\";s:3:\"Ann\";s:5:\"\x00*\x00id\";i:7;s:10:\"\x00User\x00hash\";s:2:\"\x00\xff\";s:4:\"self\";r:1;s:5:\"alias\";R:2;}"},
		{Serializable{Class: "Opaque", Data: "}{"}, `C:6:"Opaque":2:{}{}`},
		{Enum{Class: "Suit", Case: "Hearts"}, `E:11:"Suit:Hearts";`},
	}
	for _, c := range cases {
		got, err := Encode(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("Encode(%#v) = %q, %v; want %q", c.v, got, err, c.want)
			continue
		}
		back, err := Decode(got)
		if err != nil || !sameValue(back, withRawText(c.v, back)) {
			t.Errorf("Decode(Encode(%#v)) = %#v, %v", c.v, back, err)
		}
	}
}

// withRawText returns want, except that an EscapedString takes the raw
// text decoded has, which Encode made up.
func withRawText(want, decoded Value) Value {
	if w, ok := want.(EscapedString); ok {
		if d, ok := decoded.(EscapedString); ok {
			w.raw = d.raw
			return w
		}
	}
	return want
}

// TestEncodeDropsStaleText checks that remembered float and escaped
// string text is written only while it still matches the value.
func TestEncodeDropsStaleText(t *testing.T) {
	v, err := Decode([]byte(`a:2:{i:0;d:0.10000000000000001;i:1;S:1:"\41";}`))
	if err != nil {
		t.Fatal(err)
	}
	a := v.(*Array)
	f := a.Entries[0].Value.(Float)
	f.Value = 0.25
	a.Entries[0].Value = f
	s := a.Entries[1].Value.(EscapedString)
	s.Value = "B"
	a.Entries[1].Value = s
	got, err := Encode(a)
	if want := `a:2:{i:0;d:0.25;i:1;S:1:"B";}`; err != nil || string(got) != want {
		t.Errorf("Encode = %s, %v; want %s", got, err, want)
	}
}

func TestEncodeErrors(t *testing.T) {
	cyclic := &Array{}
	cyclic.Entries = []Entry{{Int(0), cyclic}}
	type embedded struct{ Int }
	cases := []struct {
		v   Value
		msg string
	}{
		{nil, "cannot encode $value: nil Value"},
		{(*Array)(nil), "cannot encode $value: nil *Array"},
		{(*Object)(nil), "cannot encode $value: nil *Object"},
		{&Array{Entries: []Entry{{Int(3), nil}}}, "cannot encode $value[3]: nil Value"},
		{&Array{Entries: []Entry{{nil, Int(1)}}}, "cannot encode $value[?]: nil Key"},
		{&Array{Entries: []Entry{{String("a"), &Object{Class: "X", Props: []Entry{{String("\x00*\x00p"), &Array{Entries: []Entry{{String("k"), ObjectRef{Slot: 3}}}}}}}}}}, `cannot encode $value['a']->p['k']: r:3 refers to slot 3, which holds no object`},
		{&Object{Class: "bad-name"}, `cannot encode $value: object: class name "bad-name" contains '-'`},
		{Serializable{Class: ""}, "cannot encode $value: Serializable: class name is empty"},
		{Enum{Class: "A:B", Case: "C"}, `cannot encode $value: enum: class name "A:B" contains ':'`},
		{Enum{Class: "Suit"}, "cannot encode $value: enum Suit has an empty case name"},
		{Reference{Slot: 1}, "cannot encode $value: R:1 refers to slot 1, but only 0 slots precede it"},
		{ObjectRef{Slot: 1}, "cannot encode $value: r:1 refers to slot 1, but only 0 slots precede it"},
		{&Array{Entries: []Entry{{Int(0), Reference{Slot: 0}}}}, "cannot encode $value[0]: R:0 slot numbers start at 1"},
		{cyclic, "nested more than MaxDepth (4096) levels deep"},
		{embedded{Int(1)}, "unsupported Value type phpserialize.embedded"},
		{&Array{Entries: []Entry{{embedded{1}, Int(1)}}}, "unsupported Key type phpserialize.embedded"},
	}
	for _, c := range cases {
		_, err := Encode(c.v)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Encode(%#v) error = %v, want one containing %q", c.v, err, c.msg)
		}
	}
}
