package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// With session_pgsql.decoded_column = on, plain SQL finds a session by what PHP put in
// it; phpsessd backfill fills rows that lack the column's value and names the count of
// those whose data does not decode.
func TestDecodedColumnAnswersPlainSQLAndBackfillFillsOlderRows(t *testing.T) {
	port, _ := testenv.FreePort()
	s := newSite(t, fmt.Sprintf("session_pgsql.decoded_column = on\nsession_pgsql.metrics_listen = 127.0.0.1:%d\n", port))
	b := s.web.Browser()
	s.mustGet(b, "do=login&user=42")
	other := s.web.Browser()
	s.mustGet(other, "do=login&user=7")
	id := b.Cookie("PHPSESSID")

	byUser := func() []string {
		t.Helper()
		rows, err := s.db.Query(context.Background(),
			`SELECT sess_id FROM php_session WHERE sess_decoded -> 'user' ->> 'id' = '42'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}
	if ids := byUser(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("sessions of user 42 by SQL: %v, want [%s]", ids, id)
	}

	// Data that does not decode is stored as sent, without a decoded value, and counted.
	s.mustGet(s.web.Browser(), "do=rawwrite&id=rawsession&data=not%7Cserialized")
	if r, _ := s.row("rawsession"); r.Data != "not|serialized" {
		t.Fatalf("undecodable data stored as %q", r.Data)
	}
	var decoded *string
	s.db.QueryRow(context.Background(), `SELECT sess_decoded::text FROM php_session WHERE sess_id = 'rawsession'`).Scan(&decoded)
	if decoded != nil {
		t.Fatalf("undecodable data has a decoded value %q", *decoded)
	}
	var metrics string
	eventually(t, "the decode failure in /metrics", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		return strings.Contains(metrics, "phpsessd_decode_failures_total 1")
	})

	// Rows from before the column: emptied by hand, and one that does not decode.
	s.exec(`UPDATE php_session SET sess_decoded = NULL`)
	s.exec(`INSERT INTO php_session (sess_id, sess_data, sess_expire) VALUES ('garbage', 'not|serialized', 2000000000)`)
	code, out := testenv.Run(t, "backfill", "-ini", s.daemon.INI, "-log-format", "json")
	t.Logf("phpsessd backfill:\n%s", out)
	if code != 0 || !strings.Contains(out, `"filled":2`) || !strings.Contains(out, `"undecodable":2`) {
		t.Fatalf("backfill: exit %d\n%s", code, out)
	}
	if ids := byUser(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("after backfill, sessions of user 42 by SQL: %v", ids)
	}
}
