// Package api serves the tree over HTTP, and is the client for it: the
// CLI's path to a running kernel, over a Unix socket in the data directory
// (mode 0600), and later the same handler behind HTTPS for remote clients.
//
// # Protocol
//
// The URL path is the path in the tree; the method and the op parameter say
// what to do, one kernel call each:
//
//	GET    /p               read a file (streamed)
//	GET    /p?op=stat       attributes, JSON (lstat: links are not followed)
//	GET    /p?op=list       a directory's entries with their attributes, JSON
//	PUT    /p?mode=0644     write a file: create or truncate, then the body;
//	                        for control files each line is applied as it
//	                        arrives, as through the mount
//	DELETE /p[?recursive=1] remove a file or an empty directory (or a tree)
//	POST   /p?op=mkdir[&parents=1][&mode=0755]
//	POST   /p?op=rename&to=/q
//	POST   /p?op=files      a tar stream of small files below p, written in
//	                        one change (kernel.FS.WriteFiles): a deploy's
//	POST   /?op=link        JSON pairs: files sharing others' content
//	GET    /p?op=sums[&skip=NAME]  the tree's manifest with digests
//
// (and op=call, clone, exchange, symlink, whoami; see docs/architecture.md).
//
// Errors carry the kernel's error in JSON, {"kind": "not-exist", "op":
// "open", "path": "/fs/x", "error": "no such file or directory"}, with the
// HTTP status of its kind (kernel.Kind.HTTPStatus), so the client rebuilds
// the same *kernel.Error and the CLI prints the same message whether it ran
// the call itself or asked the kernel. Internal errors are logged and their
// text is sent only to local clients.
//
// # Who may do what
//
// Not this package's decision: each request's context carries its caller
// (kernel.WithCaller: the owner on the local socket, a token's scopes from
// package security remotely), and the kernel checks every path it
// resolves. The handlers only pass the caller on and report the kernel's
// answer; the one thing they ask themselves is kernel.FS.Access before a
// WebDAV LOCK (which opens nothing), see davlock.go.
//
// Why not WebDAV: its handler maps errors to bare statuses and drops the
// reason, which the CLI must print; WebDAV (for rclone and davfs2) joins as
// a second handler on the remote server.
package api
