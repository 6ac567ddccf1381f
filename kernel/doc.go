// Package kernel is the object everything in fazt calls through.
//
// fazt is a tree of files in one namespace, Plan 9 style. Each subsystem
// contributes a FileSystem (the site files in /fs, the history in /deploys,
// the synthetic control files of /net, /storage, /security, /driver and
// /proc, built by the subsystems themselves with package ctl) and the
// kernel binds them at names under one root (package proc does, at start). Every front end (the FUSE mount, the CLI, the local
// and remote APIs, the HTTP server) performs its work as operations on this
// tree, the "syscalls":
//
//	k.FS.ReadFile(ctx, "/fs/blog/index.html")
//	k.FS.WriteFile(ctx, "/fs/blog/index.html", data, 0o644)
//	k.FS.Rename(ctx, "/fs/blog/a", "/fs/blog/b")
//
// # Design
//
// The package is a leaf: it imports no other fazt package. It defines the
// small interfaces that the subsystems implement (FileSystem, with optional
// extensions such as Writer found by type assertion, and Handle), the
// Namespace that binds them, and the one error type shared by all of fazt.
// Concrete parts are wired once, at the top (package proc).
//
// A FileSystem is inode based, like the Linux VFS and FUSE: Lookup a name in
// a directory inode, Open an inode, Rename between two directory inodes.
// That shape lets the FUSE front end map requests one to one, while the
// Namespace offers path based calls on top for everyone else. Inode numbers
// are local to a FileSystem; the Namespace makes them global by putting the
// binding's device number in the top bits (see Namespace).
//
// # Who may do what
//
// Every call is made by the Caller of its context (WithCaller): the owner
// (every right) unless a front end says otherwise. The Namespace's walk
// asks the caller's Access at every path it reaches, after following each
// symbolic link: a name the caller may not see does not exist for it.
// Each call then needs its Level at the resolved paths it uses (Read to
// read, Write at both ends of a change). This is the one place where
// access is decided; front ends pass their caller and report the answer.
// Inode-based calls (the FUSE mount) are the owner's.
//
// # Errors
//
// Every error that leaves a subsystem is an *Error with a Kind. The Kind
// alone decides the errno a FUSE caller sees (Kind.Errno) and the HTTP status
// a remote caller sees (Kind.HTTPStatus); both tables live in this package
// and nowhere else. An error without a Kind is Internal: EIO and 500, logged
// by the front end, and never reported as "not found". Code never matches on
// error strings; use KindOf or errors.Is with the io/fs sentinels.
//
// # Changes
//
// A FileSystem reports each change it commits (an entry added or removed, a
// file's content or attributes changed) to the Namespace, which passes it on
// to subscribers with global inode numbers. The FUSE front end uses this to
// invalidate the kernel's caches for changes that did not come through FUSE.
package kernel
