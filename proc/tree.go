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
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/mount"
)

// readme is /README.
const readme = `fazt: the whole system as one file tree.

  /deploys/<site>/ past deploys of fazt deploy, read-only; ctl (rollback,
                  keep), err
  /driver/litestream/  continuous backups: replicas/<name> (value: the
                  replica URL), credentials/ (write-only), retention, status
  /fs/<site>/     the sites' files; read and write them with any tool
  /net/           routes/<host> (value: SITE, redirect URL or proxy URL),
                  http, https (the listeners' addresses), certs/<host>/,
                  ctl (route, tls, acme, cert verbs), status, err
  /proc/          status, version, uptime, memory_limit, log, events,
                  ctl (stop, upgrade PATH, rollback, mount DIR), err;
                  events.stream (not listed: reads block, for cat)
  /security/      root-pass (write-only), tokens/<id>, mint (a call file),
                  ctl (rotate), status, err
  /storage/       status, migrations/, backups/, ctl (backup, checkpoint,
                  vacuum...), err

Kinds of file:
  value   read: the value; write: a new value (echo blog > /net/routes/x)
  secret  write-only value: never reads back
  status  read: "key value" lines
  ctl     write: commands, one per line; read: the list of commands
  err     read: why the last failed write in that directory failed
  events  read: the recent events, one line each (tail -f follows);
          NAME.stream, not listed: reads block until the next events
  log     read: recent log lines (tail -f follows)
  call    open for reading and writing, write a request, read the answer

Each ctl file prints its own help: cat /net/ctl.
The full reference: docs/tree.md in fazt's source.
`

// onHost refuses remote callers a verb that names a path of the host
// machine: upgrade runs the program there (as the kernel's user, root on
// a server), mount puts the tree over a directory there. A token, even one
// with every right in the tree, has none on the host; the owner runs
// these on the machine (the mount, the local socket: fazt proc upgrade).
func onHost(ctx context.Context, verb string) error {
	if kernel.CallerFrom(ctx).Remote {
		return kernel.E(kernel.Permission, verb+" names a path of the host machine: only its owner may, on the machine (fazt proc "+verb+"), not over the network")
	}
	return nil
}

// procTree builds /proc.
func (s *System) procTree() *ctl.Tree {
	t := ctl.New("/proc", s.Kernel.Log)
	root := t.RootDir()
	root.Value("version", ctl.Value{Get: func(context.Context) (string, error) { return s.Kernel.Version, nil }})
	root.Value("uptime", ctl.Value{Get: func(context.Context) (string, error) {
		return fmt.Sprintf("%.2f", time.Since(s.Kernel.Started).Seconds()), nil
	}})
	root.Status("status", s.status)
	root.Value("memory_limit", ctl.Value{
		Get:     func(ctx context.Context) (string, error) { return s.local.Setting(ctx, memoryLimitSetting, "auto") },
		Set:     s.setMemoryLimit,
		Changed: func(ctx context.Context) (time.Time, error) { return s.local.SettingTime(ctx, memoryLimitSetting) },
	})
	root.Log("log", s.logbuf)
	root.Events("events", s.Kernel.Events)
	root.Ctl("ctl", []ctl.Command{
		{Verb: "mount", Args: []string{"DIR"}, Variadic: true,
			Help: "mount the tree at DIR (absolute; add allow-other to let other users in, xattrs for extended attributes)",
			Run: func(ctx context.Context, a []string) error {
				if err := onHost(ctx, "mount"); err != nil {
					return err
				}
				var opt mount.Options
				for _, o := range a[1:] {
					switch o {
					case "allow-other":
						opt.AllowOther = true
					case "xattrs":
						opt.Xattrs = true
					default:
						return kernel.E(kernel.Invalid, "unknown mount option "+o+" (allow-other, xattrs)")
					}
				}
				if !filepath.IsAbs(a[0]) {
					return kernel.E(kernel.Invalid, "the mount point must be an absolute path")
				}
				m, err := s.Mount(a[0], opt)
				if err != nil {
					return kernel.Wrap(kernel.Invalid, err)
				}
				s.Watch(m)
				s.Kernel.Events.Publish("proc", "mount", m.Dir())
				return nil
			}},
		{Verb: "upgrade", Args: []string{"PATH"}, Variadic: true,
			Help: "replace the binary with PATH (absolute) and hand over to it; sha256=HEX checks it, timeout=DURATION bounds its start (1m)",
			Run: func(ctx context.Context, a []string) error {
				if err := onHost(ctx, "upgrade"); err != nil {
					return err
				}
				req := UpgradeRequest{From: a[0]}
				for _, o := range a[1:] {
					k, v, _ := strings.Cut(o, "=")
					switch k {
					case "sha256":
						req.SHA256 = v
					case "timeout":
						d, err := time.ParseDuration(v)
						if err != nil || d <= 0 {
							return kernel.E(kernel.Invalid, "bad timeout "+v+" (e.g. 30s)")
						}
						req.Timeout = d
					default:
						return kernel.E(kernel.Invalid, "unknown upgrade option "+o+" (sha256=HEX, timeout=DURATION)")
					}
				}
				return s.Upgrade(ctx, req)
			}},
		{Verb: "rollback", Help: "upgrade back to the previous binary (kept as fazt.prev by the last upgrade)",
			Run: func(ctx context.Context, _ []string) error {
				exe, err := os.Executable()
				if err != nil {
					return kernel.Wrap(kernel.Internal, err)
				}
				if _, err := os.Stat(exe + PrevSuffix); err != nil {
					return kernel.E(kernel.NotExist, "no previous binary: "+exe+PrevSuffix+" does not exist")
				}
				return s.Upgrade(ctx, UpgradeRequest{From: exe + PrevSuffix})
			}},
		{Verb: "stop", Help: "stop the kernel: unmount, close the database, exit",
			Run: func(ctx context.Context, _ []string) error {
				s.Kernel.Events.Publish("proc", "stop")
				s.Stop()
				return nil
			}},
	})
	root.Err()
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
	if len(mounts) == 0 {
		mounts = []string{"-"}
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
	writes := "unknown"
	if sp, err := s.db.Space(); err == nil {
		writes = sp.Writes()
	}
	kv("writes", writes)
	kv("open_files", s.fs.OpenFiles())
	kv("cache_bytes", s.fs.CacheBytes())
	kv("mounts", strings.Join(mounts, " "))
	kv("socket", strings.ReplaceAll(s.SocketPath(), " ", `\040`))
	s.memoryStatus(kv)
	for _, line := range s.web.Status() {
		// The listeners: where they are bound, and why not when they
		// are not.
		if k, v, _ := strings.Cut(line, " "); strings.HasPrefix(k, "http") {
			kv("net_"+k, v)
		}
	}
	health, err := s.repl.Health(ctx)
	if err != nil {
		health = "unknown: " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	kv("driver_litestream", health)
	for _, f := range s.repl.Role(ctx) {
		kv(f[0], strings.ReplaceAll(f[1], " ", `\040`))
	}
	s.upgradeStatus(kv)
	restarted := s.restarted
	if restarted == "" {
		restarted = "-"
	}
	kv("restarted", strings.ReplaceAll(restarted, "\n", " "))
	return []byte(b.String()), nil
}
