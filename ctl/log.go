package ctl

import (
	"bytes"
	"sync"
	"time"
)

// LogBuffer keeps the most recent bytes of the kernel log, whole lines, for
// /proc/log. Offsets are absolute (bytes ever written), so a reader that
// polls the size, as tail -f does, reads exactly what was added.
type LogBuffer struct {
	max int

	mu    sync.Mutex // guards the fields below
	buf   []byte     // bytes [start, total)
	start int64
	total int64
	last  time.Time // when the last bytes were written
}

// NewLogBuffer keeps about max bytes.
func NewLogBuffer(max int) *LogBuffer { return &LogBuffer{max: max} }

// Write appends p, dropping the oldest whole lines past max.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	l.total += int64(len(p))
	l.last = time.Now()
	if over := len(l.buf) - l.max; over > 0 {
		cut := over
		if i := bytes.IndexByte(l.buf[over:], '\n'); i >= 0 {
			cut = over + i + 1
		}
		l.buf = append(l.buf[:0:0], l.buf[cut:]...)
		l.start += int64(cut)
	}
	return len(p), nil
}

// Total is the number of bytes ever written: the file's size.
func (l *LogBuffer) Total() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Last is when bytes were last written: the file's mtime.
func (l *LogBuffer) Last() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// ReadAt reads from absolute offset off. If the bytes there are gone, it
// reads from the oldest kept byte and says how far it skipped.
func (l *LogBuffer) ReadAt(p []byte, off int64) (n int, skipped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off < l.start {
		skipped = l.start - off
		off = l.start
	}
	if off >= l.total {
		return 0, skipped
	}
	return copy(p, l.buf[off-l.start:]), skipped
}
