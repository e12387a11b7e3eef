package phpserialize

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// valueGen makes random values for the differential and round-trip
// tests. It numbers reference slots as Encode will, so that the
// references it makes are ones PHP writes the same way again: R: only to finished values that
// are not r: themselves, r: only to the first occurrence of an object,
// an enum case only once and later as r:.
type valueGen struct {
	r     *rand.Rand
	slots slotTable
	// refTargets are the finished slots R: may point to; objects are the
	// slots r: may point to.
	refTargets []int
	objects    []int
	enumSlots  map[Enum]int
}

func newValueGen(seed uint64) *valueGen {
	return &valueGen{r: rand.New(rand.NewPCG(seed, 0x5eed)), enumSlots: map[Enum]int{}}
}

func (g *valueGen) value(depth int) Value {
	max := 16
	if depth >= 4 {
		max = 10
	}
	switch g.r.IntN(max) {
	case 0:
		return g.scalar(Null{})
	case 1:
		return g.scalar(Bool(g.r.IntN(2) == 1))
	case 2:
		ints := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, g.r.Int64(), -g.r.Int64N(1000)}
		return g.scalar(Int(ints[g.r.IntN(len(ints))]))
	case 3:
		return g.scalar(Float{Value: g.float()})
	case 4:
		return g.scalar(String(g.bytes(g.r.IntN(20))))
	case 5:
		if g.r.IntN(10) == 0 {
			return g.scalar(String(g.bytes(200 + g.r.IntN(200))))
		}
		words := []string{"", "plain", "héllo", "😀", `a"b;c}`, "|", "\x00"}
		return g.scalar(String(words[g.r.IntN(len(words))]))
	case 6:
		enums := []Enum{{"Suit", "Hearts"}, {"Suit", "Spades"}, {"Status", "Active"}, {"Status", "Banned"}}
		e := enums[g.r.IntN(len(enums))]
		if first, ok := g.enumSlots[e]; ok {
			g.slots.push(true, false)
			return ObjectRef{Slot: first}
		}
		slot := g.slots.push(true, false)
		g.enumSlots[e] = slot
		g.objects = append(g.objects, slot)
		g.refTargets = append(g.refTargets, slot)
		return e
	case 7:
		if len(g.objects) == 0 {
			return g.scalar(Null{})
		}
		g.slots.push(true, false)
		return ObjectRef{Slot: g.objects[g.r.IntN(len(g.objects))]}
	case 8:
		if len(g.refTargets) == 0 {
			return g.scalar(Null{})
		}
		return Reference{Slot: g.refTargets[g.r.IntN(len(g.refTargets))]}
	case 9:
		slot := g.slots.push(true, true)
		g.objects = append(g.objects, slot)
		g.refTargets = append(g.refTargets, slot)
		return Serializable{Class: "Opaque", Data: string(g.bytes(g.r.IntN(12)))}
	case 10, 11, 12:
		return g.array(depth)
	default:
		return g.object(depth)
	}
}

func (g *valueGen) array(depth int) *Array {
	slot := g.slots.push(false, false)
	a := &Array{}
	for _, k := range g.keys(false) {
		a.Entries = append(a.Entries, Entry{Key: k, Value: g.value(depth + 1)})
	}
	g.refTargets = append(g.refTargets, slot)
	return a
}

func (g *valueGen) object(depth int) *Object {
	slot := g.slots.push(true, false)
	classes := []string{"stdClass", "GoRandomClass", "Go\\Namespaced\\Thing", "Gö"}
	o := &Object{Class: classes[g.r.IntN(len(classes))]}
	g.objects = append(g.objects, slot) // properties may point back (r:), as in PHP's object cycles
	for _, k := range g.keys(true) {
		name := string(k.(String))
		switch g.r.IntN(4) {
		case 0:
			k = String(MangleProperty(Protected, "", name))
		case 1:
			k = String(MangleProperty(Private, o.Class, name))
		}
		o.Props = append(o.Props, Entry{Key: k, Value: g.value(depth + 1)})
	}
	g.refTargets = append(g.refTargets, slot)
	return o
}

// scalar gives v its slot and makes it a target for R:.
func (g *valueGen) scalar(v Value) Value {
	g.refTargets = append(g.refTargets, g.slots.push(false, false))
	return v
}

// keys returns distinct keys as PHP would store them: array keys go
// through ArrayKey; property names stay non-empty strings that do not
// start with a NUL byte (the caller mangles some).
func (g *valueGen) keys(props bool) []Key {
	candidates := []string{"10", "010", "-5", "-0", "k", "", "\x00", "x y", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "é", "\xff"}
	var keys []Key
	seen := map[Key]bool{}
	for range g.r.IntN(6) {
		var k Key
		if !props && g.r.IntN(3) == 0 {
			k = Int(g.r.Int64N(20) - 5)
		} else {
			s := candidates[g.r.IntN(len(candidates))]
			if g.r.IntN(3) == 0 {
				s = string(g.bytes(1 + g.r.IntN(6)))
			}
			if props {
				if s == "" || s[0] == 0 {
					continue
				}
				k = String(s)
			} else {
				k = ArrayKey(s)
			}
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func (g *valueGen) float() float64 {
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 0.1, 1e25, -1e-10, 2.220446049250313e-16, math.MaxFloat64, 5e-324, 9.223372036854776e18, 1e15, 1e16, 1e17, 0.0001, 0.00001, 123456789.125}
	switch g.r.IntN(3) {
	case 0:
		return special[g.r.IntN(len(special))]
	case 1:
		return math.Float64frombits(g.r.Uint64())
	}
	// Decimal-looking numbers around the plain/exponent switch points.
	return float64(g.r.Int64N(2000000)-1000000) * math.Pow(10, float64(g.r.IntN(44)-22))
}

func (g *valueGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// session makes random variables whose names the handler can store and
// PHP keeps as they are.
func (g *valueGen) session(handler string) *Session {
	if handler == HandlerPHPSerialize {
		g.slots.push(false, false) // $_SESSION itself
	}
	s := &Session{}
	seen := map[string]bool{}
	for i := range g.r.IntN(7) {
		name := []string{"user", "cart", "7", "", "é", "a b", "x\x00y", "-0", "010"}[g.r.IntN(9)]
		if g.r.IntN(3) == 0 {
			name = fmt.Sprintf("v%d", i)
		}
		if handler == HandlerPHPSerialize {
			// Names are array keys: "7" and 7 are the same variable.
			name = keyText(ArrayKey(name))
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		s.Vars = append(s.Vars, Var{Name: name, Value: g.value(1)})
	}
	return s
}
