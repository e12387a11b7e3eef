package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/phpsessd/phpsessd/internal/testenv"
)

// TestMakeSaysWhatToDoWhenGoIsTooOld runs make's Go check with a go command that
// reports Debian 12's Go 1.19: it fails, naming the Go release go.mod needs and where to
// get it; with the Go running this test it passes.
func TestMakeSaysWhatToDoWhenGoIsTooOld(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	old := filepath.Join(t.TempDir(), "go")
	os.WriteFile(old, []byte("#!/bin/sh\necho go1.19.8\n"), 0o755)
	out, err := exec.Command("make", "-s", "-C", root, "check-go", "GO="+old).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Go 1.19.8 is too old") || !strings.Contains(string(out), "go.dev/dl") {
		t.Fatalf("make check-go with Go 1.19: %v\n%s", err, out)
	}
	if out, err := exec.Command("make", "-s", "-C", root, "check-go").CombinedOutput(); err != nil {
		t.Fatalf("make check-go with this Go: %v\n%s", err, out)
	}
}

// TestSystemdUnitsUserIsCreatedByContrib checks that what contrib/ ships creates what
// the unit needs: its User= by the sysusers.d file, its runtime directory by
// RuntimeDirectory= (systemd makes it at each start, so no tmpfiles.d file is needed).
func TestSystemdUnitsUserIsCreatedByContrib(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "contrib", "phpsessd.service"))
	if err != nil {
		t.Fatal(err)
	}
	user := regexp.MustCompile(`(?m)^User=(\S+)$`).FindSubmatch(unit)
	if user == nil || !regexp.MustCompile(`(?m)^RuntimeDirectory=phpsessd$`).Match(unit) {
		t.Fatalf("the unit lacks User= or RuntimeDirectory=phpsessd:\n%s", unit)
	}
	sysusers, err := os.ReadFile(filepath.Join(root, "contrib", "sysusers.d", "phpsessd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^u ` + regexp.QuoteMeta(string(user[1])) + ` `).Match(sysusers) {
		t.Fatalf("contrib/sysusers.d/phpsessd.conf does not create the unit's user %s:\n%s", user[1], sysusers)
	}
}
