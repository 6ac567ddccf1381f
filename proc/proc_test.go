package proc

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

func TestBootStatusAndLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sys, err := Boot(ctx, Config{DataDir: dir, Version: "v-test", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sys.Kernel.FS.ReadFile(ctx, "/proc/status")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("line %q is not 'key value'", line)
		}
		keys[k] = v
	}
	for _, k := range []string{"version", "pid", "started", "uptime_seconds", "goroutines", "heap_bytes", "sys_bytes",
		"data_dir", "db_bytes", "wal_bytes", "open_files", "cache_bytes", "mounts", "socket",
		"memory_limit_bytes", "memory_sheds", "net_http_addr", "net_https_addr", "driver_litestream",
		"upgraded_from", "upgrade", "upgrade_at", "upgrade_error", "rss_bytes", "rss_anon_bytes", "rss_file_bytes"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("/proc/status has no %s", k)
		}
	}
	if rss, _ := strconv.ParseInt(keys["rss_bytes"], 10, 64); rss <= 0 {
		t.Errorf("rss_bytes %q", keys["rss_bytes"])
	}
	if keys["version"] != "v-test" || keys["mounts"] != "-" || keys["data_dir"] != dir || keys["driver_litestream"] != "off" || keys["upgrade"] != "-" {
		t.Errorf("status: %v", keys)
	}
	if v, _ := sys.Kernel.FS.ReadFile(ctx, "/proc/version"); string(v) != "v-test\n" {
		t.Errorf("version %q", v)
	}
	if err := sys.Kernel.FS.WriteFile(ctx, "/proc/version", []byte("x"), 0o644); kernel.KindOf(err) != kernel.Permission {
		t.Errorf("writing /proc/version: %v", err)
	}

	// One kernel per data directory, and the refusal names the holder.
	_, err = Boot(ctx, Config{DataDir: dir, LogOutput: io.Discard})
	if kernel.KindOf(err) != kernel.Busy || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second boot: %v", err)
	}
	if h, ok := ReadHolder(dir); !ok || h.PID == 0 {
		t.Fatalf("holder: %+v %v", h, ok)
	}
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := ReadHolder(dir); ok {
		t.Fatal("lock still held after Close")
	}
	sys, err = Boot(ctx, Config{DataDir: dir, LogOutput: io.Discard})
	if err != nil {
		t.Fatalf("boot after close: %v", err)
	}
	sys.Close()
}
