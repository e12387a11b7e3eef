package phpserialize

import "strconv"

// slotTable numbers values the way PHP's var_hash does while one
// unserialize() call or one session decode runs: every value except R:
// takes the next slot, starting at 1, in the order the values appear;
// keys take none. Decode, Encode and the JSON view share it so that they
// agree on which references are valid.
type slotTable struct {
	// object[n-1] reports whether slot n holds an object (O:, C:, E: or
	// r:), the only values r: may point to.
	object []bool
	// opaque is the number of the first slot taken by a Serializable, or
	// 0. Serializable::serialize() may call serialize() itself, and PHP
	// numbers the values inside that payload in the same table, so no
	// slot after this one can be told apart from a slot inside a payload.
	opaque int
}

// pushValue gives the next slot to v and returns its number.
func (t *slotTable) pushValue(v Value) int {
	switch v.(type) {
	case *Object, Enum, ObjectRef:
		return t.push(true, false)
	case Serializable:
		return t.push(true, true)
	}
	return t.push(false, false)
}

// push gives the next slot to a value that is an object or not, and a
// Serializable or not, and returns the slot's number.
func (t *slotTable) push(isObject, isSerializable bool) int {
	t.object = append(t.object, isObject)
	if isSerializable && t.opaque == 0 {
		t.opaque = len(t.object)
	}
	return len(t.object)
}

// check reports whether slot n is a valid target for r: (objectRef true,
// called after the r: took its own slot) or for R:. known is false when
// the reference is valid but its target cannot be located because of an
// earlier Serializable payload. msg explains why the reference is invalid.
func (t *slotTable) check(n int, objectRef bool) (known bool, msg string) {
	if n < 1 {
		return false, "slot numbers start at 1"
	}
	if t.opaque > 0 && n > t.opaque {
		return false, ""
	}
	preceding := len(t.object)
	if objectRef {
		preceding-- // the r: itself took the last slot
	}
	if n > preceding {
		return false, "refers to slot " + strconv.Itoa(n) + ", but only " + strconv.Itoa(preceding) + " slots precede it"
	}
	if objectRef && !t.object[n-1] {
		return false, "refers to slot " + strconv.Itoa(n) + ", which holds no object"
	}
	return true, ""
}
