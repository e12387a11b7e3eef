package phpserialize

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Session is the decoded data of one PHP session: its variables ($_SESSION
// entries) in stored order. Decoding keeps duplicate names as they are,
// so that encoding returns the input byte for byte; PHP would keep the
// last value under the first one's position.
type Session struct {
	Vars []Var
}

// Var is one session variable. A nil Value marks a variable that old PHP
// versions stored as undefined (the php handler's "!name|", the
// php_binary handler's length byte with bit 0x80 set): it has a name but
// no value, and takes no reference slot.
type Var struct {
	Name  string
	Value Value
}

// The session.serialize_handler names this package implements.
const (
	HandlerPHP          = "php"
	HandlerPHPBinary    = "php_binary"
	HandlerPHPSerialize = "php_serialize"
)

// phpBinaryUndef is PS_BIN_UNDEF: a php_binary length byte with this bit
// set names an undefined variable; the other seven bits are the length.
const phpBinaryUndef = 0x80

// DecodeSession parses session data written with the named
// session.serialize_handler ("php", "php_binary" or "php_serialize",
// compared case-insensitively as PHP does). Reference slots are numbered
// across all variables, as PHP's session decoder does, so a variable may
// refer to a value inside an earlier one.
//
// Empty data, which PHP reads as an empty session with every handler,
// gives a Session without variables. EncodeSession of the result returns
// data byte for byte, except that an empty php_serialize session encodes
// as "a:0:{}", which is what PHP writes for it.
//
// In the php format a name starting with '!' marks an undefined variable
// (PS_UNDEF_MARKER, written by PHP 5). PHP 7 and later read such a name
// as an ordinary name, so a PHP 7+ session variable whose name starts with
// '!' comes out here as undefined, followed by a syntax error or a
// misread. In the php_binary format a length byte with bit 0x80 set
// (PS_BIN_UNDEF) marks an undefined variable; PHP 7 and later never set
// that bit, as they skip names longer than 127 bytes.
//
// In the php_serialize format every key must be written the way PHP
// writes array keys (ints as i:, other strings as s:); the keys become
// the variable names, ints in decimal.
//
// Syntax errors are *SyntaxError with offsets into data; an unknown
// handler is reported with a plain error.
func DecodeSession(handler string, data []byte) (*Session, error) {
	switch {
	case strings.EqualFold(handler, HandlerPHP):
		return decodePHPSession(data)
	case strings.EqualFold(handler, HandlerPHPBinary):
		return decodePHPBinarySession(data)
	case strings.EqualFold(handler, HandlerPHPSerialize):
		return decodePHPSerializeSession(data)
	}
	return nil, unknownHandler(handler)
}

func unknownHandler(handler string) error {
	return errors.New("phpserialize: unknown session serialize handler " + strconv.Quote(handler) + ` (want "php", "php_binary" or "php_serialize")`)
}

func decodePHPSession(data []byte) (*Session, error) {
	d := newDecoder(data)
	s := &Session{}
	for d.pos < len(data) {
		bar := bytes.IndexByte(data[d.pos:], '|')
		if bar < 0 {
			return nil, d.errorf(len(data), "expected '|' after session variable name, found end of input")
		}
		name := data[d.pos : d.pos+bar]
		d.pos += bar + 1
		if len(name) > 0 && name[0] == '!' {
			s.Vars = append(s.Vars, Var{Name: string(name[1:])})
			continue
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		s.Vars = append(s.Vars, Var{Name: string(name), Value: v})
	}
	return s, nil
}

func decodePHPBinarySession(data []byte) (*Session, error) {
	d := newDecoder(data)
	s := &Session{}
	for d.pos < len(data) {
		lengthByte := data[d.pos]
		n := int(lengthByte &^ phpBinaryUndef)
		if n > len(data)-d.pos-1 {
			return nil, d.errorf(d.pos, "session variable name length %s exceeds the %s bytes remaining", strconv.Itoa(n), strconv.Itoa(len(data)-d.pos-1))
		}
		name := string(data[d.pos+1 : d.pos+1+n])
		d.pos += 1 + n
		if lengthByte&phpBinaryUndef != 0 {
			s.Vars = append(s.Vars, Var{Name: name})
			continue
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		s.Vars = append(s.Vars, Var{Name: name, Value: v})
	}
	return s, nil
}

func decodePHPSerializeSession(data []byte) (*Session, error) {
	s := &Session{}
	if len(data) == 0 {
		return s, nil
	}
	d := newDecoder(data)
	tokenAt := d.pos
	if d.data[0] != 'a' {
		return nil, d.errorf(0, "expected the session array (a:), found %s", d.found(0))
	}
	d.slots.push(false, false) // $_SESSION itself is slot 1
	if err := d.expect2('a', ':', "array"); err != nil {
		return nil, err
	}
	n, err := d.count("array", tokenAt, false)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		s.Vars = make([]Var, 0, n)
	}
	for range n {
		keyAt := d.pos
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		var name string
		switch k := k.(type) {
		case Int:
			name = strconv.FormatInt(int64(k), 10)
		case String:
			if _, isInt := ArrayKey(string(k)).(Int); isInt {
				return nil, d.errorf(keyAt, "session variable name %s is written as a string, but PHP writes it as an integer key", quoteBytes(string(k)))
			}
			name = string(k)
		default:
			return nil, d.errorf(keyAt, "session variable names must be i: or s: keys, found an S: key")
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		s.Vars = append(s.Vars, Var{Name: name, Value: v})
	}
	if d.pos >= len(data) || data[d.pos] != '}' {
		return nil, d.errorf(d.pos, "expected '}' after %s session variables, found %s", strconv.Itoa(n), d.found(d.pos))
	}
	d.pos++
	if d.pos != len(data) {
		return nil, d.errorf(d.pos, "expected end of input after the session array, found %s", d.found(d.pos))
	}
	return s, nil
}

// EncodeSession returns s in the named session.serialize_handler's format
// ("php", "php_binary" or "php_serialize", compared case-insensitively),
// numbering reference slots across all variables as PHP does. It fails
// where PHP would write something it cannot read back, and on everything
// Encode rejects:
//
//   - php: a name containing '|', or a defined variable whose name starts
//     with '!' (it would read back as undefined);
//   - php_binary: a name longer than 127 bytes (PHP silently drops such
//     variables);
//   - php_serialize: an undefined variable (nil Value), which the format
//     cannot express. Names become array keys by PHP's rules (ArrayKey).
func EncodeSession(handler string, s *Session) ([]byte, error) {
	if s == nil {
		return nil, errors.New("phpserialize: EncodeSession of a nil *Session")
	}
	e := &encoder{}
	switch {
	case strings.EqualFold(handler, HandlerPHP):
		for _, v := range s.Vars {
			if strings.IndexByte(v.Name, '|') >= 0 {
				return nil, sessionEncodeError(v.Name, "the php handler cannot store a name containing '|'")
			}
			if v.Value == nil {
				e.buf = append(e.buf, '!')
				e.buf = append(e.buf, v.Name...)
				e.buf = append(e.buf, '|')
				continue
			}
			if strings.HasPrefix(v.Name, "!") {
				return nil, sessionEncodeError(v.Name, "the php handler reads a name starting with '!' as an undefined variable")
			}
			e.buf = append(e.buf, v.Name...)
			e.buf = append(e.buf, '|')
			if err := e.value(v.Value); err != nil {
				return nil, err.withRoot(sessionPath(v.Name))
			}
		}
	case strings.EqualFold(handler, HandlerPHPBinary):
		for _, v := range s.Vars {
			if len(v.Name) > phpBinaryUndef-1 {
				return nil, sessionEncodeError(v.Name, "the php_binary handler cannot store a name longer than 127 bytes")
			}
			if v.Value == nil {
				e.buf = append(e.buf, byte(len(v.Name))|phpBinaryUndef)
				e.buf = append(e.buf, v.Name...)
				continue
			}
			e.buf = append(e.buf, byte(len(v.Name)))
			e.buf = append(e.buf, v.Name...)
			if err := e.value(v.Value); err != nil {
				return nil, err.withRoot(sessionPath(v.Name))
			}
		}
	case strings.EqualFold(handler, HandlerPHPSerialize):
		e.slots.push(false, false) // $_SESSION itself is slot 1
		nested := len(s.Vars) > 0
		if nested {
			if err := e.enter(); err != nil {
				return nil, err.withRoot("$_SESSION")
			}
		}
		e.buf = append(e.buf, "a:"...)
		e.buf = strconv.AppendInt(e.buf, int64(len(s.Vars)), 10)
		e.buf = append(e.buf, ":{"...)
		for _, v := range s.Vars {
			if v.Value == nil {
				return nil, sessionEncodeError(v.Name, "the php_serialize handler cannot store an undefined variable")
			}
			switch k := ArrayKey(v.Name).(type) {
			case Int:
				e.int(k)
			case String:
				e.string(k)
			}
			if err := e.value(v.Value); err != nil {
				return nil, err.withRoot(sessionPath(v.Name))
			}
		}
		e.buf = append(e.buf, '}')
	default:
		return nil, unknownHandler(handler)
	}
	if e.buf == nil {
		e.buf = []byte{}
	}
	return e.buf, nil
}

func sessionEncodeError(name, msg string) error {
	return (&encodeError{msg: msg}).withRoot(sessionPath(name))
}

// sessionPath is the PHP expression naming session variable name.
func sessionPath(name string) string {
	return "$_SESSION" + pathSegment(ArrayKey(name), false)
}
