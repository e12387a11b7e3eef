package handler_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/handler"
	"github.com/phpsessd/phpsessd/internal/testenv"
	"github.com/phpsessd/phpsessd/pgsess"
	"github.com/rs/zerolog"
)

// BenchmarkSessionCycle is one PHP request's session as the PHP client makes it —
// HELLO and READ in one write, then WRITE — through a server on a Unix socket and a
// store with advisory locks on a real database, one client at a time: its allocs/op
// are the daemon's (and the Go client's) per request.
func BenchmarkSessionCycle(b *testing.B) {
	store, err := pgsess.Open(pgsess.Options{DSN: testenv.SharedPG(b).NewDatabase(b), CreateTable: true,
		Locks: pgsess.Advisory{}, MaxLifetime: time.Hour, SynchronousCommit: true, PreparedStatements: true, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	_, addr := serve(b, handler.Config{Version: "bench", Locking: true, Logger: zerolog.Nop()}, store)
	nc, err := net.Dial("unix", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := handler.NewClient(nc)
	data := "payload|" + fmt.Sprintf("s:1024:%q;", strings.Repeat("x", 1024))
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = fmt.Sprintf("benchcycle%016d", i)
	}
	cycle := func(id string) {
		for _, send := range []func() (uint32, error){
			func() (uint32, error) { return c.Send(handler.OpHello, "1", "", "PHPSESSID", "192.0.2.7") },
			func() (uint32, error) { return c.Send(handler.OpRead, id) },
		} {
			if _, err := send(); err != nil {
				b.Fatal(err)
			}
		}
		for range 2 {
			if rep, err := c.Recv(); err != nil || rep.Status != handler.StatusOK {
				b.Fatalf("HELLO/READ: %+v %v", rep, err)
			}
		}
		if _, err := c.Send(handler.OpWrite, id, data, "", "0", "0", "0", ""); err != nil {
			b.Fatal(err)
		}
		if rep, err := c.Recv(); err != nil || rep.Status != handler.StatusOK {
			b.Fatalf("WRITE: %+v %v", rep, err)
		}
	}
	for _, id := range ids {
		cycle(id)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		cycle(ids[i%len(ids)])
	}
}
