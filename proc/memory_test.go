package proc

import (
	"context"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{"auto": 0, "off": -1, "512M": 512 << 20, "512MiB": 512 << 20, "2G": 2 << 30,
		"1g": 1 << 30, "65536K": 64 << 20, "104857600": 100 << 20} {
		if got, err := parseMemoryLimit(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "12X", "-5M", "1M", "0", "99999999999G"} {
		if _, err := parseMemoryLimit(bad); kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// /proc/memory_limit sets the runtime's soft limit and keeps it in the
// database; past 80% of it, the caches go and the data stays.
func TestMemoryLimitAndShedding(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	ctx := context.Background()
	dir := t.TempDir()
	sys, err := Boot(ctx, Config{DataDir: dir, Version: "v-test", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	fs := sys.Kernel.FS
	if v, _ := fs.ReadFile(ctx, "/proc/memory_limit"); string(v) != "auto\n" {
		t.Fatalf("default: %q", v)
	}
	if auto := memoryLimit(); auto < minMemoryLimit {
		t.Fatalf("auto limit %d", auto)
	}
	if err := fs.WriteFile(ctx, "/proc/memory_limit", []byte("300M\n"), 0); err != nil {
		t.Fatal(err)
	}
	if memoryLimit() != 300<<20 {
		t.Fatalf("limit %d after 300M", memoryLimit())
	}
	if err := fs.WriteFile(ctx, "/proc/memory_limit", []byte("3K\n"), 0); kernel.KindOf(err) != kernel.Invalid {
		t.Fatalf("3K: %v", err)
	}
	if memoryLimit() != 300<<20 {
		t.Fatal("a refused value changed the limit")
	}
	if b, _ := fs.ReadFile(ctx, "/proc/err"); !strings.Contains(string(b), "below 64M") {
		t.Fatalf("/proc/err: %q", b)
	}
	// Kept across a restart.
	sys.Close()
	debug.SetMemoryLimit(1 << 40)
	if sys, err = Boot(ctx, Config{DataDir: dir, Version: "v-test", LogOutput: io.Discard}); err != nil {
		t.Fatal(err)
	}
	fs = sys.Kernel.FS
	if memoryLimit() != 300<<20 {
		t.Fatalf("limit %d after a restart", memoryLimit())
	}

	// Fill the chunk cache by reading a file, then relieve under pressure.
	data := strings.Repeat("cached content ", 100000)
	if err := fs.WriteFile(ctx, "/fs/big", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	sys.Commit(ctx)
	if b, err := fs.ReadFile(ctx, "/fs/big"); err != nil || string(b) != data {
		t.Fatal("read", err)
	}
	if sys.fs.CacheBytes() == 0 {
		t.Fatal("nothing cached")
	}
	if sys.relieve(70, 100) {
		t.Fatal("shed below 80%")
	}
	if !sys.relieve(81, 100) || sys.fs.CacheBytes() != 0 || sys.sheds.Load() != 1 {
		t.Fatalf("shed: cache %d, sheds %d", sys.fs.CacheBytes(), sys.sheds.Load())
	}
	if b, err := fs.ReadFile(ctx, "/fs/big"); err != nil || string(b) != data {
		t.Fatal("the data after shedding", err)
	}
	if st, _ := fs.ReadFile(ctx, "/proc/status"); !strings.Contains(string(st), "memory_sheds 1\n") || !strings.Contains(string(st), "memory_limit_bytes 314572800\n") {
		t.Fatalf("status:\n%s", st)
	}
	if err := fs.WriteFile(ctx, "/proc/memory_limit", []byte("off\n"), 0); err != nil || memoryLimit() != -1 {
		t.Fatalf("off: %v %d", err, memoryLimit())
	}
}
