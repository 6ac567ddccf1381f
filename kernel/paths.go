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

// walk resolves a clean absolute path to its inode and returns it with
// the path it resolves to (no symbolic link on the way). Symbolic links in
// the middle of the path are always followed, the last one only if
// followLast. A relative link target resolves against the link's
// directory; an absolute one against the namespace root (never the
// host's root).
//
// Permission is checked here, on every path the walk reaches, the way a
// kernel checks it at each step of a lookup: a name the caller may not
// see (Level None) does not exist for it, whether it is spelled in p or
// reached through a link, so no link leads a caller anywhere it could not
// go by name. Each call then checks the access it needs on the path walk
// returns (need).
func (ns *Namespace) walk(ctx context.Context, p string, followLast bool) (Attr, string, error) {
	caller := CallerFrom(ctx)
	if caller.Level("/") == None {
		return Attr{}, "", E(NotExist, "no such file or directory")
	}
	comps := splitPath(p)
	cur := ns.rootAttr()
	curPath := "/"
	hops := 0
	for i := 0; i < len(comps); i++ {
		if !cur.IsDir() {
			return Attr{}, "", E(NotDir, "not a directory: "+curPath)
		}
		next := path.Join(curPath, comps[i])
		if caller.Level(next) == None {
			return Attr{}, "", E(NotExist, "no such file or directory")
		}
		a, err := ns.Lookup(ctx, cur.Ino, comps[i])
		if err != nil {
			return Attr{}, "", err
		}
		last := i == len(comps)-1
		if a.IsSymlink() && (!last || followLast) {
			if hops++; hops > maxSymlinks {
				return Attr{}, "", E(Loop, "too many levels of symbolic links")
			}
			target, err := ns.Readlink(ctx, a.Ino)
			if err != nil {
				return Attr{}, "", err
			}
			rest := strings.Join(comps[i+1:], "/")
			var to string
			if strings.HasPrefix(target, "/") {
				to = path.Join(target, rest)
			} else {
				to = path.Join(curPath, target, rest)
			}
			comps = splitPath(path.Clean("/" + to))
			cur, curPath, i = ns.rootAttr(), "/", -1
			continue
		}
		cur = a
		curPath = next
	}
	return cur, curPath, nil
}

// walkParent resolves the directory that holds the last component of p
// and returns it, the path of that entry as resolved (the directory's
// resolved path and the name) and the name. The caller needs want at the
// entry.
func (ns *Namespace) walkParent(ctx context.Context, p string, want Level) (Attr, string, string, error) {
	if p == "/" {
		return Attr{}, "", "", E(NotPermitted, "the namespace root is fixed")
	}
	dir, name := path.Split(p)
	d, dp, err := ns.walkDir(ctx, dir)
	if err != nil {
		return Attr{}, "", "", err
	}
	entry := path.Join(dp, name)
	if err := need(ctx, entry, want); err != nil {
		return Attr{}, "", "", err
	}
	return d, entry, name, nil
}

// walkDir resolves dir, which must be a directory, and returns it with
// its resolved path.
func (ns *Namespace) walkDir(ctx context.Context, dir string) (Attr, string, error) {
	d, dp, err := ns.walk(ctx, path.Clean(dir), true)
	if err != nil {
		return Attr{}, "", err
	}
	if !d.IsDir() {
		return Attr{}, "", E(NotDir, "not a directory: "+dir)
	}
	return d, dp, nil
}
