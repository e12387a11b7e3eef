package pgsess

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess/pgsesstest"
)

// testDecode stands in for the PHP decoder: {"data": "<data>"}, and a failure for data
// that contains "bad".
func testDecode(data []byte) ([]byte, error) {
	if strings.Contains(string(data), "bad") {
		return nil, errors.New("does not decode")
	}
	return json.Marshal(map[string]string{"data": string(data)})
}

func decodedOf(t *testing.T, dsn, id string) *string {
	t.Helper()
	var v *string
	if err := pgsesstest.Conn(t, dsn).QueryRow(context.Background(),
		`SELECT sess_decoded ->> 'data' FROM php_session WHERE sess_id = $1`, id).Scan(&v); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return v
}

func TestDecodedColumnFollowsEveryWriteInEveryLockMethod(t *testing.T) {
	for _, tc := range everyLockMethod {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testenv.SharedPG(t).NewDatabase(t)
			s := openStore(t, dsn, Options{CreateTable: true, Decode: testDecode, Locks: tc.locks, KeepExpired: true})
			ctx := context.Background()
			token := ""
			if s.LocksAcrossDaemons() {
				token = s.NewToken()
				if _, err := s.Lock(ctx, "a", "", "", token); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Write(ctx, Write{ID: "a", Data: []byte("n|i:1;"), Token: token}); err != nil {
				t.Fatal(err)
			}
			if v := decodedOf(t, dsn, "a"); v == nil || *v != "n|i:1;" {
				t.Fatalf("decoded %v after a write", v)
			}
			if err := s.Write(ctx, Write{ID: "a", Data: []byte("bad")}); err != nil {
				t.Fatal(err)
			}
			if v := decodedOf(t, dsn, "a"); v != nil || s.DecodeFailures() != 1 {
				t.Fatalf("decoded %v after data that does not decode, %d failures counted", v, s.DecodeFailures())
			}
			if info, _ := s.Info(ctx, "a"); string(info.Data) != "bad" {
				t.Fatalf("data %q: stored as sent", info.Data)
			}
			s.Write(ctx, Write{ID: "a", Data: []byte("n|i:2;")})
			// Garbage collection keeping the expired row empties both.
			s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
			if _, err := s.GC(ctx); err != nil {
				t.Fatal(err)
			}
			if v := decodedOf(t, dsn, "a"); v != nil {
				t.Fatalf("decoded %v after garbage collection emptied the row", v)
			}
		})
	}
}

func TestDecodedColumnIsAddedWithCreateTableAndNamedWithout(t *testing.T) {
	pg := testenv.SharedPG(t)
	dsn := pg.NewDatabase(t)
	ctx := context.Background()
	plain := openStore(t, dsn, Options{CreateTable: true})
	for _, id := range []string{"a", "b", "c"} {
		plain.Write(ctx, Write{ID: id, Data: []byte("v|s:1:\"" + id + "\";")})
	}
	plain.Write(ctx, Write{ID: "d", Data: []byte("bad")})
	var cols int
	pgsesstest.Conn(t, dsn).QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'php_session'`).Scan(&cols)
	if cols != 14 {
		t.Fatalf("%d columns without the decoded column: the table must stay the extension's 14", cols)
	}

	off := openStore(t, dsn, Options{Decode: testDecode})
	if err := off.Ping(ctx); err == nil || !strings.Contains(err.Error(), "ALTER TABLE") || !strings.Contains(err.Error(), "decoded_column") {
		t.Fatalf("a missing column without create_table: %v", err)
	}

	on := openStore(t, dsn, Options{CreateTable: true, Decode: testDecode})
	var pages int
	filled, failed, err := on.Backfill(ctx, func(int64, int64) { pages++ })
	if err != nil || filled != 3 || failed != 1 || pages == 0 {
		t.Fatalf("backfill: %d filled, %d failed, %d pages, %v", filled, failed, pages, err)
	}
	if v := decodedOf(t, dsn, "b"); v == nil || *v != `v|s:1:"b";` {
		t.Fatalf("decoded %v after backfill", v)
	}
	if filled, _, _ := on.Backfill(ctx, nil); filled != 0 {
		t.Fatalf("a second backfill filled %d", filled)
	}
	var index bool
	pgsesstest.Conn(t, dsn).QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_indexes WHERE indexname = 'php_session_decoded_idx')`).Scan(&index)
	if !index {
		t.Fatal("no index on the decoded column")
	}
	if _, _, err := plain.Backfill(ctx, nil); err == nil {
		t.Fatal("Backfill without the decoded column")
	}
}
