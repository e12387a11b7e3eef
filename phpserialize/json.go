package phpserialize

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON returns an indented JSON view of v for people to read. It is not
// meant to be parsed back: some PHP values look alike in it. The mapping:
//
//   - null, bool and int become JSON null, true/false and numbers.
//   - A float becomes a JSON number that always shows it is a float
//     (1.0, -0.0, 1.0E+25); INF, -INF and NAN become {"float": "INF"}.
//   - A string becomes a JSON string when it is valid UTF-8, with control
//     characters escaped, and {"base64": "..."} otherwise.
//   - An array with keys 0, 1, 2, ... in order becomes a JSON array. Any
//     other array becomes a JSON object in PHP's order, unless a key is
//     not valid UTF-8, a string key looks like an int (so "5" and 5 would
//     print alike) or two keys are equal; then it becomes
//     {"entries": [{"key": ..., "value": ...}, ...]}.
//   - An object becomes {"class": "C", "properties": [...]}, each property
//     {"name": "p", "visibility": "public"|"protected"|"private", "value": ...}
//     with "class" naming the declaring class of a private one; int keys
//     (from __serialize) and malformed names show as {"key": ..., "value": ...}.
//   - A Serializable becomes {"class": "C", "serialized": "<payload>"}; an
//     enum case {"enum": "Suit", "case": "Hearts"}.
//   - r: becomes {"objectRef": n, "target": "<path>"} and R: becomes
//     {"reference": n, "target": "<path>"}, where the path is a PHP
//     expression for the slot's value, such as $value['list'][0]->name.
//     "target" is left out when the slot cannot be located (after a
//     Serializable payload, see the package documentation) or does not
//     exist.
//
// JSON fails on a nil Value, Key, *Array or *Object and on nesting deeper
// than MaxDepth.
func JSON(v Value) ([]byte, error) {
	w := &jsonWriter{}
	if err := w.value(v, pathNode{root: "$value"}); err != nil {
		return nil, err
	}
	return indentJSON(w.buf)
}

// SessionJSON returns an indented JSON view of a session decoded with the
// named handler (which determines how reference slots are numbered):
// {"handler": "php", "vars": {"name": <value>, ...}}, with values shown as
// by JSON, paths starting at $_SESSION, and an undefined variable shown as
// {"undefined": true}. When two names are alike or one is not valid UTF-8,
// "vars" is a list of {"name": ..., "value": ...} instead.
func SessionJSON(handler string, s *Session) ([]byte, error) {
	if s == nil {
		return nil, errors.New("phpserialize: SessionJSON of a nil *Session")
	}
	w := &jsonWriter{}
	var parent pathNode
	switch {
	case strings.EqualFold(handler, HandlerPHP):
		handler = HandlerPHP
		parent = pathNode{root: "$_SESSION"}
	case strings.EqualFold(handler, HandlerPHPBinary):
		handler = HandlerPHPBinary
		parent = pathNode{root: "$_SESSION"}
	case strings.EqualFold(handler, HandlerPHPSerialize):
		handler = HandlerPHPSerialize
		// $_SESSION itself is slot 1.
		parent = pathNode{parent: w.push(&Array{}, pathNode{root: "$_SESSION"})}
	default:
		return nil, unknownHandler(handler)
	}
	w.buf = append(w.buf, `{"handler":"`...)
	w.buf = append(w.buf, handler...)
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, `,"vars":`...)
	keys := make([]Key, len(s.Vars))
	for i, v := range s.Vars {
		keys[i] = ArrayKey(v.Name)
	}
	asObject := plainKeys(keys)
	if asObject {
		w.buf = append(w.buf, '{')
	} else {
		w.buf = append(w.buf, '[')
	}
	for i, v := range s.Vars {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if asObject {
			w.buf = appendJSONString(w.buf, v.Name)
			w.buf = append(w.buf, ':')
		} else {
			w.buf = append(w.buf, `{"name":`...)
			w.str(v.Name)
			w.buf = append(w.buf, `,"value":`...)
		}
		node := parent
		node.key = keys[i]
		if v.Value == nil {
			w.buf = append(w.buf, `{"undefined":true}`...)
		} else if err := w.value(v.Value, node); err != nil {
			return nil, err
		}
		if !asObject {
			w.buf = append(w.buf, '}')
		}
	}
	if asObject {
		w.buf = append(w.buf, "}}"...)
	} else {
		w.buf = append(w.buf, "]}"...)
	}
	return indentJSON(w.buf)
}

func indentJSON(compact []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, err // the writer produced invalid JSON: a bug
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// pathNode locates one value for reference targets: the key under which
// it sits in the container in slot parent, or, for an outermost value,
// the root expression. Paths are rendered only when a reference needs
// one.
type pathNode struct {
	parent int
	key    Key
	prop   bool
	root   string
}

// maxPathLen caps a rendered path; longer ones keep their start and end.
const maxPathLen = 200

type jsonWriter struct {
	buf   []byte
	depth int
	slots slotTable
	nodes []pathNode // nodes[n-1] locates slot n
}

func (w *jsonWriter) push(v Value, node pathNode) int {
	w.nodes = append(w.nodes, node)
	return w.slots.pushValue(v)
}

// path renders the PHP expression for slot n.
func (w *jsonWriter) path(n int) string {
	var segments []string
	for n > 0 {
		node := w.nodes[n-1]
		if node.key != nil {
			segments = append(segments, pathSegment(node.key, node.prop))
		}
		if node.root != "" {
			segments = append(segments, node.root)
		}
		n = node.parent
	}
	var b strings.Builder
	last := len(segments) - 1
	b.WriteString(segments[last])
	tail := 0 // segments[:tail] are the ones that fit after an ellipsis
	size := len(segments[last])
	for i := range last {
		if size+len(segments[i]) > maxPathLen {
			break
		}
		size += len(segments[i])
		tail = i + 1
	}
	if tail < last {
		b.WriteString("…")
	}
	for i := tail - 1; i >= 0; i-- {
		b.WriteString(segments[i])
	}
	return b.String()
}

// pathSegment renders how PHP code reaches an entry with key k: [0] or
// ["name"] in an array, ->name or ->{"odd name"} in an object (by the
// unmangled property name). Long keys are cut short.
func pathSegment(k Key, prop bool) string {
	var s string
	switch k := k.(type) {
	case Int:
		if prop {
			return "->{" + strconv.FormatInt(int64(k), 10) + "}"
		}
		return "[" + strconv.FormatInt(int64(k), 10) + "]"
	case String:
		s = string(k)
	case EscapedString:
		s = k.Value
	default:
		return "[?]"
	}
	if prop {
		if _, _, name, ok := UnmangleProperty(s); ok {
			s = name
		}
		if isIdentifier(s) {
			return "->" + s
		}
		return "->{" + quoteKey(s) + "}"
	}
	return "[" + quoteKey(s) + "]"
}

// quoteKey writes s as a PHP string literal, cut to 64 bytes: single
// quoted when it is printable UTF-8, else double quoted with escapes.
func quoteKey(s string) string {
	cut := ""
	if len(s) > 64 {
		s, cut = s[:64], "…"
	}
	printable := utf8.ValidString(s)
	for i := 0; i < len(s) && printable; i++ {
		printable = s[i] >= 0x20 && s[i] != 0x7f
	}
	if !printable {
		return strconv.Quote(s) + cut
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" + cut
}

func isIdentifier(s string) bool {
	if s == "" || len(s) > maxPathLen || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (w *jsonWriter) value(v Value, node pathNode) error {
	switch v := v.(type) {
	case nil:
		return errors.New("phpserialize: JSON of a nil Value")
	case Null:
		w.push(v, node)
		w.buf = append(w.buf, "null"...)
	case Bool:
		w.push(v, node)
		w.buf = strconv.AppendBool(w.buf, bool(v))
	case Int:
		w.push(v, node)
		w.buf = strconv.AppendInt(w.buf, int64(v), 10)
	case Float:
		w.push(v, node)
		w.float(v.Value)
	case String:
		w.push(v, node)
		w.str(string(v))
	case EscapedString:
		w.push(v, node)
		w.str(v.Value)
	case *Array:
		if v == nil {
			return errors.New("phpserialize: JSON of a nil *Array")
		}
		return w.array(v, w.push(v, node))
	case *Object:
		if v == nil {
			return errors.New("phpserialize: JSON of a nil *Object")
		}
		return w.object(v, w.push(v, node))
	case Serializable:
		w.push(v, node)
		w.buf = append(w.buf, `{"class":`...)
		w.str(v.Class)
		w.buf = append(w.buf, `,"serialized":`...)
		w.str(v.Data)
		w.buf = append(w.buf, '}')
	case Enum:
		w.push(v, node)
		w.buf = append(w.buf, `{"enum":`...)
		w.str(v.Class)
		w.buf = append(w.buf, `,"case":`...)
		w.str(v.Case)
		w.buf = append(w.buf, '}')
	case ObjectRef:
		w.push(v, node)
		w.reference("objectRef", v.Slot, true)
	case Reference:
		w.reference("reference", v.Slot, false)
	default:
		return errors.New("phpserialize: JSON of an unsupported Value type")
	}
	return nil
}

func (w *jsonWriter) float(f float64) {
	var text [32]byte
	b := appendFloat(text[:0], f)
	if b[len(b)-1] == 'F' || b[len(b)-1] == 'N' { // INF, -INF, NAN
		w.buf = append(w.buf, `{"float":"`...)
		w.buf = append(w.buf, b...)
		w.buf = append(w.buf, `"}`...)
		return
	}
	w.buf = append(w.buf, b...)
	if bytes.IndexAny(b, ".E") < 0 {
		w.buf = append(w.buf, ".0"...)
	}
}

func (w *jsonWriter) reference(kind string, n int, objectRef bool) {
	w.buf = append(w.buf, `{"`...)
	w.buf = append(w.buf, kind...)
	w.buf = append(w.buf, `":`...)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	if known, _ := w.slots.check(n, objectRef); known {
		w.buf = append(w.buf, `,"target":`...)
		w.buf = appendJSONString(w.buf, w.path(n))
	}
	w.buf = append(w.buf, '}')
}

// enter opens one nesting level; see MaxDepth.
func (w *jsonWriter) enter() error {
	if w.depth >= MaxDepth {
		return errors.New("phpserialize: JSON: arrays and objects are nested more than MaxDepth levels deep")
	}
	w.depth++
	return nil
}

func (w *jsonWriter) array(a *Array, slot int) error {
	if len(a.Entries) > 0 { // as in PHP, an empty array is no level
		if err := w.enter(); err != nil {
			return err
		}
		defer func() { w.depth-- }()
	}
	isList := true
	for i, e := range a.Entries {
		if k, ok := e.Key.(Int); !ok || int(k) != i {
			isList = false
			break
		}
	}
	keys := make([]Key, len(a.Entries))
	for i, e := range a.Entries {
		if e.Key == nil {
			return errors.New("phpserialize: JSON of a nil Key")
		}
		keys[i] = e.Key
	}
	asObject := !isList && plainKeys(keys)
	switch {
	case isList:
		w.buf = append(w.buf, '[')
	case asObject:
		w.buf = append(w.buf, '{')
	default:
		w.buf = append(w.buf, `{"entries":[`...)
	}
	for i, e := range a.Entries {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		switch {
		case asObject:
			w.buf = appendJSONString(w.buf, keyText(e.Key))
			w.buf = append(w.buf, ':')
		case !isList:
			w.buf = append(w.buf, `{"key":`...)
			w.key(e.Key)
			w.buf = append(w.buf, `,"value":`...)
		}
		if err := w.value(e.Value, pathNode{parent: slot, key: e.Key}); err != nil {
			return err
		}
		if !isList && !asObject {
			w.buf = append(w.buf, '}')
		}
	}
	switch {
	case isList:
		w.buf = append(w.buf, ']')
	case asObject:
		w.buf = append(w.buf, '}')
	default:
		w.buf = append(w.buf, "]}"...)
	}
	return nil
}

// plainKeys reports whether keys can be JSON object member names that
// tell them apart: all valid UTF-8, no string key that prints like an int
// key, no two alike.
func plainKeys(keys []Key) bool {
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		switch k := k.(type) {
		case String:
			if !utf8.ValidString(string(k)) {
				return false
			}
			if _, isInt := ArrayKey(string(k)).(Int); isInt {
				return false
			}
		case EscapedString:
			if !utf8.ValidString(k.Value) {
				return false
			}
			if _, isInt := ArrayKey(k.Value).(Int); isInt {
				return false
			}
		}
		text := keyText(k)
		if _, dup := seen[text]; dup {
			return false
		}
		seen[text] = struct{}{}
	}
	return true
}

func keyText(k Key) string {
	switch k := k.(type) {
	case Int:
		return strconv.FormatInt(int64(k), 10)
	case String:
		return string(k)
	case EscapedString:
		return k.Value
	}
	return ""
}

func (w *jsonWriter) key(k Key) {
	if i, ok := k.(Int); ok {
		w.buf = strconv.AppendInt(w.buf, int64(i), 10)
		return
	}
	w.str(keyText(k))
}

func (w *jsonWriter) object(o *Object, slot int) error {
	if err := w.enter(); err != nil {
		return err
	}
	defer func() { w.depth-- }()
	w.buf = append(w.buf, `{"class":`...)
	w.str(o.Class)
	w.buf = append(w.buf, `,"properties":[`...)
	for i, e := range o.Props {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if e.Key == nil {
			return errors.New("phpserialize: JSON of a nil Key")
		}
		_, isInt := e.Key.(Int)
		vis, class, name, ok := UnmangleProperty(keyText(e.Key))
		if isInt || !ok {
			w.buf = append(w.buf, `{"key":`...)
			w.key(e.Key)
		} else {
			w.buf = append(w.buf, `{"name":`...)
			w.str(name)
			w.buf = append(w.buf, `,"visibility":"`...)
			w.buf = append(w.buf, vis.String()...)
			w.buf = append(w.buf, '"')
			if vis == Private {
				w.buf = append(w.buf, `,"class":`...)
				w.str(class)
			}
		}
		w.buf = append(w.buf, `,"value":`...)
		if err := w.value(e.Value, pathNode{parent: slot, key: e.Key, prop: true}); err != nil {
			return err
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, "]}"...)
	return nil
}

// str writes s as a JSON string if it is valid UTF-8, else as
// {"base64": "..."}.
func (w *jsonWriter) str(s string) {
	if utf8.ValidString(s) {
		w.buf = appendJSONString(w.buf, s)
		return
	}
	w.buf = append(w.buf, `{"base64":"`...)
	w.buf = base64.StdEncoding.AppendEncode(w.buf, []byte(s))
	w.buf = append(w.buf, `"}`...)
}

// appendJSONString appends s, which must be valid UTF-8, as a JSON
// string, escaping quotes, backslashes, control characters and the line
// separators U+2028 and U+2029.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&15])
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
