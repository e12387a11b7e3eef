package pgsess

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

func TestListPagesThroughTheSessionsAFilterSelects(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true, MaxLifetime: 100 * time.Second})
	ctx := context.Background()
	s.now = func() time.Time { return time.Unix(1_000_000, 0) }
	for i := range 5 { // expire at 1_000_100
		s.Write(ctx, Write{ID: fmt.Sprintf("old%d", i), Data: []byte("n|i:1;"), Addr: "192.0.2.1"})
	}
	s.now = func() time.Time { return time.Unix(1_000_150, 0) }
	for i := range 7 { // expire at 1_000_250
		addr := "192.0.2.2"
		if i == 3 {
			addr = "192.0.2.1"
		}
		s.Write(ctx, Write{ID: fmt.Sprintf("new%d", i), Data: []byte("n|i:2;"), Addr: addr})
	}
	all := func(f Filter, page int) []string {
		var ids []string
		after := ""
		for {
			got, err := s.List(ctx, f, after, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, sess := range got {
				ids = append(ids, sess.ID)
				if len(sess.Data) == 0 {
					t.Fatalf("%s listed without its data", sess.ID)
				}
			}
			if len(got) < page {
				return ids
			}
			after = got[len(got)-1].ID
		}
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "[new0 new1 new2 new3 new4 new5 new6]"},
		{Filter{State: Expired}, "[old0 old1 old2 old3 old4]"},
		{Filter{State: AnyState, IDPrefix: "old"}, "[old0 old1 old2 old3 old4]"},
		{Filter{State: AnyState, Addr: "192.0.2.1"}, "[new3 old0 old1 old2 old3 old4]"},
		{Filter{IDPrefix: "new", Addr: "192.0.2.2"}, "[new0 new1 new2 new4 new5 new6]"},
		{Filter{IDPrefix: "none"}, "[]"},
	} {
		for _, page := range []int{1, 2, 100} {
			if got := fmt.Sprint(all(tc.f, page)); got != tc.want {
				t.Errorf("%+v, pages of %d: %s, want %s", tc.f, page, got, tc.want)
			}
		}
	}
	if _, err := s.List(ctx, Filter{}, "", 0); err == nil {
		t.Error("a limit of 0 was accepted")
	}
}
