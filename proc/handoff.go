package proc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/mount"
)

// handoffEnv tells a kernel started by an upgrade which of the file
// descriptors it inherited are what, and what the previous kernel served.
const handoffEnv = "FAZT_HANDOFF"

// handoffSpec is handoffEnv's value, in JSON.
type handoffSpec struct {
	// FDs: "ready" (this kernel reports on it), "go" (reaches EOF once the
	// previous kernel has let go), "lock" (the data directory's lock), and
	// the listening sockets by scheme name ("http", "https").
	FDs         map[string]int `json:"fds"`
	Mounts      []mountSpec    `json:"mounts,omitempty"`
	FromVersion string         `json:"from_version"`
	FromPID     int            `json:"from_pid"`
}

type mountSpec struct {
	Dir     string        `json:"dir"`
	Options mount.Options `json:"options"`
}

// Handoff is what a kernel started by an upgrade inherited from the
// previous one: the data directory's lock, the listening sockets, and two
// pipes. The new kernel boots beside the old one, reports on "ready" and
// waits for "go": meanwhile the old kernel stops accepting, lets its
// requests finish, unmounts and commits. Connections that arrive in
// between wait in the sockets' backlog; none is refused.
type Handoff struct {
	spec      handoffSpec
	ready     *os.File
	goPipe    *os.File
	lock      *os.File
	listeners map[string]net.Listener
}

// InheritedHandoff returns the handoff this process was started with, or
// nil, and takes it out of the environment (the Litestream child must not
// see it).
func InheritedHandoff() (*Handoff, error) {
	v, ok := os.LookupEnv(handoffEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(handoffEnv)
	h := &Handoff{listeners: map[string]net.Listener{}}
	if err := json.Unmarshal([]byte(v), &h.spec); err != nil {
		return nil, fmt.Errorf("%s: %w", handoffEnv, err)
	}
	file := func(name string) *os.File {
		fd, ok := h.spec.FDs[name]
		if !ok {
			return nil
		}
		// Inherited descriptors are not close-on-exec: without it the
		// backup child would hold the lock and the sockets.
		syscall.CloseOnExec(fd)
		return os.NewFile(uintptr(fd), name)
	}
	h.ready, h.goPipe, h.lock = file("ready"), file("go"), file("lock")
	if h.ready == nil || h.goPipe == nil || h.lock == nil {
		return nil, fmt.Errorf("%s: ready, go and lock are required", handoffEnv)
	}
	for name := range h.spec.FDs {
		if name == "http" || name == "https" {
			f := file(name)
			ln, err := net.FileListener(f)
			f.Close() // FileListener made its own copy
			if err != nil {
				return nil, fmt.Errorf("inherited %s socket: %w", name, err)
			}
			h.listeners[name] = ln
		}
	}
	return h, nil
}

// report tells the previous kernel whether this one is ready to take over.
func (h *Handoff) report(err error) {
	if h.ready == nil {
		return
	}
	writeReady(h.ready, err)
	h.ready = nil
}

// wait returns once the previous kernel has let go (or died), or when ctx
// ends.
func (h *Handoff) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, h.goPipe)
		close(done)
	}()
	select {
	case <-done:
		h.goPipe.Close()
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// close releases what was not taken: the pipes, and sockets not inherited.
func (h *Handoff) close() {
	h.report(fmt.Errorf("stopped before it was ready"))
	h.goPipe.Close()
	for _, ln := range h.listeners {
		ln.Close()
	}
}

// From describes the previous kernel, for /proc/status.
func (h *Handoff) From() string {
	return fmt.Sprintf("%s (pid %d)", h.spec.FromVersion, h.spec.FromPID)
}

// upgradeState is the last upgrade's outcome, for /proc/status.
type upgradeState struct {
	running bool      // an upgrade is in progress
	at      time.Time // when the last one ended
	err     string    // why it failed, or ""
	to      string    // the version it went to
}
