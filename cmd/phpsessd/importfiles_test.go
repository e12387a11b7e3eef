package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSavePathReadsPHPsForms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want filesDir
	}{
		{"/var/lib/php/sessions", filesDir{path: "/var/lib/php/sessions"}},
		{"2;/var/lib/php/sessions", filesDir{path: "/var/lib/php/sessions", depth: 2}},
		{"1;0640;/var/lib/php/sessions", filesDir{path: "/var/lib/php/sessions", depth: 1}},
		{"1;0640;/odd;path", filesDir{path: "/odd;path", depth: 1}}, // as PHP: the rest is the path
		{"", filesDir{path: os.TempDir()}},
		{"0;", filesDir{path: os.TempDir()}},
	} {
		got, err := parseSavePath(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseSavePath(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"x;/tmp", "-1;/tmp", ";/tmp"} {
		if got, err := parseSavePath(bad); err == nil {
			t.Errorf("parseSavePath(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestValidSessionIDIsPHPsRule(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, "A-Z,0-9": true, strings.Repeat("a", 256): true,
		"": false, strings.Repeat("a", 257): false, "a.b": false, "a b": false, "ä": false,
	} {
		if got := validSessionID(id); got != want {
			t.Errorf("validSessionID(%q) = %v", id, got)
		}
	}
}

func TestFilesFindsSessionsAtTheDepthPHPUses(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"sess_top", "x/sess_xdeep", "x/y/sess_xydeeper", "x/other", "long/sess_ignored", "x/sess_"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := filesDir{path: dir, depth: 1}.files(func(f sessionFile) error {
		got = append(got, f.prefix+" "+f.id+" "+strings.TrimPrefix(f.path, dir))
		return nil
	})
	want := []string{"x  /x/sess_", "x xdeep /x/sess_xdeep"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("files = %q, %v; want %q", got, err, want)
	}
	if err := (filesDir{path: filepath.Join(dir, "missing")}).files(func(sessionFile) error { return nil }); err == nil {
		t.Error("a missing directory is no error")
	}
}
