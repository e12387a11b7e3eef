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
	handler, parent, err := w.sessionRoot(handler)
	if err != nil {
		return nil, err
	}
	w.buf = append(w.buf, `{"handler":"`...)
	w.buf = append(w.buf, handler...)
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, `,"vars":`...)
	if err := w.vars(s, parent); err != nil {
		return nil, err
	}
	w.buf = append(w.buf, '}')
	return indentJSON(w.buf)
}

// SessionDataJSON returns the session's variables as compact JSON for
// machines, such as a PostgreSQL jsonb column, where
// decoded -> 'user' ->> 'id' reaches $_SESSION['user']['id'] whether
// $_SESSION['user'] is an array or an object with a public property id. The
// output is deterministic (the same session gives the same bytes), valid JSON
// and accepted by jsonb: no string holds \u0000. The handler is as for
// SessionJSON. The mapping (README.md, "The decoded session as JSON", has an
// example of each case):
//
//   - The session is a JSON object of its variables by name; an undefined
//     variable (PHP 5's "!name|") is {"@undefined": true}.
//   - Member names starting with '@' are the mapping's own. A PHP key or
//     property name starting with '@' is written with one more '@' in front
//     ("@x" becomes "@@x"), so no PHP data reads as metadata.
//   - null, bool and int become JSON null, true/false and numbers, big ints
//     included (jsonb keeps all 64 bits; a reader that parses numbers as
//     doubles does not).
//   - A float becomes a JSON number that shows it is a float (1.0, -0.0,
//     0.1, 1.0E+25; jsonb keeps 1.0 as 1.0 but -0.0 as 0.0, numeric has no
//     negative zero); INF, -INF and NAN, which JSON lacks, become
//     {"@float": "INF"}, {"@float": "-INF"} and {"@float": "NAN"}.
//   - A string becomes a JSON string when it is valid UTF-8 without NUL
//     bytes, and {"@base64": "<standard base64 of the bytes>"} otherwise.
//   - An array with keys 0, 1, 2, ... in order becomes a JSON array. Any
//     other array becomes a JSON object, int keys in decimal ("7"), unless
//     two keys would give the same member name (an int key and a string
//     key alike, or a key twice) or a key is not valid UTF-8 or holds NUL;
//     then, so that no value is lost to jsonb's "last duplicate wins", it
//     becomes {"@entries": [{"key": <int or string>, "value": ...}, ...]}.
//     jsonb stores object members in its own order (shorter names first),
//     so PHP's order of a non-list array survives only in the JSON text.
//   - An object becomes a JSON object {"@class": "C", <public properties
//     by name>, "@protected": {<name>: ...}, "@private": {"Declaring\Class":
//     {<name>: ...}}}, "@protected" and "@private" only when there are such
//     properties. Public properties, and the int keys an object's
//     __serialize() may return, so sit where PHP code outside the class
//     reads them; a private property of a parent class sits under the
//     parent's name, beside a child's property of the same name. When the
//     properties do not fit this form (two alike in one group, a malformed
//     mangled name, a name or private class that is not valid UTF-8 or holds
//     NUL), the object becomes {"@class": "C", "@properties": [...]} with the
//     property list of JSON.
//   - A Serializable becomes {"@class": "C", "@serialized": <payload as a
//     string>}; an enum case {"@enum": "Suit", "@case": "Hearts"}.
//   - r: (a further occurrence of an object) becomes {"@objectRef": n,
//     "@target": "<path>"} and R: (a PHP reference, &) {"@reference": n,
//     "@target": "<path>"}: n is the reference slot and the path the PHP
//     expression for the target, as in JSON, such as $_SESSION['user'].
//     The target's value is not copied: a copy could nest without end
//     (a reference to an enclosing array) or blow up in size.
//
// SessionDataJSON fails on an unknown handler, a nil Value, Key, *Array or
// *Object and on nesting deeper than MaxDepth.
func SessionDataJSON(handler string, s *Session) ([]byte, error) {
	if s == nil {
		return nil, errors.New("phpserialize: SessionDataJSON of a nil *Session")
	}
	w := &jsonWriter{data: true}
	_, parent, err := w.sessionRoot(handler)
	if err != nil {
		return nil, err
	}
	if err := w.vars(s, parent); err != nil {
		return nil, err
	}
	return w.buf, nil
}

// DataJSON returns v as compact JSON in the mapping of SessionDataJSON, with
// reference paths starting at $value.
func DataJSON(v Value) ([]byte, error) {
	w := &jsonWriter{data: true}
	if err := w.value(v, pathNode{root: "$value"}); err != nil {
		return nil, err
	}
	return w.buf, nil
}

// sessionRoot returns the handler's canonical name and the node under which the
// session's variables sit, taking slot 1 for $_SESSION with php_serialize.
func (w *jsonWriter) sessionRoot(handler string) (string, pathNode, error) {
	switch {
	case strings.EqualFold(handler, HandlerPHP):
		return HandlerPHP, pathNode{root: "$_SESSION"}, nil
	case strings.EqualFold(handler, HandlerPHPBinary):
		return HandlerPHPBinary, pathNode{root: "$_SESSION"}, nil
	case strings.EqualFold(handler, HandlerPHPSerialize):
		// $_SESSION itself is slot 1.
		return HandlerPHPSerialize, pathNode{parent: w.push(&Array{}, pathNode{root: "$_SESSION"})}, nil
	}
	return "", pathNode{}, unknownHandler(handler)
}

// vars writes the session's variables as a JSON object by name, or, when names
// collide or cannot be member names, as a list: [{"name": ..., "value": ...}] in the
// view, {"@entries": [{"key": ..., "value": ...}]} in the data mapping.
func (w *jsonWriter) vars(s *Session, parent pathNode) error {
	keys := make([]Key, len(s.Vars))
	for i, v := range s.Vars {
		keys[i] = ArrayKey(v.Name)
	}
	asObject := w.plainKeys(keys)
	switch {
	case asObject:
		w.buf = append(w.buf, '{')
	case w.data:
		w.buf = append(w.buf, `{"@entries":[`...)
	default:
		w.buf = append(w.buf, '[')
	}
	for i, v := range s.Vars {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		switch {
		case asObject:
			w.memberName(v.Name)
		case w.data:
			w.buf = append(w.buf, `{"key":`...)
			w.str(v.Name)
			w.buf = append(w.buf, `,"value":`...)
		default:
			w.buf = append(w.buf, `{"name":`...)
			w.str(v.Name)
			w.buf = append(w.buf, `,"value":`...)
		}
		node := parent
		node.key = keys[i]
		if v.Value == nil {
			w.buf = append(w.buf, '{')
			w.tag("undefined")
			w.buf = append(w.buf, "true}"...)
		} else if err := w.value(v.Value, node); err != nil {
			return err
		}
		if !asObject {
			w.buf = append(w.buf, '}')
		}
	}
	switch {
	case asObject:
		w.buf = append(w.buf, '}')
	case w.data:
		w.buf = append(w.buf, "]}"...)
	default:
		w.buf = append(w.buf, ']')
	}
	return nil
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

// jsonWriter writes one value or session as compact JSON: the view for people
// (JSON, SessionJSON) or, with data set, the mapping for machines (DataJSON,
// SessionDataJSON), which differ in the places tag, memberName, str and object say.
type jsonWriter struct {
	buf   []byte
	depth int
	slots slotTable
	nodes []pathNode // nodes[n-1] locates slot n
	data  bool
}

// pair writes an object of two string members, k1 and k2 (named by tag).
func (w *jsonWriter) pair(k1, v1, k2, v2 string) {
	w.buf = append(w.buf, '{')
	w.tag(k1)
	w.str(v1)
	w.buf = append(w.buf, ',')
	w.tag(k2)
	w.str(v2)
	w.buf = append(w.buf, '}')
}

// tag writes the member name of the mapping's own metadata and a colon: name in
// the view, "@"+name in the data mapping, where no PHP key can produce it (see
// memberName).
func (w *jsonWriter) tag(name string) {
	w.buf = append(w.buf, '"')
	if w.data {
		w.buf = append(w.buf, '@')
	}
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, `":`...)
}

// memberName writes a PHP key (which plainKeys accepted) as a member name and a
// colon. In the data mapping a key starting with '@' gets one more, so that names
// starting with a single '@' are the mapping's own.
func (w *jsonWriter) memberName(s string) {
	if w.data && strings.HasPrefix(s, "@") {
		s = "@" + s
	}
	w.buf = appendJSONString(w.buf, s)
	w.buf = append(w.buf, ':')
}

// plainString reports whether s can be written as a JSON string or member name:
// valid UTF-8, and in the data mapping free of NUL, which jsonb does not store.
func (w *jsonWriter) plainString(s string) bool {
	return utf8.ValidString(s) && !(w.data && strings.IndexByte(s, 0) >= 0)
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
		w.pair("class", v.Class, "serialized", v.Data)
	case Enum:
		w.push(v, node)
		w.pair("enum", v.Class, "case", v.Case)
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
		w.buf = append(w.buf, '{')
		w.tag("float")
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, b...)
		w.buf = append(w.buf, `"}`...)
		return
	}
	w.buf = append(w.buf, b...)
	if !bytes.ContainsAny(b, ".E") {
		w.buf = append(w.buf, ".0"...)
	}
}

func (w *jsonWriter) reference(kind string, n int, objectRef bool) {
	w.buf = append(w.buf, '{')
	w.tag(kind)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	if known, _ := w.slots.check(n, objectRef); known {
		w.buf = append(w.buf, ',')
		w.tag("target")
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
	asObject := !isList && w.plainKeys(keys)
	switch {
	case isList:
		w.buf = append(w.buf, '[')
	case asObject:
		w.buf = append(w.buf, '{')
	default:
		w.buf = append(w.buf, '{')
		w.tag("entries")
		w.buf = append(w.buf, '[')
	}
	for i, e := range a.Entries {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		switch {
		case asObject:
			w.memberName(keyText(e.Key))
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
// tell them apart: all fit plainString, no string key that prints like an int
// key, no two alike.
func (w *jsonWriter) plainKeys(keys []Key) bool {
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		text := keyText(k)
		if _, isInt := k.(Int); !isInt {
			if !w.plainString(text) {
				return false
			}
			if _, isInt := ArrayKey(text).(Int); isInt {
				return false
			}
		}
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
	if w.data {
		if members, classes, ok := w.propertyGroups(o); ok {
			return w.groupedObject(o, slot, members, classes)
		}
	}
	w.buf = append(w.buf, '{')
	w.tag("class")
	w.str(o.Class)
	w.buf = append(w.buf, ',')
	w.tag("properties")
	w.buf = append(w.buf, '[')
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

// propMember places one property of the grouped object form: its group (0
// public, 1 protected, then one per declaring class of private properties) and
// its plain name.
type propMember struct {
	group int
	name  string
}

// propertyGroups places o's properties for the data mapping's grouped form,
// with the declaring class of each group of private ones (classes[g-2] for
// group g), or reports false when the form cannot hold them all: an int key
// and a string key alike or two properties with the same name in one group,
// a malformed mangled name, or a name or private class that is not a
// plainString.
func (w *jsonWriter) propertyGroups(o *Object) (members []propMember, classes []string, ok bool) {
	seen := make(map[propMember]struct{}, len(o.Props))
	classGroup := map[string]int{}
	members = make([]propMember, len(o.Props))
	for i, e := range o.Props {
		var m propMember
		switch k := e.Key.(type) {
		case nil:
			return nil, nil, false
		case Int:
			m.name = strconv.FormatInt(int64(k), 10)
		default:
			vis, class, name, ok := UnmangleProperty(keyText(k))
			if !ok || !w.plainString(name) || vis == Private && !w.plainString(class) {
				return nil, nil, false
			}
			m.group, m.name = int(vis), name
			if vis == Private {
				g, known := classGroup[class]
				if !known {
					g = 2 + len(classes)
					classGroup[class] = g
					classes = append(classes, class)
				}
				m.group = g
			}
		}
		if _, dup := seen[m]; dup {
			return nil, nil, false
		}
		seen[m] = struct{}{}
		members[i] = m
	}
	return members, classes, true
}

// groupedObject writes o in the data mapping's grouped form:
// {"@class": ..., public..., "@protected": {...}, "@private": {"Class": {...}}}.
// Values are written in the order of o's properties, as their reference slots
// require: the public ones in place, the others into a buffer per group that is
// appended at the end.
func (w *jsonWriter) groupedObject(o *Object, slot int, members []propMember, classes []string) error {
	w.buf = append(w.buf, '{')
	w.tag("class")
	w.str(o.Class)
	side := make([][]byte, 1+len(classes)) // side[g-1] holds group g
	for i, e := range o.Props {
		m := members[i]
		var out []byte
		if m.group > 0 {
			out, w.buf = w.buf, side[m.group-1]
		}
		if m.group == 0 || len(w.buf) > 0 {
			w.buf = append(w.buf, ',')
		}
		w.memberName(m.name)
		if err := w.value(e.Value, pathNode{parent: slot, key: e.Key, prop: true}); err != nil {
			return err
		}
		if m.group > 0 {
			side[m.group-1], w.buf = w.buf, out
		}
	}
	if len(side[0]) > 0 {
		w.buf = append(w.buf, ',')
		w.tag("protected")
		w.buf = append(w.buf, '{')
		w.buf = append(w.buf, side[0]...)
		w.buf = append(w.buf, '}')
	}
	for i, class := range classes {
		if i == 0 {
			w.buf = append(w.buf, ',')
			w.tag("private")
			w.buf = append(w.buf, '{')
		} else {
			w.buf = append(w.buf, ',')
		}
		w.memberName(class)
		w.buf = append(w.buf, '{')
		w.buf = append(w.buf, side[1+i]...)
		w.buf = append(w.buf, '}')
	}
	if len(classes) > 0 {
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, '}')
	return nil
}

// str writes s as a JSON string if it is valid UTF-8 (and, in the data
// mapping, free of NUL), else as {"base64": "..."}.
func (w *jsonWriter) str(s string) {
	if w.plainString(s) {
		w.buf = appendJSONString(w.buf, s)
		return
	}
	w.buf = append(w.buf, '{')
	w.tag("base64")
	w.buf = append(w.buf, '"')
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
