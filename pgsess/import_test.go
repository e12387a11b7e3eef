package pgsess

import (
	"context"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

func TestImportKeepsTheTimesAndNeverOverwritesALiveSession(t *testing.T) {
	dsn := testenv.SharedPG(t).NewDatabase(t)
	s := openStore(t, dsn, Options{CreateTable: true, KeepExpired: true, MaxLifetime: 100 * time.Second})
	ctx := context.Background()
	s.now = func() time.Time { return time.Unix(1_000_000, 0) }

	// A new id is written with the given times, binary data included.
	if wrote, err := s.Import(ctx, "a", "SID", []byte("x|s:1:\"\x00\";"), 999_900, 1_000_400); err != nil || !wrote {
		t.Fatalf("Import = %v, %v; want true", wrote, err)
	}
	got, err := s.Info(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != "x|s:1:\"\x00\";" || got.Name != "SID" || got.Created != 999_900 || got.Modified != 999_900 || got.Expire != 1_000_400 || got.Counter != 1 {
		t.Errorf("after Import: %+v", got)
	}
	// The row wins over a second import.
	if wrote, err := s.Import(ctx, "a", "SID", []byte("x|i:2;"), 999_990, 1_000_500); err != nil || wrote {
		t.Fatalf("second Import = %v, %v; want false", wrote, err)
	}
	if got, _ := s.Info(ctx, "a"); string(got.Data) != "x|s:1:\"\x00\";" || got.Modified != 999_900 {
		t.Errorf("the second Import changed the row: %+v", got)
	}
	// An expired row is no session: the import replaces it.
	if err := s.Write(ctx, Write{ID: "b", Name: "SID", Data: []byte("old|i:1;"), Addr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Unix(1_000_200, 0) }
	if wrote, err := s.Import(ctx, "b", "SID", []byte("new|i:1;"), 1_000_150, 1_000_250); err != nil || !wrote {
		t.Fatalf("Import over an expired row = %v, %v; want true", wrote, err)
	}
	if got, _ := s.Info(ctx, "b"); string(got.Data) != "new|i:1;" || got.Created != 1_000_150 || got.AddrCreated != "" || got.Counter != 1 {
		t.Errorf("after Import over an expired row: %+v", got)
	}
}
