package phpserialize

import (
	"fmt"
	"testing"
)

// benchSession builds a php-format session of about size bytes that
// looks like a web shop's: a user object, a cart of nested arrays with
// strings, ints and floats, flash messages and a CSRF token.
func benchSession(size int) []byte {
	user := &Object{Class: `App\Entity\User`, Props: []Entry{
		{String("id"), Int(48213)},
		{String(MangleProperty(Protected, "", "email")), String("ann.example@example.com")},
		{String(MangleProperty(Private, `App\Entity\User`, "roles")), &Array{Entries: []Entry{{Int(0), String("ROLE_USER")}, {Int(1), String("ROLE_EDITOR")}}}},
		{String("lastLogin"), Int(1732540800)},
	}}
	s := &Session{Vars: []Var{
		{"_token", String("b3f1c2d4e5a6978812ab34cd56ef7890")},
		{"user", user},
		{"locale", String("de_DE")},
	}}
	cart := &Array{}
	s.Vars = append(s.Vars, Var{"cart", cart})
	s.Vars = append(s.Vars, Var{"flash", &Array{Entries: []Entry{{String("notice"), &Array{Entries: []Entry{{Int(0), String("Your order has been saved.")}}}}}}})
	for i := 0; ; i++ {
		enc, err := EncodeSession(HandlerPHP, s)
		if err != nil {
			panic(err)
		}
		if len(enc) >= size {
			return enc
		}
		item := &Array{}
		item.Set(String("sku"), String(fmt.Sprintf("SKU-%06d", i)))
		item.Set(String("title"), String(fmt.Sprintf("Product number %d, blue, size M", i)))
		item.Set(String("qty"), Int(i%5+1))
		item.Set(String("price"), Float{Value: float64(i%50) + 0.99})
		item.Set(String("options"), &Array{Entries: []Entry{{String("gift"), Bool(i%3 == 0)}, {String("note"), Null{}}}})
		cart.Set(Int(i), item)
	}
}

func BenchmarkDecodeSession(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		data := benchSession(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeSession(HandlerPHP, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeSession(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		data := benchSession(size)
		s, err := DecodeSession(HandlerPHP, data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncodeSession(HandlerPHP, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
