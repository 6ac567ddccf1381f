package kernel

import (
	"context"
	"os"
)

type ctxKey int

const (
	credKey ctxKey = iota
	originKey
)

// WithCred returns a context that carries who makes the calls made with it.
func WithCred(ctx context.Context, c Cred) context.Context {
	return context.WithValue(ctx, credKey, c)
}

// CredFrom returns the caller recorded in ctx, or the ids of this process.
func CredFrom(ctx context.Context) Cred {
	if c, ok := ctx.Value(credKey).(Cred); ok {
		return c
	}
	return Cred{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
}

// Origin names the front end that makes a call (for example the FUSE mount).
// It comes back on the changes that the call causes, so a front end can tell
// its own changes from everyone else's.
type Origin any

// WithOrigin returns a context whose calls are attributed to o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey, o)
}

// OriginFrom returns the origin recorded in ctx, or nil.
func OriginFrom(ctx context.Context) Origin {
	return ctx.Value(originKey)
}
