package phpserialize

import (
	"fmt"
	"strconv"
	"strings"
)

// Encode returns the serialize() form of v. For a value returned by
// Decode it returns the decoded input byte for byte. Encode writes keys
// exactly as given (use Array.Set to get PHP's key rules) and fails, with
// an error naming the offending value's path, on anything Decode would
// reject: a nil Value, Key, *Array or *Object, an invalid class name, an
// Enum class containing ':' or an empty case, a reference to a slot that
// does not precede it (or, for ObjectRef, holds no object), or nesting
// deeper than MaxDepth (which also stops cyclic *Array or *Object
// structures). The output therefore always decodes again.
func Encode(v Value) ([]byte, error) {
	e := &encoder{}
	if err := e.value(v); err != nil {
		return nil, err.withRoot("$value")
	}
	return e.buf, nil
}

// encoder appends serialized values to buf, numbering reference slots
// across all values it writes, as PHP's var_hash does for a session.
type encoder struct {
	buf   []byte
	depth int
	slots slotTable
}

// encodeError is an Encode failure. path holds the path segments from
// the failing value up to its outermost container, innermost first, as
// they are added while the error travels up.
type encodeError struct {
	root string
	path []string
	msg  string
}

func (e *encodeError) Error() string {
	var b strings.Builder
	b.WriteString("phpserialize: cannot encode ")
	b.WriteString(e.root)
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	return b.String()
}

func (e *encodeError) in(segment string) *encodeError {
	e.path = append(e.path, segment)
	return e
}

func (e *encodeError) withRoot(root string) error {
	e.root = root
	return e
}

func encodeErrorf(format string, args ...any) *encodeError {
	return &encodeError{msg: fmt.Sprintf(format, args...)}
}

func (e *encoder) value(v Value) *encodeError {
	switch v := v.(type) {
	case nil:
		return encodeErrorf("nil Value")
	case Null:
		e.slots.push(false, false)
		e.buf = append(e.buf, "N;"...)
	case Bool:
		e.slots.push(false, false)
		if v {
			e.buf = append(e.buf, "b:1;"...)
		} else {
			e.buf = append(e.buf, "b:0;"...)
		}
	case Int:
		e.slots.push(false, false)
		e.int(v)
	case Float:
		e.slots.push(false, false)
		e.buf = append(e.buf, "d:"...)
		if v.text != "" && textMatches(v) {
			e.buf = append(e.buf, v.text...)
		} else {
			e.buf = appendFloat(e.buf, v.Value)
		}
		e.buf = append(e.buf, ';')
	case String:
		e.slots.push(false, false)
		e.string(v)
	case EscapedString:
		e.slots.push(false, false)
		e.escapedString(v)
	case *Array:
		if v == nil {
			return encodeErrorf("nil *Array")
		}
		e.slots.push(false, false)
		return e.array(v)
	case *Object:
		if v == nil {
			return encodeErrorf("nil *Object")
		}
		if msg := checkClassName(v.Class); msg != "" {
			return encodeErrorf("object: %s", msg)
		}
		e.slots.push(true, false)
		return e.object(v)
	case Serializable:
		if msg := checkClassName(v.Class); msg != "" {
			return encodeErrorf("Serializable: %s", msg)
		}
		e.slots.push(true, true)
		e.buf = append(e.buf, "C:"...)
		e.quoted(v.Class)
		e.buf = append(e.buf, ':')
		e.buf = strconv.AppendInt(e.buf, int64(len(v.Data)), 10)
		e.buf = append(e.buf, ":{"...)
		e.buf = append(e.buf, v.Data...)
		e.buf = append(e.buf, '}')
	case Enum:
		if msg := checkClassName(v.Class); msg != "" {
			return encodeErrorf("enum: %s", msg)
		}
		if v.Case == "" {
			return encodeErrorf("enum %s has an empty case name", v.Class)
		}
		e.slots.push(true, false)
		e.buf = append(e.buf, "E:"...)
		e.buf = strconv.AppendInt(e.buf, int64(len(v.Class)+1+len(v.Case)), 10)
		e.buf = append(e.buf, ":\""...)
		e.buf = append(e.buf, v.Class...)
		e.buf = append(e.buf, ':')
		e.buf = append(e.buf, v.Case...)
		e.buf = append(e.buf, "\";"...)
	case ObjectRef:
		e.slots.push(true, false)
		if _, msg := e.slots.check(v.Slot, true); msg != "" {
			return encodeErrorf("r:%d %s", v.Slot, msg)
		}
		e.buf = append(e.buf, "r:"...)
		e.buf = strconv.AppendInt(e.buf, int64(v.Slot), 10)
		e.buf = append(e.buf, ';')
	case Reference:
		if _, msg := e.slots.check(v.Slot, false); msg != "" {
			return encodeErrorf("R:%d %s", v.Slot, msg)
		}
		e.buf = append(e.buf, "R:"...)
		e.buf = strconv.AppendInt(e.buf, int64(v.Slot), 10)
		e.buf = append(e.buf, ';')
	default:
		// Reachable only through a type that embeds one of ours.
		return encodeErrorf("unsupported Value type %T", v)
	}
	return nil
}

// textMatches reports whether the text a decoded Float remembers still
// reads as its Value.
func textMatches(v Float) bool {
	f, ok := parseFloatText([]byte(v.text))
	return ok && sameFloat(f, v.Value)
}

func (e *encoder) int(v Int) {
	e.buf = append(e.buf, "i:"...)
	e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	e.buf = append(e.buf, ';')
}

func (e *encoder) string(v String) {
	e.buf = append(e.buf, "s:"...)
	e.quoted(string(v))
	e.buf = append(e.buf, ';')
}

// quoted appends <len>:"<s>".
func (e *encoder) quoted(s string) {
	e.buf = strconv.AppendInt(e.buf, int64(len(s)), 10)
	e.buf = append(e.buf, ":\""...)
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '"')
}

func (e *encoder) escapedString(v EscapedString) {
	e.buf = append(e.buf, "S:"...)
	e.buf = strconv.AppendInt(e.buf, int64(len(v.Value)), 10)
	e.buf = append(e.buf, ":\""...)
	if v.raw != "" && unescape(v.raw) == v.Value {
		e.buf = append(e.buf, v.raw...)
	} else {
		const hex = "0123456789abcdef"
		for i := 0; i < len(v.Value); i++ {
			c := v.Value[i]
			if c == '\\' || c < 0x20 || c >= 0x7f {
				e.buf = append(e.buf, '\\', hex[c>>4], hex[c&15])
			} else {
				e.buf = append(e.buf, c)
			}
		}
	}
	e.buf = append(e.buf, "\";"...)
}

// unescape decodes the body of an S: token that the decoder accepted.
func unescape(raw string) string {
	b := []byte(raw)
	out := b[:0] // decoding only shrinks, so it can work in place
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+2 < len(b) {
			hi, _ := unhex(b, i+1)
			lo, _ := unhex(b, i+2)
			out = append(out, hi<<4|lo)
			i += 2
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func (e *encoder) key(k Key) *encodeError {
	switch k := k.(type) {
	case Int:
		e.int(k)
	case String:
		e.string(k)
	case EscapedString:
		e.escapedString(k)
	case nil:
		return encodeErrorf("nil Key")
	default:
		return encodeErrorf("unsupported Key type %T", k)
	}
	return nil
}

// enter opens one nesting level; see MaxDepth.
func (e *encoder) enter() *encodeError {
	if e.depth >= MaxDepth {
		return encodeErrorf("arrays and objects are nested more than MaxDepth (%d) levels deep", MaxDepth)
	}
	e.depth++
	return nil
}

func (e *encoder) array(a *Array) *encodeError {
	nested := len(a.Entries) > 0
	if nested {
		if err := e.enter(); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, "a:"...)
	if err := e.entries(a.Entries, false); err != nil {
		return err
	}
	if nested {
		e.depth--
	}
	return nil
}

func (e *encoder) object(o *Object) *encodeError {
	if err := e.enter(); err != nil {
		return err
	}
	e.buf = append(e.buf, "O:"...)
	e.quoted(o.Class)
	e.buf = append(e.buf, ':')
	if err := e.entries(o.Props, true); err != nil {
		return err
	}
	e.depth--
	return nil
}

// entries appends <n>:{<key><value>...}.
func (e *encoder) entries(entries []Entry, props bool) *encodeError {
	e.buf = strconv.AppendInt(e.buf, int64(len(entries)), 10)
	e.buf = append(e.buf, ":{"...)
	for _, en := range entries {
		if err := e.key(en.Key); err != nil {
			return err.in(pathSegment(en.Key, props))
		}
		if err := e.value(en.Value); err != nil {
			return err.in(pathSegment(en.Key, props))
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}
