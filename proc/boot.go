package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/deploy"
	"github.com/fazt-sh/fazt/driver/litestream"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/mount"
	"github.com/fazt-sh/fazt/net/certs"
	"github.com/fazt-sh/fazt/net/httpd"
	"github.com/fazt-sh/fazt/net/route"
	"github.com/fazt-sh/fazt/security"
	"github.com/fazt-sh/fazt/storage"
	"github.com/fazt-sh/fazt/vfs"
)

// Config says what to boot.
type Config struct {
	// DataDir holds the database, the lock and the logs.
	DataDir string
	// Version is this binary's version.
	Version string
	// LogOutput receives the kernel log, as text; nil is stderr. The most
	// recent lines are also kept for /proc/log.
	LogOutput io.Writer
	// LogLevel is the lowest level logged; the zero value is Info.
	LogLevel slog.Level
	// Handoff, if set, is what the previous kernel handed over in an
	// upgrade: the kernel boots beside it and takes over in Run.
	Handoff *Handoff
	// Restarted is why a supervisor started this kernel again after the
	// previous one died (see Supervise), or "".
	Restarted string
	// Follow, if set, is the URL of a primary's replica this kernel
	// follows (an edge): a fresh data directory is restored from it, and
	// the data directory remembers it (node.json), so a restart follows
	// on without being told.
	Follow string
	// Standby, with Follow, makes the kernel a standby: an edge that
	// takes the primary's place when the primary's lease expires
	// (recorded too).
	Standby bool
}

// System is a booted kernel with the parts it owns.
type System struct {
	Kernel  *kernel.Kernel
	DataDir string

	lock   *Lock
	db     *storage.DB
	local  *storage.Local // the machine's own settings (listeners, memory limit)
	fs     *vfs.FS
	routes *route.Table
	web    *httpd.Server
	certs  *certs.Manager
	repl   *litestream.Driver
	auth   *security.Authority
	logbuf *ctl.LogBuffer

	stopOnce sync.Once
	stopReq  chan struct{} // closed by "stop" in /proc/ctl

	mu     sync.Mutex // guards mounts
	mounts []*mount.Mount

	handoff       *Handoff // what the previous kernel handed over, if this one was started by an upgrade
	restarted     string   // why a supervisor started this kernel again, or ""
	exitOnUnmount bool     // set by Run, passed on to a successor
	serving       atomic.Bool
	sheds         atomic.Int64 // times the caches were shed under memory pressure
	// restartInPlace: stopped to start again as a follower (becomeFollower)
	restartInPlace atomic.Bool

	umu       sync.Mutex // guards upgrade and successor
	upgrade   upgradeState
	successor *os.File // closed to tell the next kernel to go on, once this one has let go
}

// DatabaseFile is the name of the database in the data directory.
const DatabaseFile = "fazt.db"

// DefaultDataDir is $FAZT_HOME, else $XDG_DATA_HOME/fazt, else
// ~/.local/share/fazt.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("FAZT_HOME"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "fazt"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: set FAZT_HOME or use --data (%w)", err)
	}
	return filepath.Join(home, ".local", "share", "fazt"), nil
}

// Boot starts a kernel on cfg.DataDir: lock, storage, then the trees it
// binds: /README, /driver, /fs, /net, /proc, /security, /storage.
func Boot(ctx context.Context, cfg Config) (_ *System, err error) {
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	logbuf := ctl.NewLogBuffer(1 << 20)
	logw := io.MultiWriter(cfg.LogOutput, logbuf)
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.LogLevel}))
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &System{DataDir: dir, logbuf: logbuf, stopReq: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.handoff, s.restarted = cfg.Handoff, cfg.Restarted
	if s.restarted != "" {
		log.Warn("kernel started again by its supervisor", "reason", s.restarted)
	}
	if s.handoff != nil {
		s.lock, err = AdoptLock(s.handoff.lock)
	} else {
		s.lock, err = LockDataDir(dir)
	}
	if err != nil {
		return nil, err
	}
	if s.local, err = storage.OpenLocal(filepath.Join(dir, storage.LocalFile), nil); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, DatabaseFile)
	follows, err := followURL(ctx, log, s.local, cfg.Follow, dbPath, dir)
	if err != nil {
		return nil, err
	}
	asked := cfg.Follow
	if follows == "" {
		asked = "" // a standby that took over: --standby is void too
	}
	standby, err := standbyMode(ctx, s.local, asked, cfg.Standby)
	if err != nil {
		return nil, err
	}
	owner, err := nodeID(ctx, s.local)
	if err != nil {
		return nil, err
	}
	if s.db, err = storage.Open(ctx, dbPath, storage.Options{Log: log, NoMigrate: true, Follows: follows}); err != nil {
		return nil, err
	}
	s.local.SetFallback(s.db)
	if s.repl, err = litestream.Open(ctx, litestream.Options{DB: s.db, DataDir: dir, Log: log, LogOutput: logw, Applied: s.followed,
		Owner: owner, Standby: standby && follows != "", Promoted: s.promoted, BecomeFollower: s.becomeFollower}); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, log); err != nil {
		return nil, err
	}
	if s.fs, err = vfs.Open(ctx, s.db, vfs.Options{Log: log, Shared: s.handoff != nil || follows != ""}); err != nil {
		return nil, err
	}
	k := kernel.New(cfg.Version, log)
	s.Kernel = k
	if err := s.applyMemoryLimit(ctx); err != nil {
		log.Warn("cannot read the memory limit; the runtime's stands", "err", err)
	}
	s.routes = route.NewTable(s.db, k.Events)
	if err := s.routes.Load(ctx); err != nil {
		return nil, err
	}
	s.auth = security.New(s.db, log)
	s.web = httpd.New(k, s.routes, s.local)
	s.web.SetStore(filepath.Join(dir, "cache", "http"), s.db.Room)
	s.web.SetAPI(s.auth.Remote(&api.Handler{K: k}))
	s.certs = certs.New(s.db, s.routes, log)
	s.certs.OnChallengeStored(s.challengeReachesFollowers)
	s.web.SetTLS(s.certs)
	s.routes.OnChange(func(host string) {
		// A new route gets its certificate now; a no-op unless serving.
		if err := s.certs.Manage(context.WithoutCancel(ctx), host); err != nil {
			log.Warn("tls: cannot manage", "host", host, "err", err)
		}
	})
	if err := s.bind(); err != nil {
		return nil, err
	}
	// Where deploys are prepared and kept (package deploy): made here so
	// that a token scoped to one site finds them. /deploys shows the
	// history, read-only.
	for _, d := range []string{"/fs/.staging", "/fs/.deploys"} {
		if _, err := k.FS.Lstat(ctx, d); kernel.KindOf(err) == kernel.NotExist && follows == "" {
			if err := k.FS.Mkdir(ctx, d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	hist, err := s.fs.Lookup(ctx, s.fs.Root(), ".deploys")
	if err != nil {
		return nil, err
	}
	if err := k.NS.Bind("deploys", deploy.Files(k, s.fs.View(hist.Ino))); err != nil {
		return nil, err
	}
	return s, nil
}

// Mount mounts the namespace at dir and records it in the lock file.
func (s *System) Mount(dir string, opt mount.Options) (*mount.Mount, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// A predecessor that died (kill -9 during an upgrade) leaves its mount
	// here, dead: detach it, without waiting on it (see CleanStale).
	if err := mount.CleanStale(abs); err != nil {
		return nil, err
	}
	m, err := mount.New(s.Kernel, abs, opt)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.mounts = append(s.mounts, m)
	s.mu.Unlock()
	if err := s.lock.SetMounts(s.MountPoints()); err != nil {
		s.Kernel.Log.Warn("cannot record the mount in the lock file", "err", err)
	}
	return m, nil
}

// Watch makes the system forget m when it goes away (fazt fs umount), and
// returns a channel closed then.
func (s *System) Watch(m *mount.Mount) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		m.Wait()
		s.Forget(m)
		s.Kernel.Log.Info("unmounted", "dir", m.Dir())
		close(gone)
	}()
	return gone
}

// Forget drops a mount that went away from the records.
func (s *System) Forget(m *mount.Mount) {
	s.mu.Lock()
	s.mounts = slices.DeleteFunc(s.mounts, func(x *mount.Mount) bool { return x == m })
	s.mu.Unlock()
	s.lock.SetMounts(s.MountPoints())
}

// MountPoints lists where the namespace is mounted.
func (s *System) MountPoints() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.mounts))
	for i, m := range s.mounts {
		out[i] = m.Dir()
	}
	return out
}

// Close stops the kernel: it detaches its mounts (lazily, so a busy mount
// cannot keep it alive), closes the database and gives up the lock.
func (s *System) Close() error {
	var errs []error
	s.mu.Lock()
	mounts := s.mounts
	s.mounts = nil
	s.mu.Unlock()
	for _, m := range mounts {
		errs = append(errs, m.Close(5*time.Second))
	}
	if s.Kernel != nil {
		s.Kernel.Events.Close() // readers of /proc/events see the end
	}
	if s.handoff != nil {
		s.handoff.close() // what was not taken over, if start-up failed
	}
	s.umu.Lock()
	next := s.successor
	s.umu.Unlock()
	if next != nil {
		// Nothing more is written here: the next kernel may go on, while
		// this one's backup child sends what is left.
		errs = append(errs, s.db.Commit(context.Background()))
		next.Close()
	}
	if s.repl != nil {
		// What is committed reaches the replica before the child stops.
		if s.db != nil {
			errs = append(errs, s.db.Commit(context.Background()))
		}
		errs = append(errs, s.repl.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Release())
	}
	return errors.Join(errs...)
}

// Stop asks Run to return, as SIGTERM does ("stop" in /proc/ctl).
func (s *System) Stop() {
	s.stopOnce.Do(func() { close(s.stopReq) })
}

// Web is the front door (the HTTP server); Run opens it.
func (s *System) Web() *httpd.Server { return s.web }

// Commit commits the changes made so far now, rather than within the
// batch delay: for tests and for callers about to read committed state.
func (s *System) Commit(ctx context.Context) error { return s.db.Commit(ctx) }
