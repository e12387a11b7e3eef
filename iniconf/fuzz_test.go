package iniconf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary php.ini contents to Load, which must never panic:
// it returns a Config or an error.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"php.ini", "all.ini", "bad/unknown.ini", "bad/main.ini", "conf.d/20-local.ini"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("session_pgsql.secret = \"a\\\"b\" ; x\n[PATH=/x]\nsession_pgsql.table='t;'\n"))
	f.Add([]byte("session_pgsql.db = \"${HOME}\"\nsession_pgsql.max_frame_size = 1g\n"))
	f.Add([]byte("session_pgsql.listen = tcp:[::1]:1\nsession_pgsql.client_timeout=.5\n[]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "php.ini")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, "")
		if (c == nil) == (err == nil) {
			t.Fatalf("Load = %v, %v: want exactly one of a Config and an error", c, err)
		}
		if err == nil && (len(c.DB) == 0 || c.MaxFrameSize < 64<<10 || c.LockTimeout <= 0 || c.ClientTimeout <= 0) {
			t.Fatalf("Load accepted an invalid Config %+v", c)
		}
	})
}
