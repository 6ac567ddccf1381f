package posixtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Xattrs: user. attributes are set, read, listed, replaced and removed on
// files and directories, with XATTR_CREATE and XATTR_REPLACE, ERANGE for a
// small buffer and ENODATA for what is not there; they move the ctime.
func Xattrs(t *testing.T, dir string) {
	p := filepath.Join(dir, "f")
	write(t, p, "x")
	var st unix.Stat_t
	must(t, unix.Stat(p, &st))
	c0 := time.Unix(st.Ctim.Unix())
	time.Sleep(20 * time.Millisecond)
	must(t, unix.Setxattr(p, "user.one", []byte("1"), 0))
	must(t, unix.Setxattr(p, "user.two", []byte("second value"), unix.XATTR_CREATE))
	must(t, unix.Stat(p, &st))
	if c := time.Unix(st.Ctim.Unix()); !c.After(c0) {
		t.Fatalf("setxattr did not move the ctime: %v, was %v", c, c0)
	}
	wantErrno(t, unix.Setxattr(p, "user.two", []byte("x"), unix.XATTR_CREATE), syscall.EEXIST)
	wantErrno(t, unix.Setxattr(p, "user.three", []byte("x"), unix.XATTR_REPLACE), syscall.ENODATA)
	must(t, unix.Setxattr(p, "user.one", []byte("replaced"), unix.XATTR_REPLACE))
	buf := make([]byte, 64)
	n, err := unix.Getxattr(p, "user.one", buf)
	must(t, err)
	if string(buf[:n]) != "replaced" {
		t.Fatalf("user.one = %q", buf[:n])
	}
	if n, err := unix.Getxattr(p, "user.two", nil); err != nil || n != len("second value") {
		t.Fatalf("size of user.two: %d %v", n, err)
	}
	_, err = unix.Getxattr(p, "user.two", make([]byte, 3))
	wantErrno(t, err, syscall.ERANGE)
	_, err = unix.Getxattr(p, "user.none", buf)
	wantErrno(t, err, syscall.ENODATA)
	// Empty values are values.
	must(t, unix.Setxattr(p, "user.empty", nil, 0))
	if n, err := unix.Getxattr(p, "user.empty", buf); err != nil || n != 0 {
		t.Fatalf("user.empty: %d %v", n, err)
	}
	list := func(p string) []string {
		b := make([]byte, 1024)
		n, err := unix.Listxattr(p, b)
		must(t, err)
		var names []string
		for _, s := range strings.Split(string(b[:n]), "\x00") {
			if strings.HasPrefix(s, "user.") {
				names = append(names, s)
			}
		}
		sort.Strings(names)
		return names
	}
	if got := strings.Join(list(p), " "); got != "user.empty user.one user.two" {
		t.Fatalf("listxattr: %q", got)
	}
	must(t, unix.Removexattr(p, "user.one"))
	wantErrno(t, unix.Removexattr(p, "user.one"), syscall.ENODATA)
	// Kept across a rename and a hard link (the same inode); a directory
	// has its own.
	must(t, os.Rename(p, p+"2"))
	must(t, os.Link(p+"2", p+"3"))
	if got := strings.Join(list(p+"3"), " "); got != "user.empty user.two" {
		t.Fatalf("after rename and link: %q", got)
	}
	d := filepath.Join(dir, "d")
	must(t, os.Mkdir(d, 0o755))
	must(t, unix.Setxattr(d, "user.dir", []byte("yes"), 0))
	if got := strings.Join(list(d), " "); got != "user.dir" {
		t.Fatalf("directory: %q", got)
	}
	// A symbolic link has none of its own (Linux refuses user. ones).
	must(t, os.Symlink("f2", filepath.Join(dir, "l")))
	wantErrno(t, unix.Lsetxattr(filepath.Join(dir, "l"), "user.x", []byte("1"), 0), syscall.EPERM)
}

// RenameCtime: a rename moves the ctime of the moved entry and the mtime
// and ctime of both directories.
func RenameCtime(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	must(t, os.Mkdir(a, 0o755))
	must(t, os.Mkdir(b, 0o755))
	write(t, filepath.Join(a, "f"), "x")
	times := func(p string) (m, c time.Time) {
		var st unix.Stat_t
		must(t, unix.Lstat(p, &st))
		return time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix())
	}
	_, fc := times(filepath.Join(a, "f"))
	am, ac := times(a)
	bm, bc := times(b)
	time.Sleep(20 * time.Millisecond)
	must(t, os.Rename(filepath.Join(a, "f"), filepath.Join(b, "g")))
	if _, c := times(filepath.Join(b, "g")); !c.After(fc) {
		t.Fatalf("the moved file's ctime: %v, was %v", c, fc)
	}
	for _, d := range []struct {
		p      string
		m0, c0 time.Time
	}{{a, am, ac}, {b, bm, bc}} {
		if m, c := times(d.p); !m.After(d.m0) || !c.After(d.c0) {
			t.Fatalf("%s: mtime %v ctime %v, were %v %v", d.p, m, c, d.m0, d.c0)
		}
	}
}

// SetIDCleared: a write or a truncation by another user clears the
// set-user-ID bit, and the set-group-ID bit when the file is
// group-executable or the writer is not in its group; a chown clears them
// too; root's writes keep them. It needs root and setpriv.
func SetIDCleared(t *testing.T, dir string) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// The other user must reach dir: the directories above it get the
	// search bit (as e2e TestPermissions does; a suite's TMPDIR is 0700).
	must(t, os.Chmod(dir, 0o777))
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o011 != 0o011 {
			os.Chmod(p, fi.Mode().Perm()|0o011)
		}
	}
	mode := func(p string) uint32 {
		var st unix.Stat_t
		must(t, unix.Stat(p, &st))
		return st.Mode & 0o7777
	}
	as := func(script string) {
		t.Helper()
		out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v %s", script, err, out)
		}
	}
	for i, c := range []struct {
		what   string
		before uint32
		do     func(p string)
		after  uint32
	}{
		{"a write by another user", 0o6777, func(p string) { as("echo x >> " + p) }, 0o777},
		{"a truncation by another user", 0o4777, func(p string) { as("truncate -s 1 " + p) }, 0o777},
		// Without group execute: kept for a writer in the file's group,
		// cleared for others.
		{"a write by another user, set-group-ID without group execute", 0o2767, func(p string) { as("echo x >> " + p) }, 0o767},
		{"a write by a member of the group, set-group-ID without group execute", 0o2767, func(p string) {
			must(t, os.Chown(p, 0, 65534))
			must(t, os.Chmod(p, 0o767|os.ModeSetgid))
			as("echo x >> " + p)
		}, 0o2767},
		{"a chown", 0o6755, func(p string) { must(t, os.Chown(p, 65534, 65534)) }, 0o755},
		{"a write by root", 0o6777, func(p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			f.WriteString("x")
			must(t, f.Close())
		}, 0o6777},
	} {
		p := filepath.Join(dir, "f"+itoa(i))
		write(t, p, "x")
		must(t, os.Chmod(p, os.FileMode(c.before&0o777)|setIDMode(c.before)))
		if m := mode(p); m != c.before {
			t.Fatalf("%s: mode %o after chmod, want %o", c.what, m, c.before)
		}
		c.do(p)
		if m := mode(p); m != c.after {
			t.Fatalf("%s: mode %o, want %o", c.what, m, c.after)
		}
	}
}

func setIDMode(m uint32) os.FileMode {
	var fm os.FileMode
	if m&syscall.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	return fm
}
