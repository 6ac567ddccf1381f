package mount

import (
	"context"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/fazt-sh/fazt/kernel"
)

// Extended attributes, and the set-ID bits that writes clear.
//
// With extended attributes on, the host kernel asks for
// security.capability before every write (measured: 402 GETXATTR requests
// for 404 writes), unless the mount takes over clearing the set-user-ID and
// set-group-ID bits (FUSE's HANDLE_KILLPRIV_V2: 3 for 404). It does, in
// dropSetID.

var (
	_ fs.NodeGetxattrer    = (*node)(nil)
	_ fs.NodeSetxattrer    = (*node)(nil)
	_ fs.NodeListxattrer   = (*node)(nil)
	_ fs.NodeRemovexattrer = (*node)(nil)
)

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.ns().Getxattr(n.m.call(ctx), n.ino(), attr)
	if err != nil {
		return 0, n.m.errno("getxattr", n.ino(), err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE // len(dest) 0 asks for the size
	}
	return uint32(copy(dest, v)), 0
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.ns().Listxattr(n.m.call(ctx), n.ino())
	if err != nil {
		return 0, n.m.errno("listxattr", n.ino(), err)
	}
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(0)
	}
	if len(dest) < b.Len() {
		return uint32(b.Len()), syscall.ERANGE
	}
	return uint32(copy(dest, b.String())), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.m.errno("setxattr", n.ino(), n.ns().Setxattr(n.m.call(ctx), n.ino(), attr, data, flags))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.m.errno("removexattr", n.ino(), n.ns().Removexattr(n.m.call(ctx), n.ino(), attr))
}

// dropSetID clears set-ID bits of ino as Linux does (setattr_should_drop_
// suidgid): a write or a truncation by someone without CAP_FSETID (not
// root, here), and a chown by anyone, clear the set-user-ID bit, and the
// set-group-ID bit if the file is group-executable or the caller is
// neither in its group (by the primary group: FUSE says no more) nor
// root. chown says the call is a chown.
func (m *Mount) dropSetID(ctx context.Context, ino uint64, chown bool) error {
	caller := kernel.CredFrom(ctx)
	root := caller.UID == 0
	if root && !chown {
		return nil
	}
	a, err := m.k.NS.Getattr(ctx, ino)
	if err != nil || a.IsDir() {
		return err
	}
	mode := a.Mode & 0o7777
	drop := mode & syscall.S_ISUID
	if mode&syscall.S_ISGID != 0 && (mode&syscall.S_IXGRP != 0 || !root && caller.GID != a.GID) {
		drop |= syscall.S_ISGID
	}
	if drop == 0 {
		return nil
	}
	// Not as this mount's own change: the host kernel did not see it
	// made, so its cache of the mode is told.
	_, err = m.k.NS.Setattr(kernel.WithOrigin(ctx, nil), ino, kernel.SetAttr{Valid: kernel.SetMode, Mode: mode &^ drop})
	return err
}
