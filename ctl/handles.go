package ctl

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/fazt-sh/fazt/kernel"
)

// snapshot is an open synthetic file: one rendering.
type snapshot struct{ data []byte }

var (
	_ kernel.Handle   = (*snapshot)(nil)
	_ kernel.DirectIO = (*snapshot)(nil)
)

func (s *snapshot) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return readFrom(s.data, p, off)
}

func readFrom(data, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, kernel.E(kernel.Invalid, "negative offset")
	}
	if off >= int64(len(data)) {
		return 0, nil
	}
	return copy(p, data[off:]), nil
}

func (s *snapshot) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, kernel.E(kernel.Permission, "file not open for writing")
}

func (s *snapshot) Flush(ctx context.Context) error   { return nil }
func (s *snapshot) Fsync(ctx context.Context) error   { return nil }
func (s *snapshot) Release(ctx context.Context) error { return nil }
func (s *snapshot) DirectIO() bool                    { return true }

// lineWriter is a value or ctl file open for writing. Writes arrive in
// pieces; each complete line is applied as it arrives, so its error is the
// write's error. A value is one line. What is left without a newline is
// applied at flush.
type lineWriter struct {
	t      *Tree
	n      *node
	single bool // a value file: one line
	apply  func(ctx context.Context, line string) error
	// check, if set, validates a line without applying it (a ctl file's).
	check func(line string) error
	// answer, set instead of apply for a call file, applies a line and
	// returns what reads of this same open then return.
	answer func(ctx context.Context, line string) (string, error)
	// release, if set, runs when the handle is released (collections use
	// it to drop an entry that never got a value).
	release func(ctx context.Context, wrote bool) // wrote: something was written, applied or refused

	mu      sync.Mutex // guards the fields below
	buf     []byte     // an unterminated line
	total   int
	lines   int
	failed  bool   // a line failed: the rest of this open is refused
	applied bool   // a line was applied
	result  []byte // a call file's answers so far
}

var (
	_ kernel.Handle   = (*lineWriter)(nil)
	_ kernel.DirectIO = (*lineWriter)(nil)
)

func (w *lineWriter) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if w.answer != nil {
		// The answer follows the request: a shell's "exec 3<>f; echo req
		// >&3; cat <&3" reads where its write ended.
		w.mu.Lock()
		defer w.mu.Unlock()
		end := int64(w.total)
		if off < end {
			return 0, nil // the request's own bytes: nothing to read there
		}
		return readFrom(w.result, p, off-end)
	}
	b, err := w.t.content(ctx, w.n)
	if err != nil {
		return 0, err
	}
	return readFrom(b, p, off)
}

func (w *lineWriter) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return 0, kernel.E(kernel.Invalid, "an earlier line of this write failed")
	}
	if w.total += len(p); w.total > maxInput {
		w.failed = true
		return 0, w.t.failed(w.n, "write", kernel.E(kernel.TooLarge, "input over 64 KiB"))
	}
	w.buf = append(w.buf, p...)
	// The complete lines of this write are all checked before the first
	// is applied: a write is applied whole or not at all. (A line cut
	// across writes is applied with the write that ends it.)
	end := bytes.LastIndexByte(w.buf, '\n')
	if end < 0 {
		return len(p), nil
	}
	lines := strings.Split(string(w.buf[:end]), "\n")
	w.buf = w.buf[end+1:]
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if err := w.checkAll(lines); err != nil {
		return 0, err
	}
	for _, line := range lines {
		if err := w.line(ctx, line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// checkAll refuses lines if any of them would fail its check: the reason
// names the line. w.mu is held.
func (w *lineWriter) checkAll(lines []string) error {
	var err error
	switch {
	case w.single && w.lines+len(lines) > 1:
		err = kernel.E(kernel.Invalid, fmt.Sprintf("a value is one line; this write has %d (nothing was applied)", w.lines+len(lines)))
	case w.check != nil:
		for i, line := range lines {
			if cerr := w.check(line); cerr != nil {
				err = cerr
				if len(lines) > 1 {
					err = kernel.E(kernel.KindOf(cerr), fmt.Sprintf("line %d of %d: %v (nothing was applied)", i+1, len(lines), cerr))
				}
				break
			}
		}
	}
	if err != nil {
		w.failed, w.buf = true, nil
		return w.t.failed(w.n, "write", err)
	}
	return nil
}

// line applies one line; w.mu is held.
func (w *lineWriter) line(ctx context.Context, line string) error {
	w.lines++
	var err error
	switch {
	case w.single && w.lines > 1:
		err = kernel.E(kernel.Invalid, "a value is one line")
	case w.answer != nil:
		var out string
		if out, err = w.answer(ctx, line); err == nil {
			w.result = append(w.result, out...)
		}
	default:
		err = w.apply(ctx, line)
	}
	if err != nil {
		w.failed, w.buf = true, nil
		return w.t.failed(w.n, "write", err)
	}
	w.applied = true
	return nil
}

func (w *lineWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed || len(w.buf) == 0 {
		return nil
	}
	line := strings.TrimSuffix(string(w.buf), "\r")
	w.buf = nil
	return w.line(ctx, line)
}

func (w *lineWriter) Fsync(ctx context.Context) error { return w.Flush(ctx) }

func (w *lineWriter) Release(ctx context.Context) error {
	err := w.Flush(ctx)
	if w.release != nil {
		w.mu.Lock()
		wrote := w.total > 0
		w.mu.Unlock()
		w.release(ctx, wrote)
	}
	return err
}

func (w *lineWriter) DirectIO() bool { return true }

// draftHandle is a collection's draft open for writing: bytes kept as they
// are written, at their offsets.
type draftHandle struct {
	t *Tree
	n *node
}

var _ kernel.DirectIO = (*draftHandle)(nil)

func (h *draftHandle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	return readFrom(h.n.content, p, off)
}

func (h *draftHandle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > maxInput {
		return 0, h.t.failed(h.n, "write", kernel.E(kernel.TooLarge, "input over 64 KiB"))
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(h.n.content)) {
		h.n.content = append(h.n.content, make([]byte, end-int64(len(h.n.content)))...)
	}
	copy(h.n.content[off:], p)
	return len(p), nil
}

func (h *draftHandle) Flush(ctx context.Context) error   { return nil }
func (h *draftHandle) Fsync(ctx context.Context) error   { return nil }
func (h *draftHandle) Release(ctx context.Context) error { return nil }
func (h *draftHandle) DirectIO() bool                    { return true }

// eventsHandle reads an event stream from where it was opened; a read
// blocks until there is something to return.
type eventsHandle struct {
	ev     *kernel.Events
	mu     sync.Mutex // guards cursor
	cursor uint64
}

var (
	_ kernel.DirectIO = (*eventsHandle)(nil)
	_ kernel.Blocking = (*eventsHandle)(nil)
)

func (h *eventsHandle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, cursor, err := h.ev.Read(ctx, h.cursor, len(p))
	if err != nil {
		return 0, err
	}
	h.cursor = cursor
	return copy(p, s), nil
}

func (h *eventsHandle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, kernel.E(kernel.Permission, "read-only file")
}

func (h *eventsHandle) Flush(ctx context.Context) error   { return nil }
func (h *eventsHandle) Fsync(ctx context.Context) error   { return nil }
func (h *eventsHandle) Release(ctx context.Context) error { return nil }
func (h *eventsHandle) DirectIO() bool                    { return true }
func (h *eventsHandle) Blocking() bool                    { return true }

// logHandle reads a LogBuffer by absolute offset. A reader that starts (or
// falls) before what the buffer still holds is moved forward to its start,
// and keeps that shift, so it never reads a line twice.
type logHandle struct {
	lb    *LogBuffer
	mu    sync.Mutex // guards shift
	shift int64
}

var _ kernel.DirectIO = (*logHandle)(nil)

func (h *logHandle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, kernel.E(kernel.Invalid, "negative offset")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n, skipped := h.lb.ReadAt(p, off+h.shift)
	h.shift += skipped
	return n, nil
}

func (h *logHandle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, kernel.E(kernel.Permission, "read-only file")
}

func (h *logHandle) Flush(ctx context.Context) error   { return nil }
func (h *logHandle) Fsync(ctx context.Context) error   { return nil }
func (h *logHandle) Release(ctx context.Context) error { return nil }
func (h *logHandle) DirectIO() bool                    { return true }
