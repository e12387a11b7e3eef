package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// fileState is what import-files must leave as it is: a file's bytes and mtime.
type fileState struct {
	data  string
	mtime time.Time
}

func snapshot(t *testing.T, dirs ...string) map[string]fileState {
	t.Helper()
	files := map[string]fileState{}
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			files[path] = fileState{mustRead(t, path), info.ModTime()}
			return nil
		})
	}
	return files
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storedAs reports whether a sess_data column holds data, as plain text or (binary
// data) in the store's base64 form.
func storedAs(column, data string) bool {
	return column == data || column == "phpsessd:base64:"+base64.StdEncoding.EncodeToString([]byte(data))
}

func mtime(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime().Unix()
}

func TestImportFilesMovesPHPsFilesSessionsIntoTheTable(t *testing.T) {
	testenv.RequirePHP(t)
	s := newSite(t, "")

	// Depth 1 ("1;DIR"), written by PHP-FPM's own files handler; PHP needs the
	// subdirectories to exist.
	dir1 := t.TempDir()
	for _, c := range "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-" {
		if err := os.Mkdir(filepath.Join(dir1, string(c)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, err := testenv.StartFPM(testenv.FPMOptions{Workers: 1, Prepend: "none",
		INI: "session.save_handler = files\nsession.save_path = \"1;" + dir1 + "\"\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(files.Stop)
	filesWeb := files.Web(t, nil)
	withObject, counter := filesWeb.Browser(), filesWeb.Browser()
	if p := s.mustGet(withObject, "do=binary&set=1"); p.str("raw_hex") != "000180ff20656e64" {
		t.Fatalf("files handler: %v", p)
	}
	s.mustGet(counter, "do=count")
	if p := s.mustGet(counter, "do=count"); p.int("n") != 2 {
		t.Fatalf("files handler: %v", p)
	}
	objectID, counterID := withObject.Cookie("PHPSESSID"), counter.Cookie("PHPSESSID")
	objectFile := filepath.Join(dir1, objectID[:1], "sess_"+objectID)
	counterFile := filepath.Join(dir1, counterID[:1], "sess_"+counterID)
	brokenFile := filepath.Join(dir1, "b", "sess_broken1")
	misplacedFile := filepath.Join(dir1, "a", "sess_bmisplaced")
	for path, data := range map[string]string{brokenFile: "n|i:1", misplacedFile: "n|i:1;"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Depth 0, written by the PHP CLI's files handler.
	dir0 := t.TempDir()
	script := `foreach (['cli0live' => ['user' => ['id' => 42, 'name' => 'Ann']], 'cli0expired' => ['user' => ['id' => 7]]] as $id => $vars) {
  session_id($id); session_start(); $_SESSION = $vars; session_write_close();
}`
	if out, err := exec.Command("php", "-n", "-d", "session.save_handler=files", "-d", "session.save_path="+dir0,
		"-d", "session.use_cookies=0", "-r", script).CombinedOutput(); err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	old := time.Now().Add(-2 * 1440 * time.Second) // older than session.gc_maxlifetime
	if err := os.Chtimes(filepath.Join(dir0, "sess_cli0expired"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir0, "sess_bad.id"), []byte("n|i:1;"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir0, dir1)

	// Without DIR, session.save_path of php.ini.
	ini := filepath.Join(t.TempDir(), "php.ini")
	if err := os.WriteFile(ini, []byte(mustRead(t, s.daemon.INI)+"session.save_path = \"1;"+dir1+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := testenv.Run(t, "import-files", "-ini", ini, "-log-format", "json")
	t.Logf("phpsessd import-files (depth 1):\n%s", out)
	if code != 1 || !strings.Contains(out, "imported 2, already present 0, expired 0, undecodable 1, invalid id 1, unreadable 0") ||
		!strings.Contains(out, "undecodable: "+brokenFile+": ") || !strings.Contains(out, "invalid id: "+misplacedFile+": ") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = testenv.Run(t, "import-files", "-ini", s.daemon.INI, "-log-format", "json", dir0)
	t.Logf("phpsessd import-files DIR (depth 0):\n%s", out)
	if code != 1 || !strings.Contains(out, "imported 1, already present 0, expired 1, undecodable 0, invalid id 1, unreadable 0") ||
		!strings.Contains(out, "invalid id: "+filepath.Join(dir0, "sess_bad.id")+": ") {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	// The rows keep the files' times; skipped files made none.
	for id, path := range map[string]string{objectID: objectFile, counterID: counterFile, "cli0live": filepath.Join(dir0, "sess_cli0live")} {
		r, ok := s.row(id)
		if m := mtime(t, path); !ok || r.Created != m || r.Modified != m || r.Expire != m+1440 || r.Name != "PHPSESSID" || !storedAs(r.Data, mustRead(t, path)) {
			t.Errorf("row of %s: %+v (found %v); file modified at %d", id, r, ok, m)
		}
	}
	for _, id := range []string{"cli0expired", "broken1", "bmisplaced", "bad.id"} {
		if _, ok := s.row(id); ok {
			t.Errorf("%s was imported", id)
		}
	}

	// PHP-FPM with the phpsessd client reads the sessions and carries on with them.
	b := s.web.Browser()
	b.SetCookie("PHPSESSID", objectID)
	if p := s.mustGet(b, "do=binary"); p.str("raw_hex") != "000180ff20656e64" || p.str("secret_hex") != "00fffe" {
		t.Errorf("imported object session: %v", p)
	}
	b = s.web.Browser()
	b.SetCookie("PHPSESSID", counterID)
	if p := s.mustGet(b, "do=count"); p.int("n") != 3 {
		t.Errorf("imported counter: %v", p)
	}
	b = s.web.Browser()
	b.SetCookie("PHPSESSID", "cli0live")
	if p := s.mustGet(b, "do=read"); !strings.Contains(mustJSON(t, p["session"]), `"user":{"id":42,"name":"Ann"}`) {
		t.Errorf("imported CLI session: %v", p)
	}

	// Again: nothing new, and the table's newer state wins over the file.
	code, out = testenv.Run(t, "import-files", "-ini", ini, "-log-format", "json")
	if code != 1 || !strings.Contains(out, "imported 0, already present 2, expired 0, undecodable 1, invalid id 1") {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
	code, out = testenv.Run(t, "import-files", "-ini", s.daemon.INI, "-log-format", "json", dir0)
	if code != 1 || !strings.Contains(out, "imported 0, already present 1, expired 1, undecodable 0, invalid id 1") {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
	if r, _ := s.row(counterID); r.Data != "n|i:3;" {
		t.Errorf("the second import changed the row: %+v", r)
	}

	// Every file is still there, unchanged.
	after := snapshot(t, dir0, dir1)
	if len(after) != len(before) {
		t.Errorf("%d files before, %d after", len(before), len(after))
	}
	for path, st := range before {
		if got, ok := after[path]; !ok || got.data != st.data || !got.mtime.Equal(st.mtime) {
			t.Errorf("%s changed: %+v, was %+v", path, got, st)
		}
	}
}
