package proc

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

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

	srv, err := api.Listen(s.Kernel, s.SocketPath())
	if err != nil {
		err = fmt.Errorf("local API: %w", err)
		ready(err)
		return err
	}
	defer srv.Close(5 * time.Second)

	var gone <-chan struct{}
	if opt.Mount != "" {
		m, err := s.Mount(opt.Mount, opt.MountOptions)
		if err != nil {
			ready(err)
			return err
		}
		s.Kernel.Log.Info("mounted", "dir", m.Dir())
		gone = s.Watch(m)
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
	ready(nil)
	for {
		select {
		case <-ctx.Done():
			s.Kernel.Log.Info("stopping", "reason", context.Cause(ctx))
			return nil
		case <-s.stopReq:
			s.Kernel.Log.Info("stopping", "reason", "stop in /proc/ctl")
			return nil
		case <-gone:
			if opt.ExitOnUnmount {
				return nil
			}
			gone = nil
		}
	}
}
