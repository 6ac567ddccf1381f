// Package mount serves the kernel's namespace over FUSE, so that the whole
// of fazt is a directory tree that ordinary tools (ls, cat, echo, rsync,
// tar, editors) can drive.
//
// # Design
//
// The server is github.com/hanwen/go-fuse/v2's fs package. Every FUSE node
// is a thin node type that holds nothing but its inode number, which is the
// namespace's global inode number (Options.ExternalNodeID), and forwards
// each request to kernel.Namespace. There is no state here to get out of
// step with the tree.
//
// Each request runs with a context that carries the caller's uid and gid
// (new files take them) and this mount as its origin, and that is never
// cancelled: a Go program reading the mount gets SIGURG preemption signals,
// which FUSE delivers as interrupts, and a half-done commit must not be
// abandoned because of them.
//
// # Caches
//
// The kernel caches file data until told otherwise; entries, attributes,
// missing names and directory listings of file systems that announce every
// change (kernel.Announcer: /fs) for an hour, those of the control trees,
// whose files change with the clock, for one second (cache.go). Changes that come through this mount keep those
// caches right by themselves. Changes from anywhere else (the CLI, the APIs,
// the HTTP server, drivers) arrive as kernel.Change events; a goroutine
// turns them into FUSE invalidations, outside any FUSE handler and without
// holding locks, because an invalidation can wait on the kernel's inode
// locks. A front end that answers a change (the API, so the CLI) first
// commits the open batch and waits for the invalidations of every change
// so far (kernel.Namespace.Settle, at most 2 s): once `fazt deploy`
// returns, the mount shows the new tree. A kernel.Reloaded change (an
// edge applied the primary's transactions, which say nothing of what
// changed) invalidates every name and inode the bridge knows.
//
// # Settings
//
// Chosen from measurements on this machine kind (see docs/benchmarks.md and
// the FUSE pitfalls in the design notes): entry and attribute timeouts of
// an hour for /fs and 1 s elsewhere, directory listings of /fs kept
// (FOPEN_CACHE_DIR); extended attributes off unless asked for (with them on, ls -l costs
// two GETXATTR requests per file), and set-ID bits cleared here
// (HANDLE_KILLPRIV_V2, xattr.go), which spares a GETXATTR per write when
// they are on; 1 MiB writes and, as root, a 1 MiB readahead window
// (readahead.go); no writeback cache (it would hide write errors until
// fsync); atomic O_TRUNC (so truncate-and-rewrite is one commit); kernel
// permission checks (default_permissions). Synthetic files (kernel.DirectIO
// handles)
// are opened with direct I/O so their generated content is never stale.
//
// # Process rules
//
// The process that serves a mount must never touch it: no file access under
// it, no child started with its working directory there (go-fuse documents
// the deadlocks). Mount never does either. A mount left behind by a killed
// process ("transport endpoint is not connected") is detached by CleanStale
// before mounting again.
package mount
