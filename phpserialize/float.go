package phpserialize

import (
	"math"
	"strconv"
)

// appendFloat appends f as PHP 7.1+ serialize() writes it with
// serialize_precision = -1: php_gcvt with the shortest round-trip digits,
// plain notation while the decimal exponent lies in [-4, 16] and
// otherwise d.dddE±x, with ".0" after a lone leading digit (1.0E+25).
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NAN"...)
	case math.IsInf(f, 1):
		return append(dst, "INF"...)
	case math.IsInf(f, -1):
		return append(dst, "-INF"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // -d.ddde±xx
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	var digits [20]byte // at most 17 significant digits
	n := 0
	i := 0
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[n] = e[i]
			n++
		}
	}
	exp, _ := strconv.Atoi(string(e[i+1:])) // strconv wrote it, it parses
	decpt := exp + 1                        // php_gcvt's decimal point position
	switch {
	case decpt < -3 || decpt > 17:
		dst = append(dst, digits[0], '.')
		if n == 1 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, digits[1:n]...)
		}
		dst = append(dst, 'E')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	case decpt <= 0:
		dst = append(dst, '0', '.')
		for ; decpt < 0; decpt++ {
			dst = append(dst, '0')
		}
		return append(dst, digits[:n]...)
	default:
		for j := 0; j < decpt; j++ {
			if j < n {
				dst = append(dst, digits[j])
			} else {
				dst = append(dst, '0')
			}
		}
		if n > decpt {
			dst = append(dst, '.')
			dst = append(dst, digits[decpt:n]...)
		}
		return dst
	}
}

// parseFloatText parses the text of a d: token. It accepts exactly what
// PHP's unserialize() accepts: NAN, INF, -INF, or
// [+-]?(digits | digits.digits? | .digits)([eE][+-]?digits)?. The value
// of an out-of-range number is ±Inf or 0, as with PHP's zend_strtod.
func parseFloatText(b []byte) (float64, bool) {
	switch string(b) {
	case "NAN":
		return math.NaN(), true
	case "INF":
		return math.Inf(1), true
	case "-INF":
		return math.Inf(-1), true
	}
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	intDigits := countDigits(b[i:])
	i += intDigits
	fracDigits := 0
	if i < len(b) && b[i] == '.' {
		i++
		fracDigits = countDigits(b[i:])
		i += fracDigits
	}
	if intDigits == 0 && fracDigits == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		expDigits := countDigits(b[i:])
		if expDigits == 0 {
			return 0, false
		}
		i += expDigits
	}
	if i != len(b) {
		return 0, false
	}
	// The grammar above is a subset of what ParseFloat accepts; its only
	// possible error is ErrRange, whose value (±Inf or 0) is what PHP
	// produces too.
	f, _ := strconv.ParseFloat(string(b), 64)
	return f, true
}

func countDigits(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

// sameFloat reports whether a and b are the same float64, telling -0 from
// 0 and treating every NaN as equal.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Float64bits(a) == math.Float64bits(b)
}
