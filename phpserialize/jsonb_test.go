package phpserialize

import (
	"os"
	"strings"
	"testing"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestSessionDataJSONInJSONB stores the data mapping of every dataCase in a jsonb
// column of a real PostgreSQL and reaches values by their natural paths with -> and ->>.
func TestSessionDataJSONInJSONB(t *testing.T) {
	pg := testenv.SharedPG(t)
	db := testenv.DBName(pg.NewDatabase(t))
	inputs := dataCaseInputs(t)
	var insert strings.Builder
	insert.WriteString("CREATE TABLE s (name text PRIMARY KEY, decoded jsonb NOT NULL);\nINSERT INTO s VALUES ")
	for i, c := range dataCases {
		s, err := DecodeSession(HandlerPHP, inputs[c.name])
		if err != nil {
			t.Fatal(err)
		}
		out, err := SessionDataJSON(HandlerPHP, s)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "$j$") {
			t.Fatalf("%s: %s holds the quote $j$", c.name, out)
		}
		if i > 0 {
			insert.WriteString(",\n")
		}
		insert.WriteString("('" + c.name + "', $j$" + string(out) + "$j$)")
	}
	pg.Exec(t, db, insert.String())

	for _, q := range []struct{ sql, want string }{
		// An array and an object with a public property, by the same path.
		{`SELECT string_agg(name, ',' ORDER BY name) FROM s WHERE decoded -> 'user' ->> 'id' = '42'`, "array,object"},
		{`SELECT decoded -> 'user' ->> 'name' FROM s WHERE name = 'array'`, "Ann"},
		{`SELECT decoded -> 'user' ->> '@class' FROM s WHERE name = 'object'`, "User"},
		{`SELECT decoded -> 'user' -> '@protected' ->> 'token' FROM s WHERE name = 'object'`, "t"},
		{`SELECT decoded -> 'user' -> '@private' -> 'User' ->> 'hash' FROM s WHERE name = 'object'`, "h"},
		// A child's public id beside its parent's private one.
		{`SELECT (decoded -> 'c' ->> 'id') || ' ' || (decoded #>> '{c,@private,Base,id}') FROM s WHERE name = 'private of a parent'`, "2 1"},
		{`SELECT decoded -> 'cart' ->> 1 FROM s WHERE name = 'list'`, "pear"},
		{`SELECT decoded -> 'seen' ->> '7' FROM s WHERE name = 'int keys'`, "a"},
		{`SELECT decoded -> '@@k' ->> '@@entries' FROM s WHERE name = 'at sign keys'`, "1"},
		{`SELECT decoded -> 'p' ->> '1' FROM s WHERE name = '__serialize int keys'`, "2"},
		{`SELECT decoded -> 'suit' ->> '@case' FROM s WHERE name = 'enum'`, "Hearts"},
		{`SELECT encode(decode(decoded -> 'bin' ->> '@base64', 'base64'), 'hex') FROM s WHERE name = 'strings'`, "fffe"},
		{`SELECT decoded ->> 'utf8' = E'h\u00e9llo\n' FROM s WHERE name = 'strings'`, "t"},
		// Floats: 1.0 stays, -0.0 loses its sign in numeric, INF is a string.
		{`SELECT concat_ws(' ', decoded -> 'f' ->> 0, decoded -> 'f' ->> 2, decoded -> 'f' -> 3 ->> '@float', (decoded -> 'f' ->> 6)::numeric = 1e25) FROM s WHERE name = 'floats'`, "1.0 0.0 INF t"},
		{`SELECT (decoded ->> 'max')::bigint = 9223372036854775807 AND (decoded ->> 'min')::bigint = -9223372036854775808 FROM s WHERE name = 'big ints'`, "t"},
		{`SELECT decoded -> 'b' ->> '@target' FROM s WHERE name = 'reference'`, "$_SESSION['a']"},
		{`SELECT decoded -> 'gone' ->> '@undefined' FROM s WHERE name = 'undefined'`, "true"},
		// Duplicates keep both values.
		{`SELECT string_agg(e ->> 'value', ',') FROM s, jsonb_array_elements(decoded -> '@entries') e WHERE name = 'duplicate names'`, "1,2"},
	} {
		got, err := pg.Query(db, q.sql)
		if err != nil {
			t.Error(err)
			continue
		}
		if got != q.want {
			t.Errorf("%s\n got %q\nwant %q", q.sql, got, q.want)
		}
	}
}
