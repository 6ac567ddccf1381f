package kernel

import "context"

// Level is how far a caller may go at a path of the namespace.
type Level int

const (
	None     Level = iota // the path does not exist for this caller
	Traverse              // a directory on the way to what it may read: stat it, look up and list what is on the way
	Read                  // read it and everything below
	Write                 // and change it
)

func (l Level) String() string {
	switch l {
	case Traverse:
		return "traverse"
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "none"
}

// Access tells a caller's level at a clean path that names no symbolic
// link on the way: the namespace asks it only about paths it has resolved.
type Access func(p string) Level

// Caller is who makes the calls of a context. The namespace decides what
// each call may do from it, at every step of every path it resolves (see
// walk): no front end checks paths itself.
type Caller struct {
	// Name says who it is, for logs and deploy records: "token:ci",
	// "site:blog"; "" is the machine's owner.
	Name string
	// Access is the caller's level at each path; nil is every right (the
	// owner: the local socket and the mount).
	Access Access
	// Remote callers come over the network: they cannot set the setuid
	// and setgid bits, nor make the kernel run a program of the host.
	Remote bool
}

// IsOwner says whether c has every right.
func (c Caller) IsOwner() bool { return c.Access == nil }

// Level is c's level at the resolved path p.
func (c Caller) Level(p string) Level {
	if c.Access == nil {
		return Write
	}
	return c.Access(p)
}

type callerKey struct{}

// WithCaller returns a context whose calls are made by c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of ctx's calls: the owner unless
// WithCaller said otherwise.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// LevelAt is the level of ctx's caller at the resolved path p.
func LevelAt(ctx context.Context, p string) Level {
	return CallerFrom(ctx).Level(p)
}

// Scope confines a caller to the tree at root: the union of its own level
// and root's (Write below root, Traverse on the way, nothing elsewhere)
// narrowed to the smaller of the two. The public site server reads a site
// as a caller scoped to it; deploys run confined to their site's trees.
func Scope(c Caller, roots map[string]Level) Caller {
	inner := c.Access
	return Caller{Name: c.Name, Remote: c.Remote, Access: func(p string) Level {
		l := None
		for root, lvl := range roots {
			switch {
			case under(p, root):
				l = max(l, lvl)
			case under(root, p):
				l = max(l, Traverse)
			}
		}
		if inner != nil {
			l = min(l, inner(p))
		}
		return l
	}}
}

// under says whether the clean path p is prefix or below it.
func under(p, prefix string) bool {
	return prefix == "/" || p == prefix || len(p) > len(prefix) && p[:len(prefix)] == prefix && p[len(prefix)] == '/'
}

// need fails unless ctx's caller has at least want at the resolved path
// p: a path it cannot see is missing, one it can see but not change (or
// read) is a permission error.
func need(ctx context.Context, p string, want Level) error {
	got := LevelAt(ctx, p)
	switch {
	case got >= want:
		return nil
	case got == None:
		return E(NotExist, "no such file or directory")
	}
	return E(Permission, "permission denied: "+want.String()+" access needed here")
}
