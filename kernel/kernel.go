package kernel

import (
	"log/slog"
	"time"
)

// Kernel is the object through which everything in fazt goes. It is built
// once, at start-up, by package proc, which binds the subsystems' file
// systems into NS before any front end starts.
type Kernel struct {
	// NS is the namespace: inode-based calls, used by the FUSE front end.
	NS *Namespace
	// FS is the path-based calls on NS: the "syscalls" everyone else uses.
	FS *FS
	// Log is the kernel log.
	Log *slog.Logger
	// Events is the event stream served as /proc/events.
	Events *Events
	// Version is the version of this binary.
	Version string
	// Started is when the kernel started.
	Started time.Time
}

// New returns a kernel with an empty namespace.
func New(version string, log *slog.Logger) *Kernel {
	if log == nil {
		log = slog.Default()
	}
	ns := NewNamespace()
	ns.Log = log
	ev := NewEvents()
	fs := NewFS(ns)
	fs.events = ev
	return &Kernel{NS: ns, FS: fs, Log: log, Events: ev, Version: version, Started: time.Now()}
}
