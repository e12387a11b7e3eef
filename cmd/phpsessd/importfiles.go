package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phpsessd/phpsessd/iniconf"
	"github.com/phpsessd/phpsessd/phpserialize"
	"github.com/rs/zerolog"
)

// importer is the store as phpsessd import-files writes it.
type importer interface {
	// Ready waits until the database answers and the table is usable, retrying until
	// ctx ends.
	Ready(ctx context.Context) error
	// Import stores a session with the times given (Unix seconds) unless a live
	// session has its id, and reports whether it wrote it.
	Import(ctx context.Context, id, name string, data []byte, modified, expire int64) (bool, error)
}

// filesDir is where PHP's files handler keeps sessions: sess_<id> files in path, or
// with depth > 0 in subdirectories named by the id's first depth characters
// (path/a/b/sess_ab... for depth 2).
type filesDir struct {
	path  string
	depth int
}

// parseSavePath reads session.save_path the way PHP's files handler does
// (ext/session/mod_files.c): "/path", "N;/path" or "N;MODE;/path", where N is the
// depth and MODE the octal mode of new files, which reading does not need; anything
// after the second ';' belongs to the path. An empty path is the system's temporary
// directory, as for PHP. Unlike PHP, which reads a malformed N as 0, it refuses one.
func parseSavePath(savePath string) (filesDir, error) {
	parts := strings.SplitN(savePath, ";", 3)
	d := filesDir{path: parts[len(parts)-1]}
	if len(parts) > 1 {
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 0 {
			return filesDir{}, fmt.Errorf("save path %q: the depth before the first ';' is not a number from 0 up", savePath)
		}
		d.depth = n
	}
	if d.path == "" {
		d.path = os.TempDir()
	}
	return d, nil
}

// validSessionID reports whether PHP accepts id as a session id (php_session_valid_key,
// the rule the protocol server applies to ids too): 1 to 256 bytes of a-z A-Z 0-9 , -.
func validSessionID(id string) bool {
	if len(id) == 0 || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ',' || c == '-') {
			return false
		}
	}
	return true
}

// sessionFile is one sess_* file found under a filesDir, or a subdirectory that could
// not be listed (err set, id empty).
type sessionFile struct {
	path string
	id   string
	// prefix is the id characters its subdirectories spell.
	prefix string
	entry  fs.DirEntry
	err    error
}

// files calls visit for every sess_* entry at the depth PHP looks at, in name order,
// and for every subdirectory that cannot be read. Other entries are passed over. It
// fails only when d.path itself cannot be read.
func (d filesDir) files(visit func(sessionFile) error) error {
	return d.walk(d.path, "", visit)
}

func (d filesDir) walk(dir, prefix string, visit func(sessionFile) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if prefix == "" {
			return err
		}
		return visit(sessionFile{path: dir, err: err})
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if len(prefix) < d.depth {
			if e.IsDir() && len(e.Name()) == 1 {
				if err := d.walk(p, prefix+e.Name(), visit); err != nil {
					return err
				}
			}
			continue
		}
		if id, ok := strings.CutPrefix(e.Name(), "sess_"); ok {
			if err := visit(sessionFile{path: p, id: id, prefix: prefix, entry: e}); err != nil {
				return err
			}
		}
	}
	return nil
}

// readSessionFile returns the file's data and modification time, read under a shared
// lock, so that a PHP request writing the file (under an exclusive one) finishes
// first. Neither the file nor its times change.
func readSessionFile(path string) ([]byte, time.Time, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		return nil, time.Time{}, err
	}
	info, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !info.Mode().IsRegular() {
		return nil, time.Time{}, errors.New("not a regular file")
	}
	data, err := io.ReadAll(f)
	return data, info.ModTime(), err
}

// importCounts is what phpsessd import-files reports.
type importCounts struct {
	imported, present, expired, undecodable, invalidID, unreadable int
}

func (c importCounts) String() string {
	return fmt.Sprintf("imported %d, already present %d, expired %d, undecodable %d, invalid id %d, unreadable %d",
		c.imported, c.present, c.expired, c.undecodable, c.invalidID, c.unreadable)
}

// runImportFiles copies the sessions of PHP's files handler in dir (session.save_path
// syntax; session.save_path of php.ini when empty) into the store: each live sess_<id>
// file whose id PHP accepts and whose data decodes with session.serialize_handler
// becomes a row modified at the file's modification time and expiring
// session.gc_maxlifetime later, unless the table has a live session with that id.
// Files that expired (PHP's rule: older than gc_maxlifetime) are counted; files it
// cannot import are named on out with the reason. No file is changed or removed. The
// exit code is 0 when every file was imported, present or expired, 1 when a file was
// named or the store failed, 2 for a bad save path.
func runImportFiles(ctx context.Context, cfg *iniconf.Config, store importer, dir string, out io.Writer, log zerolog.Logger) int {
	if dir == "" {
		dir = cfg.SavePath
	}
	d, err := parseSavePath(dir)
	if err != nil {
		fmt.Fprintf(out, "phpsessd import-files: %v\n", err)
		return 2
	}
	ready, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := store.Ready(ready); err != nil {
		log.Error().Err(err).Msg("database not reachable")
		return 1
	}
	lifetime := int64(cfg.GCMaxLifetime)
	now := time.Now().Unix()
	var c importCounts
	name := func(what, path string, reason any) {
		fmt.Fprintf(out, "%s: %s: %v\n", what, path, reason)
	}
	err = d.files(func(f sessionFile) error {
		switch {
		case f.err != nil:
			c.unreadable++
			name("unreadable", f.path, f.err)
			return nil
		case !validSessionID(f.id):
			c.invalidID++
			name("invalid id", f.path, "not a session id PHP accepts (1 to 256 characters of a-z A-Z 0-9 , -)")
			return nil
		case len(f.id) <= d.depth || !strings.HasPrefix(f.id, f.prefix):
			c.invalidID++
			name("invalid id", f.path, "PHP looks for this id elsewhere: with depth "+strconv.Itoa(d.depth)+", under the directories its first characters name")
			return nil
		}
		data, mtime, err := readSessionFile(f.path)
		if err != nil {
			c.unreadable++
			name("unreadable", f.path, err)
			return nil
		}
		modified := mtime.Unix()
		if now-modified > lifetime {
			c.expired++
			return nil
		}
		if _, err := phpserialize.DecodeSession(cfg.SerializeHandler, data); err != nil {
			c.undecodable++
			name("undecodable", f.path, err)
			return nil
		}
		wrote, err := store.Import(ctx, f.id, cfg.SessionName, data, modified, modified+lifetime)
		if err != nil {
			return err
		}
		if wrote {
			c.imported++
		} else {
			c.present++
		}
		return nil
	})
	fmt.Fprintf(out, "%s (from %s, depth %d; the files stay as they are)\n", c, d.path, d.depth)
	if err != nil {
		log.Error().Err(err).Msg("import stopped")
		return 1
	}
	if c.undecodable+c.invalidID+c.unreadable > 0 {
		return 1
	}
	return 0
}
