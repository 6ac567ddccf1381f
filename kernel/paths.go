package kernel

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// maxSymlinks bounds symbolic link resolution in one path, like Linux.
const maxSymlinks = 40

// CleanPath checks that p is an absolute path into the namespace and returns
// it cleaned. ".." is resolved lexically, Plan 9 style, so a path can never
// climb above the root.
func CleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", E(Invalid, fmt.Sprintf("path %q is not absolute", p))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", E(Invalid, fmt.Sprintf("path %q contains NUL", p))
	}
	p = path.Clean(p)
	for _, c := range strings.Split(p, "/") {
		if len(c) > MaxName {
			return "", E(NameTooLong, fmt.Sprintf("file name too long (%d bytes; the limit is %d)", len(c), MaxName))
		}
	}
	return p, nil
}

// splitPath returns the components of a clean absolute path.
func splitPath(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// walk resolves a clean absolute path to its inode. Symbolic links in the
// middle of the path are always followed, the last one only if followLast.
// A relative link target resolves against the link's directory; an absolute
// one against the namespace root (never the host's root).
func (ns *Namespace) walk(ctx context.Context, p string, followLast bool) (Attr, error) {
	comps := splitPath(p)
	cur := ns.rootAttr()
	curPath := "/"
	hops := 0
	for i := 0; i < len(comps); i++ {
		if !cur.IsDir() {
			return Attr{}, E(NotDir, "not a directory: "+curPath)
		}
		a, err := ns.Lookup(ctx, cur.Ino, comps[i])
		if err != nil {
			return Attr{}, err
		}
		last := i == len(comps)-1
		if a.IsSymlink() && (!last || followLast) {
			if hops++; hops > maxSymlinks {
				return Attr{}, E(Loop, "too many levels of symbolic links")
			}
			target, err := ns.Readlink(ctx, a.Ino)
			if err != nil {
				return Attr{}, err
			}
			rest := strings.Join(comps[i+1:], "/")
			var next string
			if strings.HasPrefix(target, "/") {
				next = path.Join(target, rest)
			} else {
				next = path.Join(curPath, target, rest)
			}
			comps = splitPath(path.Clean("/" + next))
			cur, curPath, i = ns.rootAttr(), "/", -1
			continue
		}
		cur = a
		curPath = path.Join(curPath, comps[i])
	}
	return cur, nil
}

// walkParent resolves the directory that holds the last component of p and
// returns it with that component's name.
func (ns *Namespace) walkParent(ctx context.Context, p string) (Attr, string, error) {
	if p == "/" {
		return Attr{}, "", E(NotPermitted, "the namespace root is fixed")
	}
	dir, name := path.Split(p)
	d, err := ns.walk(ctx, path.Clean(dir), true)
	if err != nil {
		return Attr{}, "", err
	}
	if !d.IsDir() {
		return Attr{}, "", E(NotDir, "not a directory: "+dir)
	}
	return d, name, nil
}
