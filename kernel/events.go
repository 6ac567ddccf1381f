package kernel

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Events is the kernel's event stream: one line per thing that happened
// (a route added, a file written through the API, a checkpoint), for the
// /proc/events file and its readers. inotify cannot see changes made inside
// fazt; this is how scripts wait for them.
//
// Lines are kept in a ring; each reader has its own cursor, starts at the
// end (it sees what happens after it began to read), and learns how many
// lines it missed if it falls more than the ring behind.
type Events struct {
	mu     sync.Mutex // guards the fields below
	ring   []string
	next   uint64        // sequence number of the next line
	wake   chan struct{} // closed and replaced on every publish
	last   time.Time     // when the last line was published
	closed bool
	// history, if set, gets every line too: the stream's recent lines as
	// a file that ends (SetHistory).
	history io.Writer
}

// eventRing is how many recent lines Events keeps for slow readers.
const eventRing = 4096

// NewEvents returns an empty event stream.
func NewEvents() *Events {
	return &Events{ring: make([]string, eventRing), wake: make(chan struct{})}
}

// Publish adds a line "TIME subsystem what args..." to the stream. Fields
// must not contain newlines; spaces inside a field are escaped as \040.
func (e *Events) Publish(subsystem, what string, args ...string) {
	now := time.Now()
	var b strings.Builder
	b.WriteString(now.UTC().Format("2006-01-02T15:04:05.000000Z"))
	for _, f := range append([]string{subsystem, what}, args...) {
		b.WriteByte(' ')
		b.WriteString(escapeField(f))
	}
	b.WriteByte('\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.ring[e.next%eventRing] = b.String()
	e.next++
	e.last = now
	if e.history != nil {
		io.WriteString(e.history, e.ring[(e.next-1)%eventRing])
	}
	close(e.wake)
	e.wake = make(chan struct{})
}

// fieldEscaper keeps each field of an event line one word.
var fieldEscaper = strings.NewReplacer(" ", `\040`, "\n", `\012`, "\t", `\011`, `\`, `\134`)

func escapeField(s string) string { return fieldEscaper.Replace(s) }

// SetHistory makes every line published from now on be written to w as
// well (the history file of /proc/events). w must not publish events.
func (e *Events) SetHistory(w io.Writer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.history = w
}

// Last is when the last line was published (zero before the first): the
// stream's mtime, which tells tail -f that there is more to read.
func (e *Events) Last() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Cursor returns the position of the next line to be published: a new
// reader's starting point.
func (e *Events) Cursor() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next
}

// Read waits until there are lines at or after cursor, and returns as many
// as fit in max bytes (at least one line, cut if it is longer than max),
// with the cursor after them. It returns early with an error when ctx ends,
// and with no lines once the stream is closed.
func (e *Events) Read(ctx context.Context, cursor uint64, max int) (string, uint64, error) {
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return "", cursor, nil
		}
		if cursor < e.next {
			var b strings.Builder
			if e.next-cursor > eventRing {
				missed := e.next - eventRing - cursor
				cursor = e.next - eventRing
				fmt.Fprintf(&b, "%s events missed %d\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), missed)
			}
			for ; cursor < e.next; cursor++ {
				line := e.ring[cursor%eventRing]
				if b.Len()+len(line) > max {
					if b.Len() == 0 {
						b.WriteString(line[:max])
						cursor++
					}
					break
				}
				b.WriteString(line)
			}
			e.mu.Unlock()
			return b.String(), cursor, nil
		}
		wake := e.wake
		e.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return "", cursor, E(Interrupted, "interrupted")
		}
	}
}

// Close ends the stream: blocked and later reads return nothing (end of
// file).
func (e *Events) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.wake)
	}
}
