package phpserialize

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Lookup returns the value at path in the session, and whether there is one. path[0]
// names a session variable ($_SESSION's key); each further element is a key of an
// array (compared as PHP compares keys: "5" is the int key 5) or the plain name of an
// object's property, whatever its visibility (the first in the object's order). A
// reference (R:, r:) on the way, a Serializable, an enum or a scalar before the path's
// end, and an empty path give no value.
func (s *Session) Lookup(path []string) (Value, bool) {
	if s == nil || len(path) == 0 {
		return nil, false
	}
	var v Value
	found := false
	for _, sv := range s.Vars {
		if sv.Name == path[0] {
			v, found = sv.Value, true
			break
		}
	}
	if !found {
		return nil, false
	}
	for _, step := range path[1:] {
		switch c := v.(type) {
		case *Array:
			if v, found = c.Get(String(step)); !found {
				return nil, false
			}
		case *Object:
			found = false
			for _, p := range c.Props {
				key, ok := p.Key.(String)
				if !ok {
					continue
				}
				if _, _, name, ok := UnmangleProperty(string(key)); ok && name == step {
					v, found = p.Value, true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	if v == nil {
		return nil, false
	}
	return v, true
}

// ParsePath splits a dotted path ("user.id") into Lookup's elements. Every element
// must be non-empty.
func ParsePath(dotted string) ([]string, error) {
	path := strings.Split(dotted, ".")
	for _, p := range path {
		if p == "" {
			return nil, fmt.Errorf("phpserialize: path %q: empty element (write it as name.key.key)", dotted)
		}
	}
	return path, nil
}

// A Scalar is a value to compare session values with (Scalar.Equal): a JSON null,
// boolean, number or string.
type Scalar struct {
	v any // nil, bool, json.Number or string
}

// ParseScalar reads a Scalar from JSON text: null, true, false, a number or a string.
func ParseScalar(text string) (Scalar, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return Scalar{}, fmt.Errorf("phpserialize: value %q is not JSON: %v", text, err)
	}
	if d.More() {
		return Scalar{}, fmt.Errorf("phpserialize: value %q: more than one JSON value", text)
	}
	switch v.(type) {
	case nil, bool, json.Number, string:
		return Scalar{v}, nil
	}
	return Scalar{}, fmt.Errorf("phpserialize: value %q: want null, true, false, a number or a string", text)
}

// String returns the scalar as JSON.
func (s Scalar) String() string {
	b, _ := json.Marshal(s.v)
	return string(b)
}

// Equal reports whether v equals s as PHP 8's == compares a scalar with a scalar of
// the same kind or with a numeric string: 42 equals int 42, float 42.0 and the
// strings "42" and "42.0"; "abc" equals only the string "abc"; true only true, null
// only null. Arrays, objects and the other kinds of value equal no scalar.
func (s Scalar) Equal(v Value) bool {
	switch want := s.v.(type) {
	case nil:
		_, ok := v.(Null)
		return ok
	case bool:
		b, ok := v.(Bool)
		return ok && bool(b) == want
	case json.Number:
		n, ok := number(v)
		w, err := strconv.ParseFloat(string(want), 64)
		if i, ierr := strconv.ParseInt(string(want), 10, 64); ierr == nil {
			if vi, isInt := v.(Int); isInt {
				return int64(vi) == i // exact beyond float64's 2^53
			}
		}
		return ok && err == nil && n == w
	case string:
		switch v := v.(type) {
		case String:
			return string(v) == want || numericEqual(string(v), want)
		case EscapedString:
			return v.Value == want || numericEqual(v.Value, want)
		case Int, Float:
			n, _ := number(v)
			w, ok := numericString(want)
			return ok && n == w
		}
	}
	return false
}

// number is the numeric value of an Int, a Float or a numeric string.
func number(v Value) (float64, bool) {
	switch v := v.(type) {
	case Int:
		return float64(v), true
	case Float:
		return v.Value, !math.IsNaN(v.Value)
	case String:
		return numericString(string(v))
	case EscapedString:
		return numericString(v.Value)
	}
	return 0, false
}

// numericString parses a PHP numeric string (leading whitespace allowed, as PHP 8's
// trailing whitespace too).
func numericString(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsAny(t, "xXpP_") || strings.EqualFold(t, "inf") || strings.EqualFold(t, "nan") ||
		strings.HasPrefix(strings.ToLower(strings.TrimLeft(t, "+-")), "inf") {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	return f, err == nil && !math.IsNaN(f)
}

// numericEqual reports whether a and b are both numeric strings of the same number.
func numericEqual(a, b string) bool {
	x, ok := numericString(a)
	y, ok2 := numericString(b)
	return ok && ok2 && x == y
}
