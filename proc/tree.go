package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/ctl"
)

// procTree builds /proc.
func (s *System) procTree() *ctl.Tree {
	t := ctl.New()
	root := t.RootDir()
	root.ReadOnly("version", func(context.Context) ([]byte, error) {
		return []byte(s.Kernel.Version + "\n"), nil
	})
	root.ReadOnly("status", s.status)
	return t
}

// status renders /proc/status: one "key value" per line, keys stable.
func (s *System) status(ctx context.Context) ([]byte, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	size := func(name string) int64 {
		st, err := os.Stat(filepath.Join(s.DataDir, name))
		if err != nil {
			return 0
		}
		return st.Size()
	}
	mounts := s.MountPoints()
	for i, m := range mounts {
		mounts[i] = strings.ReplaceAll(m, " ", `\040`)
	}
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s %v\n", k, v) }
	kv("version", s.Kernel.Version)
	kv("pid", os.Getpid())
	kv("started", s.Kernel.Started.UTC().Format(time.RFC3339))
	kv("uptime_seconds", int64(time.Since(s.Kernel.Started).Seconds()))
	kv("goroutines", runtime.NumGoroutine())
	kv("heap_bytes", ms.HeapAlloc)
	kv("sys_bytes", ms.Sys)
	kv("data_dir", strings.ReplaceAll(s.DataDir, " ", `\040`))
	kv("db_bytes", size(DatabaseFile))
	kv("wal_bytes", size(DatabaseFile+"-wal"))
	kv("open_files", s.fs.OpenFiles())
	kv("cache_bytes", s.fs.CacheBytes())
	if len(mounts) == 0 {
		mounts = []string{"-"}
	}
	kv("mounts", strings.Join(mounts, " "))
	return []byte(b.String()), nil
}
