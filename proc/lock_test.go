package proc

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// probers are two goroutines reading dir's holder as fast as they can
// until the returned stop is called; reads counts the reads that found the
// lock held, nameless those that found no holder named in it.
func probers(dir string) (stop func(), reads, nameless *atomic.Int64) {
	reads, nameless = new(atomic.Int64), new(atomic.Int64)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); probe(dir, quit, reads, nameless) }()
	}
	return func() { close(quit); wg.Wait() }, reads, nameless
}

func probe(dir string, stop <-chan struct{}, reads, nameless *atomic.Int64) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if h, ok := ReadHolder(dir); ok {
			reads.Add(1)
			if h.PID == 0 {
				nameless.Add(1)
			}
		}
	}
}

// A held lock always names its holder, while the holder rewrites what it
// says (mounts come and go): a reader that found it empty took a running
// kernel for none (a test then started a second one, which failed).
func TestLockAlwaysNamesItsHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	stop, reads, nameless := probers(dir)
	all := []string{"/mnt/a", "/mnt/a-much-longer-mount-point"}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; (i < 2000 || reads.Load() < 2000) && time.Now().Before(deadline); i++ {
		if err := l.SetMounts(all[:i%3]); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if reads.Load() == 0 {
		t.Fatal("no read found the lock held")
	}
	if n := nameless.Load(); n > 0 {
		t.Fatalf("%d of %d reads found the lock held by nobody named", n, reads.Load())
	}
}

// Readers of the holder (they take the lock shared for an instant) do not
// make a kernel starting meanwhile fail as if another one ran.
func TestLockIsTakenBesideReaders(t *testing.T) {
	dir := t.TempDir()
	l, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	stop, _, _ := probers(dir)
	defer stop()
	for i := range 200 {
		l, err := LockDataDir(dir)
		if err != nil {
			t.Fatalf("take %d beside readers: %v", i, err)
		}
		l.Release()
	}
	// A kernel that holds it still makes the next one fail.
	held, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if _, err := LockDataDir(dir); err == nil {
		t.Fatal("a second lock of a held data directory")
	}
}
