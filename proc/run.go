package proc

import (
	"context"
	"os"
	"os/signal"
	"syscall"

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

// Run serves until ctx ends, SIGINT or SIGTERM arrives, or (with
// ExitOnUnmount) the mount goes away. The caller then Closes the system.
func (s *System) Run(ctx context.Context, opt RunOptions) error {
	ready := opt.Ready
	if ready == nil {
		ready = func(error) {}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var gone chan struct{}
	if opt.Mount != "" {
		m, err := s.Mount(opt.Mount, opt.MountOptions)
		if err != nil {
			ready(err)
			return err
		}
		s.Kernel.Log.Info("mounted", "dir", m.Dir())
		gone = make(chan struct{})
		go func() {
			m.Wait()
			s.Forget(m)
			close(gone)
		}()
	}
	ready(nil)
	for {
		select {
		case <-ctx.Done():
			s.Kernel.Log.Info("stopping", "reason", context.Cause(ctx))
			return nil
		case <-gone:
			s.Kernel.Log.Info("unmounted", "dir", opt.Mount)
			if opt.ExitOnUnmount {
				return nil
			}
			gone = nil
		}
	}
}
