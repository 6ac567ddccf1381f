package mount

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CleanStale detaches a mount at dir whose server died ("transport endpoint
// is not connected"), as a killed fazt leaves behind. Anything else at dir is
// left alone. It asks statfs, which FUSE never answers from a cache (stat
// may be answered from cached attributes for a second).
//
// A mount whose server is alive but never answers (a predecessor stopped,
// or a connection some other process keeps open) would make that statfs
// wait forever: after staleWait it counts as dead, its connection is
// aborted (root: /sys/fs/fuse/connections/N/abort) and it is detached.
func CleanStale(dir string) error {
	done := make(chan error, 1)
	go func() {
		var st syscall.Statfs_t
		done <- syscall.Statfs(dir, &st)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(staleWait):
		if id := connection(dir); id != "" && os.Geteuid() == 0 {
			os.WriteFile("/sys/fs/fuse/connections/"+id+"/abort", []byte("1"), 0)
		}
		err = syscall.ENOTCONN // the statfs goroutine ends once the connection is gone
	}
	if !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
		return nil
	}
	if err := Detach(dir); err != nil {
		return fmt.Errorf("clean stale mount %s: %w", dir, err)
	}
	return nil
}

// staleWait is how long a mount point may take to answer statfs before
// its server counts as dead: far longer than any live fazt takes.
var staleWait = 10 * time.Second

// Detach unmounts dir lazily (MNT_DETACH): it vanishes from the tree now,
// and goes away for good when its last user leaves. Root calls umount2
// itself; other users go through fusermount3 or fusermount.
func Detach(dir string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(dir, syscall.MNT_DETACH)
	}
	for _, prog := range []string{"fusermount3", "fusermount"} {
		if path, err := exec.LookPath(prog); err == nil {
			out, err := exec.Command(path, "-u", "-z", dir).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s -u -z: %v: %s", prog, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("cannot unmount: not root, and no fusermount3 or fusermount installed")
}

// connection returns the FUSE connection id of the mount at dir (the minor
// device number in mountinfo), or "" if it cannot tell. It reads
// /proc/self/mountinfo rather than stat the mount, which the serving
// process must never touch.
func connection(dir string) string {
	var id string
	scanMountinfo(func(fields []string) bool {
		if unescapeMountinfo(fields[4]) == dir {
			if _, minor, ok := strings.Cut(fields[2], ":"); ok {
				id = minor
			}
		}
		return true
	})
	return id
}

// scanMountinfo calls fn with the fields of each line of
// /proc/self/mountinfo until fn returns false.
func scanMountinfo(fn func(fields []string) bool) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && !fn(fields) {
			break
		}
	}
	return sc.Err()
}

// IsMountPoint reports whether dir is a mount point, from
// /proc/self/mountinfo.
func IsMountPoint(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	found := false
	err = scanMountinfo(func(fields []string) bool {
		found = unescapeMountinfo(fields[4]) == abs
		return !found
	})
	return found, err
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
