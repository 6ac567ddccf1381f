package proc

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/storage"
)

// The machine's settings (the listeners, the memory limit) are kept in
// DATA/node.json, not in the database a replica or a backup carries;
// values a database kept before are read until the machine sets its own.
func TestMachineSettingsStayOnTheMachine(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	ctx := context.Background()
	dir := t.TempDir()
	// A database from before: its listener setting stands until set here.
	db, err := storage.Open(ctx, filepath.Join(dir, DatabaseFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutSetting(ctx, "net.http", "127.0.0.1:8123"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	sys, err := Boot(ctx, Config{DataDir: dir, Version: "v-test", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	fs := sys.Kernel.FS
	if v, _ := fs.ReadFile(ctx, "/net/http"); strings.TrimSpace(string(v)) != "127.0.0.1:8123" {
		t.Fatalf("/net/http from the database kept before: %q", v)
	}
	if err := fs.WriteFile(ctx, "/net/http", []byte("127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile(ctx, "/proc/memory_limit", []byte("300M\n"), 0); err != nil {
		t.Fatal(err)
	}
	sys.Close()

	b, err := os.ReadFile(filepath.Join(dir, storage.LocalFile))
	if err != nil || !strings.Contains(string(b), "127.0.0.1:0") || !strings.Contains(string(b), "300M") {
		t.Fatalf("%s: %q %v", storage.LocalFile, b, err)
	}
	db, err = storage.Open(ctx, filepath.Join(dir, DatabaseFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := db.Setting(ctx, "net.http", "")
	v2, _ := db.Setting(ctx, "proc.memory_limit", "")
	db.Close()
	if v1 != "127.0.0.1:8123" || v2 != "" {
		t.Fatalf("the machine's settings reached the database: net.http %q, memory limit %q", v1, v2)
	}
	if sys, err = Boot(ctx, Config{DataDir: dir, Version: "v-test", LogOutput: io.Discard}); err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if v, _ := sys.Kernel.FS.ReadFile(ctx, "/net/http"); strings.TrimSpace(string(v)) != "127.0.0.1:0" {
		t.Fatalf("/net/http after a restart: %q", v)
	}
	if memoryLimit() != 300<<20 {
		t.Fatalf("memory limit %d after a restart", memoryLimit())
	}
}
