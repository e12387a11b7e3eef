// Package phpserialize reads and writes PHP's serialize() format and the
// three session.serialize_handler formats PHP stores sessions in, so that
// session data can be inspected and rewritten without PHP.
//
// # Values
//
// Decode and Encode handle every token serialize() writes: N; b: i: (the
// full int64 range) d: (PHP's float text, including INF, -INF, NAN, -0 and
// exponent forms such as 1.0E+25) s: (byte-counted strings holding any
// bytes) a: (int and string keys, order kept) O: (objects, including the
// PHP 7.4+ __serialize() form, which is O: with arbitrary keys) C:
// (Serializable, payload kept opaque) E: (PHP 8.1 enum cases) r: and R:
// (references), plus the legacy S: string with \xx escapes.
//
// Decode followed by Encode returns the input byte for byte, and Encode's
// output always decodes. Decoding keeps what is in the input: duplicate
// keys, string keys that PHP would have turned into ints, and float text
// written by older PHP versions (such as 0.10000000000000001) all survive.
// Array.Set applies PHP's key rules when building arrays instead.
//
// # Sessions
//
// DecodeSession and EncodeSession handle the formats of the three
// session.serialize_handler settings:
//
//   - php: name|value name|value ..., where a name starting with '!' marks
//     an undefined variable (PS_UNDEF_MARKER, PHP 5) and has no value;
//   - php_binary: a length byte, the name, the value; a length byte with
//     bit 0x80 set (PS_BIN_UNDEF) marks an undefined variable with no value;
//   - php_serialize: one serialized array holding all variables.
//
// The same byte-for-byte round trip holds (see DecodeSession for the one
// exception, empty php_serialize data).
//
// # Reference slots
//
// r:n and R:n point at the n-th value of the enclosing unserialize() call,
// counted from 1 in the order values appear, where every value takes a
// slot except R: itself and array keys and property names; nested values
// and object property values take slots too, r: takes one, and a
// Serializable takes one for itself. In the php and php_binary session
// formats the count runs across all variables, so b|r:1; may point into
// variable a; in php_serialize the session array itself is slot 1. The
// decoder checks that every reference points to an earlier slot, and that
// r: points to an object, as unserialize() does. A Serializable's payload
// may contain values that PHP numbered in the same count (when its
// serialize() method called serialize()), so references to slots after
// the first Serializable are accepted unchecked, and the JSON view cannot
// say where they point.
//
// # Limits
//
// Hostile input fails fast with memory bounded by a small multiple of the
// input size, never by the lengths and counts it declares:
//
//   - Arrays and objects nest at most MaxDepth (4096, PHP's default
//     unserialize_max_depth) levels deep.
//   - A declared string, class name or payload length must fit in the
//     input remaining, and a declared element count must fit in the
//     remaining input at 6 bytes per element, before anything is
//     allocated; memory preallocated from declared counts is capped by the
//     input length as a whole.
//
// Decoding never panics, whatever the input.
//
// # Differences from PHP
//
// This package checks syntax and reference numbering, not PHP classes: it
// cannot know whether a class exists, has typed properties or implements
// Serializable. It is stricter than unserialize() in a few places where
// PHP accepts text serialize() never writes, because keeping such text
// would break the byte-exact round trip: integers, lengths, counts and
// slot numbers must be written without '+', leading zeros or -0 and fit
// their range (PHP clamps out-of-range integers with a warning), and
// nothing may follow the value (PHP 8.2 ignores trailing bytes).
//
// # JSON
//
// JSON and SessionJSON render values as indented JSON for people: binary
// strings as base64, objects with their class and each property's
// visibility, references with the path of their target.
//
// DataJSON and SessionDataJSON map values to compact JSON for machines, such
// as a PostgreSQL jsonb column: arrays and objects become JSON objects whose
// members sit at the paths PHP code uses ($_SESSION['user']['id'] is
// decoded -> 'user' ->> 'id' whether user is an array or an object), with the
// mapping's own metadata (class, visibility, binary strings, INF and NAN,
// references) in members whose names start with '@'.
package phpserialize
