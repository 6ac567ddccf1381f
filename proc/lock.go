package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

const lockName = "fazt.lock"

// Lock is the data directory's lock: held by the one kernel that serves the
// directory. The file names the holder: "pid N" and one "mount DIR" line per
// mount, for the error that a second kernel gets.
type Lock struct {
	mu     sync.Mutex // guards f, size, mounts and exitOnUnmount
	f      *os.File
	size   int // bytes the file holds: what write wrote last
	mounts []string
	// exitOnUnmount: the kernel stops when its mount goes away (started
	// by fazt fs mount), so that a restart starts it the same way
	exitOnUnmount bool
}

// Holder describes the kernel that holds a data directory.
type Holder struct {
	PID           int
	Mounts        []string
	ExitOnUnmount bool
}

// probeGrace is how long LockDataDir keeps trying a lock that is held: a
// ReadHolder elsewhere (a supervisor, the CLI) holds it shared for an
// instant, which must not pass for a kernel.
const probeGrace = time.Second

// LockDataDir takes the lock of dir, failing with a Busy error that names
// the holder if another kernel has it.
func LockDataDir(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(probeGrace)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, busy(dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	l := newLock(f)
	l.write() // best effort: the flock is the lock, the text only names the holder
	return l, nil
}

// newLock is the lock held through f, with the size of what it says.
func newLock(f *os.File) *Lock {
	l := &Lock{f: f}
	if st, err := f.Stat(); err == nil {
		l.size = int(st.Size())
	}
	return l
}

// AdoptLock takes over the lock that the previous kernel handed over in an
// upgrade: f shares its open file, so the flock is already held; this
// checks that it is. The file names the previous kernel until Rename.
func AdoptLock(f *os.File) (*Lock, error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("the handed-over lock is not held: %w", err)
	}
	return newLock(f), nil
}

// file is the lock's open file, to hand over to a new kernel.
func (l *Lock) file() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}

// SetExitOnUnmount records that the kernel stops when its mount goes away.
func (l *Lock) SetExitOnUnmount(v bool) error {
	l.mu.Lock()
	l.exitOnUnmount = v
	l.mu.Unlock()
	return l.write()
}

// Rename names this process as the holder again (a kernel that took the
// lock over from the previous one, once that one is gone).
func (l *Lock) Rename() error { return l.write() }

func busy(dir string) error {
	msg := "a fazt kernel is already running for " + dir
	if h, ok := ReadHolder(dir); ok {
		msg += fmt.Sprintf(" (pid %d", h.PID)
		if len(h.Mounts) > 0 {
			msg += ", mounted at " + strings.Join(h.Mounts, ", ")
		}
		msg += ")"
	}
	return kernel.E(kernel.Busy, msg)
}

// ReadHolder returns the kernel that holds dir's lock, if one does.
func ReadHolder(dir string) (Holder, bool) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return Holder{}, false
	}
	defer f.Close()
	// A shared lock succeeds only when no kernel holds the exclusive one.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return Holder{}, false
	}
	var h Holder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "pid":
			h.PID, _ = strconv.Atoi(val)
		case "mount":
			h.Mounts = append(h.Mounts, val)
		case "exit-on-umount":
			h.ExitOnUnmount = true
		}
	}
	return h, true
}

// SetMounts records the mount points of the holder. It may fail on a full
// disk; the lock holds all the same.
func (l *Lock) SetMounts(mounts []string) error {
	l.mu.Lock()
	l.mounts = append([]string(nil), mounts...)
	l.mu.Unlock()
	return l.write()
}

func (l *Lock) write() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d\n", os.Getpid())
	for _, m := range l.mounts {
		fmt.Fprintf(&b, "mount %s\n", m)
	}
	if l.exitOnUnmount {
		b.WriteString("exit-on-umount yes\n")
	}
	// Overwritten in place, never emptied: a reader of a held lock always
	// finds the pid (a shorter text is padded with blank lines first).
	text := b.String()
	n := len(text)
	if pad := l.size - n; pad > 0 {
		text += strings.Repeat("\n", pad)
	}
	if _, err := l.f.WriteAt([]byte(text), 0); err != nil {
		return err
	}
	l.size = max(l.size, n)
	if err := l.f.Truncate(int64(n)); err != nil {
		return err
	}
	l.size = n
	return nil
}

// Release gives the lock up. After an upgrade the new kernel still holds
// it, through its copy of the open file, and its name stays.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	// The text stays: it is read only while the lock is held.
	err := l.f.Close() // closing drops the flock
	l.f = nil
	return err
}
