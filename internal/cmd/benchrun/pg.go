package main

import (
	"fmt"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// startDurablePG starts a throw-away cluster with PostgreSQL's own durability defaults
// (fsync, synchronous_commit, full_page_writes on): tests run with fsync off, which
// would flatter every PostgreSQL-backed handler here. Clients reach it over its Unix
// socket, or loopback TCP with tcp.
func startDurablePG(tcp bool) (*testenv.PG, error) {
	pg, err := testenv.StartPG("fsync=on", "synchronous_commit=on", "full_page_writes=on")
	if err != nil {
		return nil, err
	}
	if !tcp {
		pg.Host = pg.Dir
	}
	return pg, nil
}

// pgSettings returns the values of the named settings.
func pgSettings(pg *testenv.PG, names ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		v, err := pg.Query("postgres", fmt.Sprintf("SELECT current_setting('%s')", n))
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}
