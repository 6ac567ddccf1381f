package proc

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// memoryLimitSetting keeps /proc/memory_limit.
const memoryLimitSetting = "proc.memory_limit"

// minMemoryLimit is the lowest limit accepted: below it the collector
// would run all the time.
const minMemoryLimit = 64 << 20

// envMemoryLimit is GOMEMLIMIT's limit when the environment sets it (the
// runtime applied it before main), else -1.
var envMemoryLimit = func() int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		return -1
	}
	return debug.SetMemoryLimit(-1)
}()

// parseMemoryLimit reads "auto", "off" or a size in bytes with an optional
// K, M or G (powers of 1024; "MiB" and "MB" mean the same here).
func parseMemoryLimit(v string) (int64, error) {
	v = strings.TrimSpace(v)
	switch v {
	case "auto":
		return 0, nil
	case "off":
		return -1, nil
	}
	num := strings.TrimRight(strings.ToUpper(v), "IB")
	mult := int64(1)
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'K':
			mult, num = 1<<10, num[:n-1]
		case 'M':
			mult, num = 1<<20, num[:n-1]
		case 'G':
			mult, num = 1<<30, num[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, kernel.E(kernel.Invalid, fmt.Sprintf("bad memory limit %q: auto, off, or a size such as 512M or 2G", v))
	}
	if n*mult < minMemoryLimit {
		return 0, kernel.E(kernel.Invalid, fmt.Sprintf("memory limit %q is below 64M", v))
	}
	return n * mult, nil
}

// autoMemoryLimit is GOMEMLIMIT if set, else a quarter of the machine's
// memory (256 MiB on a 1 GB machine), at least minMemoryLimit.
func autoMemoryLimit() int64 {
	if envMemoryLimit > 0 {
		return envMemoryLimit
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 512 << 20
	}
	return max(int64(si.Totalram)*int64(si.Unit)/4, minMemoryLimit)
}

// applyMemoryLimit sets the runtime's soft memory limit from the setting:
// the collector works harder as the heap nears it, and past 80% of it the
// caches are shed (watchMemory).
func (s *System) applyMemoryLimit(ctx context.Context) error {
	v, err := s.local.Setting(ctx, memoryLimitSetting, "auto")
	if err != nil {
		return err
	}
	n, err := parseMemoryLimit(v)
	if err != nil {
		s.Kernel.Log.Warn("ignoring the memory limit setting", "err", err)
		n = 0
	}
	switch {
	case n == 0:
		n = autoMemoryLimit()
	case n < 0:
		n = 1<<63 - 1 // math.MaxInt64: no limit
	}
	debug.SetMemoryLimit(n)
	return nil
}

// setMemoryLimit saves and applies a new /proc/memory_limit.
func (s *System) setMemoryLimit(ctx context.Context, v string) error {
	v = strings.TrimSpace(v)
	if _, err := parseMemoryLimit(v); err != nil {
		return err
	}
	if err := s.local.PutSetting(ctx, memoryLimitSetting, v); err != nil {
		return err
	}
	return s.applyMemoryLimit(ctx)
}

// memoryLimit is the limit in force, or -1 for none.
func memoryLimit() int64 {
	n := debug.SetMemoryLimit(-1)
	if n == 1<<63-1 {
		return -1
	}
	return n
}

// heapBytes is the heap the runtime holds for objects, live or not yet
// swept: what the soft limit weighs.
func heapBytes() int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return int64(sample[0].Value.Uint64())
}

// relieve sheds the caches when heap is past 80% of limit, and reports
// whether it did. Data is never shed: only what the database still holds.
func (s *System) relieve(heap, limit int64) bool {
	if limit <= 0 || heap*10 < limit*8 {
		return false
	}
	s.fs.ShedCache()
	s.web.ShedCache()
	debug.FreeOSMemory()
	s.sheds.Add(1)
	s.Kernel.Log.Warn("memory pressure: shed the caches", "heap_bytes", heap, "limit_bytes", limit, "heap_after", heapBytes())
	return true
}

// watchMemory checks the heap every interval until ctx ends.
func (s *System) watchMemory(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// At most once in ten seconds: shedding again at once would
			// only trade the caches for database reads.
			if time.Since(last) > 10*time.Second && s.relieve(heapBytes(), memoryLimit()) {
				last = time.Now()
			}
		}
	}
}

// memoryStatus is the /proc/status lines about memory.
func (s *System) memoryStatus(kv func(string, any)) {
	kv("memory_limit_bytes", memoryLimit())
	kv("memory_sheds", s.sheds.Load())
	rss, anon, file := residentSet()
	kv("rss_bytes", rss)
	kv("rss_anon_bytes", anon)
	kv("rss_file_bytes", file)
}

// residentSet is the kernel's resident set from /proc/self/status, and its
// two parts: anonymous memory (the Go heap, caches, SQLite's page caches)
// and file-backed pages: the binary and the memory-mapped database, which
// the host kernel reclaims like its page cache when it needs the memory.
// "-" where the host does not say.
func residentSet() (rss, anon, file any) {
	rss, anon, file = "-", "-", "-"
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "RssAnon":
			anon = n << 10
		case "RssFile":
			file = n << 10
		}
	}
	return
}
