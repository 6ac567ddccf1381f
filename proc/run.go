package proc

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/mount"
)

// RunOptions say what a running kernel serves.
type RunOptions struct {
	// Mount, if set, is where to mount the namespace.
	Mount        string
	MountOptions mount.Options
	// ExitOnUnmount stops the kernel when its mount goes away (fazt fs
	// umount), as a kernel started by fazt fs mount does.
	ExitOnUnmount bool
	// Ready is called once the kernel serves, or with the error that
	// stopped it from serving.
	Ready func(error)
}

// SocketName is the local API's Unix socket in the data directory.
const SocketName = "fazt.sock"

// SocketPath is where the local API listens.
func (s *System) SocketPath() string { return SocketIn(s.DataDir) }

// SocketIn is the local API's socket of the data directory dir.
func SocketIn(dir string) string { return filepath.Join(dir, SocketName) }

// OpenNet starts the front door: the HTTP and HTTPS listeners, and the
// certificate manager on their ports.
func (s *System) OpenNet(ctx context.Context) error {
	if err := s.web.Open(ctx); err != nil {
		return err
	}
	if err := s.certs.Start(ctx, s.web.Ports); err != nil {
		s.web.Close(0)
		return err
	}
	return nil
}

// CloseNet stops the front door; requests in flight get grace to finish.
func (s *System) CloseNet(grace time.Duration) error {
	s.certs.Stop()
	return s.web.Close(grace)
}

// Run serves the local API (and the mount, if asked) until ctx ends,
// SIGINT or SIGTERM arrives, "stop" is written to /proc/ctl, or (with
// ExitOnUnmount) the mount goes away. The caller then Closes the system.
func (s *System) Run(ctx context.Context, opt RunOptions) error {
	ready := opt.Ready
	if ready == nil {
		ready = func(error) {}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.exitOnUnmount = opt.ExitOnUnmount

	mounts := []mountSpec{}
	if opt.Mount != "" {
		mounts = append(mounts, mountSpec{Dir: opt.Mount, Options: opt.MountOptions})
	}
	if h := s.handoff; h != nil {
		// Booted beside the previous kernel: say so, wait until it has let
		// go, then serve what it served.
		s.web.Inherit(h.listeners)
		h.listeners = nil
		h.report(nil)
		s.Kernel.Log.Info("upgrade: ready; waiting for the previous kernel to let go", "from", h.From())
		if err := h.wait(ctx); err != nil {
			ready(err)
			return err
		}
		if err := s.takeOver(ctx); err != nil {
			ready(err)
			return err
		}
		mounts = append(mounts, h.spec.Mounts...)
	}

	srv, err := api.Listen(s.Kernel, s.SocketPath())
	if err != nil {
		err = fmt.Errorf("local API: %w", err)
		ready(err)
		return err
	}
	defer srv.Close(5 * time.Second)

	var gone <-chan struct{}
	for i, ms := range mounts {
		m, err := s.Mount(ms.Dir, ms.Options)
		if err != nil {
			if s.handoff == nil {
				ready(err)
				return err
			}
			// Serving the sites matters more than the mount: keep going.
			s.Kernel.Log.Error("upgrade: cannot mount again", "dir", ms.Dir, "err", err)
			continue
		}
		s.Kernel.Log.Info("mounted", "dir", m.Dir())
		if g := s.Watch(m); i == 0 {
			gone = g
		}
	}
	if err := s.OpenNet(ctx); err != nil {
		ready(err)
		return err
	}
	defer s.CloseNet(5 * time.Second)
	if err := s.repl.Start(ctx); err != nil {
		ready(err)
		return err
	}
	if err := s.lock.SetExitOnUnmount(opt.ExitOnUnmount); err != nil {
		s.Kernel.Log.Warn("cannot record how the kernel runs in the lock file", "err", err)
	}
	ready(nil)
	s.serving.Store(true)
	defer s.serving.Store(false)
	mctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchMemory(mctx, 2*time.Second)
	// Under systemd (Type=notify): started, or, after an upgrade, the main
	// process now.
	daemon.SdNotify(false, fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()))
	for {
		select {
		case <-ctx.Done():
			s.Kernel.Log.Info("stopping", "reason", context.Cause(ctx))
			daemon.SdNotify(false, daemon.SdNotifyStopping)
			return nil
		case <-s.stopReq:
			s.umu.Lock()
			upgrading := s.successor != nil
			s.umu.Unlock()
			if upgrading {
				s.Kernel.Log.Info("stopping", "reason", "upgraded: handing over to the new kernel")
			} else {
				s.Kernel.Log.Info("stopping", "reason", "stop in /proc/ctl")
				daemon.SdNotify(false, daemon.SdNotifyStopping)
			}
			return nil
		case <-gone:
			if opt.ExitOnUnmount {
				return nil
			}
			gone = nil
		}
	}
}

// takeOver makes this kernel, started by an upgrade, the only one once
// the previous kernel has let go: what it cached at start-up may have
// changed since, and what that kernel left behind is now collectable.
func (s *System) takeOver(ctx context.Context) error {
	if s.db.Follows() != "" {
		s.fs.Reloaded() // nothing to collect: the primary does
	} else if err := s.fs.Resync(ctx); err != nil {
		return err
	}
	if err := s.routes.Load(ctx); err != nil {
		return err
	}
	if err := s.lock.Rename(); err != nil {
		s.Kernel.Log.Warn("cannot name this kernel in the lock file", "err", err)
	}
	s.Kernel.Log.Info("upgrade: took over", "from", s.handoff.From())
	return nil
}
