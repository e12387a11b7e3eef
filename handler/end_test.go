package handler

import (
	"testing"

	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/phpsessd/phpsessd/phpserialize"
)

// FuzzParseSessionFilter: END_SESSIONS's filter parser never panics, and what it
// accepts selects live sessions only and always by something (no empty filter).
func FuzzParseSessionFilter(f *testing.F) {
	for _, seed := range []string{`{"path":"user.id","value":42}`, `{"all":true}`, `{"id_prefix":"ab","addr":"::1"}`,
		`{"path":"a.b","value":"x"}`, `{}`, `{"path":"a..b","value":1}`, `[`, `{"value":null,"path":"p"}`} {
		f.Add([]byte(seed))
	}
	sess := &pgsess.Session{Data: []byte(`user|a:1:{s:2:"id";i:42;}`)}
	f.Fuzz(func(t *testing.T, text []byte) {
		sf, err := ParseSessionFilter(text)
		if err != nil {
			return
		}
		if sf.Rows.State != pgsess.Live {
			t.Fatalf("%q selects state %d", text, sf.Rows.State)
		}
		sf.Matches(phpserialize.HandlerPHP, sess) // must not panic
	})
}
