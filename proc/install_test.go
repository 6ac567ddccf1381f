package proc

import (
	"os"
	"path/filepath"
	"testing"
)

// A failed upgrade puts back both the binary and the one before it (a
// failed upgrade used to delete fazt.prev, and with it the rollback); a
// good one keeps the replaced binary as fazt.prev and nothing else.
func TestInstallBinaryKeepsPrev(t *testing.T) {
	dir := t.TempDir()
	exe, prev, next := filepath.Join(dir, "fazt"), filepath.Join(dir, "fazt"+PrevSuffix), filepath.Join(dir, "new")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, files map[string]string) {
		t.Helper()
		ents, _ := os.ReadDir(dir)
		if len(ents) != len(files) {
			names := []string{}
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("%s: files %v, want %d", what, names, len(files))
		}
		for p, c := range files {
			if b, err := os.ReadFile(p); err != nil || string(b) != c {
				t.Fatalf("%s: %s = %q %v, want %q", what, filepath.Base(p), b, err, c)
			}
		}
	}
	write(exe, "current")
	write(prev, "before")
	write(next, "next")

	undo, _, err := installBinary(exe, next)
	if err != nil {
		t.Fatal(err)
	}
	want("installed", map[string]string{exe: "next", prev: "current", next: "next", prev + ".aside": "before"})
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	want("undone", map[string]string{exe: "current", prev: "before", next: "next"})

	_, keep, err := installBinary(exe, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := keep(); err != nil {
		t.Fatal(err)
	}
	want("kept", map[string]string{exe: "next", prev: "current", next: "next"})

	// A rollback installs fazt.prev itself; undone, all is as it was.
	undo, _, err = installBinary(exe, prev)
	if err != nil {
		t.Fatal(err)
	}
	want("rolled back", map[string]string{exe: "current", prev: "next", next: "next", prev + ".aside": "current"})
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	want("rollback undone", map[string]string{exe: "next", prev: "current", next: "next"})
}
